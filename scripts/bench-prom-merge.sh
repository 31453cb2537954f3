#!/usr/bin/env bash
# Benchmark: planet merge --prometheus against planet merge DIR on the same
# synthetic fleet (internal/fleetgen), with wall time and peak RSS of each.
# Usage: scripts/bench-prom-merge.sh [HOSTS]   (default 10000; takes minutes)
# PLANET_BENCH_TIMEOUT sets --prometheus-timeout (default 5m: on a cold TSDB a
# count over a million series takes longer than the 30s default).
# PLANET_BENCH_RUNS (default 1) repeats the merges, alternating, on the same
# fleet and server. Each round runs the file merge, then --prometheus with
# one query in flight (--prometheus-parallel 1, as before issue 21's
# parallel queries), then with the default.
# PLANET_BENCH_BASE names another planet binary (say, one built from main)
# whose --prometheus merge runs in the same rounds, after this tree's, as
# "base": a before/after on one fleet and server; its graph is compared too.
# Needs prometheus and promtool (apt-get install prometheus) and GNU time.
#
# The fleet's textfiles are loaded the fast honest way: rendered as the
# series Prometheus would hold after scraping each host (instance and job
# labels, one sample each), backfilled with promtool tsdb
# create-blocks-from openmetrics, and served by a real Prometheus on a
# loopback port. The two graphs are compared on the fields both carry.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-10000}
out=$(mktemp -d)
prom=
cleanup() {
  if [ -n "$prom" ]; then kill "$prom" 2>/dev/null || true; wait "$prom" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

go build -o "$out/planet" ./cmd/planet
go build -o "$out/fleetgen" ./internal/cmd/fleetgen
go build -o "$out/fleetmetrics" ./promsrc/internal/fleetmetrics
at=$(( $(date +%s) - 600 ))

echo "== $hosts hosts: generating snapshots and series"
"$out/fleetgen" gen -n "$hosts" -dir "$out/fleet" >/dev/null 2>&1
"$out/fleetmetrics" -n "$hosts" -at "$at" -o "$out/fleet.om"
echo "series: $(grep -vc '^#' "$out/fleet.om"), OpenMetrics $(du -h "$out/fleet.om" | cut -f1)"
t0=$(date +%s)
promtool tsdb create-blocks-from openmetrics "$out/fleet.om" "$out/tsdb" >/dev/null
echo "backfill: $(( $(date +%s) - t0 ))s, TSDB $(du -sh "$out/tsdb" | cut -f1)"
rm "$out/fleet.om"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' > "$out/prometheus.yml"
prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/tsdb" \
  --storage.tsdb.retention.time=10y --web.listen-address="127.0.0.1:$port" \
  >"$out/prometheus.log" 2>&1 &
prom=$!
until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do
  kill -0 "$prom" || { cat "$out/prometheus.log"; exit 1; }
  sleep 0.5
done

# Prometheus' CPU seconds so far (user + system, from /proc).
promcpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$prom/stat"; }
measure() { # name, command...
  local name=$1; shift
  local before; before=$(promcpu)
  /usr/bin/time -f '%e %U %S %M' -o "$out/time" "$@" 2>"$out/$name.log" || { cat "$out/$name.log"; exit 1; }
  read -r secs user sys kib < "$out/time"
  printf '%-44s %8.2f s wall %8.2f s CPU %10d KiB peak RSS; Prometheus %6.2f s CPU\n' "$name" "$secs" \
    "$(echo "$user + $sys" | bc)" "$kib" "$(echo "$(promcpu) - $before" | bc)"
}
prommerge() { # name, output, extra flags...
  local name=$1 graph=$2; shift 2
  measure "$name" "${bin:-$out/planet}" merge --prometheus "http://127.0.0.1:$port" \
    --selector '{job="node"}' --time "$((at + 60))" --lookback 1h \
    --prometheus-timeout "${PLANET_BENCH_TIMEOUT:-5m}" "$@" -o "$out/$graph"
  grep -o 'hosts from [0-9]* queries' "$out/$name.log" || true
}
for round in $(seq "${PLANET_BENCH_RUNS:-1}"); do
  echo "== merge, round $round (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  measure "planet merge DIR" "$out/planet" merge "$out/fleet" -o "$out/files.json"
  prommerge "planet merge --prometheus (1 in flight)" prom1.json --prometheus-parallel 1
  prommerge "planet merge --prometheus" prom.json
  if [ -n "${PLANET_BENCH_BASE:-}" ]; then
    bin=$PLANET_BENCH_BASE prommerge "base merge --prometheus" base.json
  fi
done
echo "Prometheus peak RSS after the merges: $(grep VmHWM /proc/$prom/status | awk '{print $2, $3}')"

python3 - "$out/files.json" "$out/prom1.json" "$out/prom.json" ${PLANET_BENCH_BASE:+"$out/base.json"} <<'PY'
import json, sys
a, *bs = (json.load(open(p)) for p in sys.argv[1:])
for g in (a, *bs):
    for e in g["edges"]:
        e.pop("port_bytes_to_server", None); e.pop("port_bytes_to_client", None)
same = all(a == b for b in bs)
print(f"graphs: {len(a['nodes'])} nodes, {len(a['edges'])} edges from files; "
      + "; ".join(f"{len(b['nodes'])} nodes, {len(b['edges'])} edges" for b in bs) + " from Prometheus; "
      + ("equal on the fields both carry" if same else "DIFFERENT"))
sys.exit(0 if same else 1)
PY
