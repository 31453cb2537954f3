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
# Needs prometheus and promtool (apt-get install prometheus), python3 and
# GNU time.
#
# PLANET_BENCH_LOAD says how the fleet's series get into Prometheus:
#   backfill (the default): rendered as the series Prometheus would hold
#     after scraping each host (instance and job labels, one sample each,
#     10 minutes old), backfilled with promtool tsdb
#     create-blocks-from openmetrics: every query reads persisted blocks.
#   scrape: the same series served as scrape targets' bodies (exposition
#     format, a target per 250 hosts, from a python3 HTTP server on
#     loopback) and scraped (honor_labels keeps the bodies' instance and
#     job labels): the series sit in Prometheus' in-memory head block, as
#     on a real Prometheus scraping every host's node_exporter. Each
#     target's body is served PLANET_BENCH_SCRAPES times (default 1, 15s
#     apart), the samples' timestamp set to the time of the request, so
#     each series holds that many samples; then the server answers empty
#     bodies and (the samples carrying their timestamp) Prometheus writes
#     no staleness markers.
# Prometheus is on a loopback port either way. The graphs are compared on
# the fields both carry.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-10000}
out=$(mktemp -d)
prom=
serve=
cleanup() {
  if [ -n "$prom" ]; then kill "$prom" 2>/dev/null || true; wait "$prom" 2>/dev/null || true; fi
  if [ -n "$serve" ]; then kill "$serve" 2>/dev/null || true; wait "$serve" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

go build -o "$out/planet" ./cmd/planet
go build -o "$out/fleetgen" ./internal/cmd/fleetgen
go build -o "$out/fleetmetrics" ./promsrc/internal/fleetmetrics
load=${PLANET_BENCH_LOAD:-backfill}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_prometheus() {
  prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/tsdb" \
    --storage.tsdb.retention.time=10y --web.listen-address="127.0.0.1:$port" \
    >"$out/prometheus.log" 2>&1 &
  prom=$!
  until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do
    kill -0 "$prom" || { cat "$out/prometheus.log"; exit 1; }
    sleep 0.5
  done
}
# promql EXPR: the first value of an instant query's answer, or nothing.
promql() {
  curl -sf "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}

echo "== $hosts hosts: generating snapshots and series ($load)"
"$out/fleetgen" gen -n "$hosts" -dir "$out/fleet" >/dev/null 2>&1
case $load in
backfill)
  at=$(( $(date +%s) - 600 ))
  "$out/fleetmetrics" -n "$hosts" -at "$at" -o "$out/fleet.om"
  echo "series: $(grep -vc '^#' "$out/fleet.om"), OpenMetrics $(du -h "$out/fleet.om" | cut -f1)"
  t0=$(date +%s)
  promtool tsdb create-blocks-from openmetrics "$out/fleet.om" "$out/tsdb" >/dev/null
  echo "backfill: $(( $(date +%s) - t0 ))s, TSDB $(du -sh "$out/tsdb" | cut -f1)"
  rm "$out/fleet.om"
  printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' > "$out/prometheus.yml"
  start_prometheus
  qtime=$((at + 60))
  ;;
scrape)
  at=$(date +%s)
  parts=$(( (hosts + 249) / 250 ))
  mkdir "$out/bodies"
  "$out/fleetmetrics" -n "$hosts" -at "$at" -format text -parts "$parts" -o "$out/bodies/fleet.prom"
  series=$(cat "$out"/bodies/fleet.prom.* | grep -vc '^#')
  echo "series: $series in $parts targets, $(du -sh "$out/bodies" | cut -f1) of exposition text"
  scrapes=${PLANET_BENCH_SCRAPES:-1}
  # Each target's body the first $scrapes times it is asked, its samples'
  # timestamp replaced by the time of the request, then an empty body.
  cat > "$out/serve.py" <<'SERVE'
import http.server, os, sys, threading, time
port, bodies, at, scrapes = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
stamp = (" " + at + "\n").encode()
served, lock = {}, threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        part = self.path.strip("/")
        path = os.path.join(bodies, "fleet.prom." + part)
        if not part.isdigit() or not os.path.exists(path):
            self.send_error(404)
            return
        with lock:
            n = served.get(part, 0)
            served[part] = n + 1
        body = b""
        if n < scrapes:
            with open(path, "rb") as f:
                body = f.read().replace(stamp, b" %d\n" % int(time.time() * 1000))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
SERVE
  bport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 "$out/serve.py" "$bport" "$out/bodies" "$((at * 1000))" "$scrapes" &
  serve=$!
  {
    printf 'global:\n  scrape_interval: 15s\n  scrape_timeout: 15s\n'
    printf 'scrape_configs:\n  - job_name: fleet\n    honor_labels: true\n    static_configs:\n'
    for p in $(seq 0 $((parts - 1))); do
      printf '      - targets: ["127.0.0.1:%s"]\n        labels: {__metrics_path__: "/%s"}\n' "$bport" "$p"
    done
    # Each target's own series (up, scrape_*) apart: the instance is the part.
    printf '    relabel_configs:\n      - source_labels: [__metrics_path__]\n        regex: "/(.*)"\n        target_label: instance\n        replacement: "part-$1"\n'
  } > "$out/prometheus.yml"
  t0=$(date +%s)
  start_prometheus
  until [ "$(promql 'sum(sum_over_time(scrape_samples_scraped{job="fleet"}[1h]))')" = "$((series * scrapes))" ]; do
    kill -0 "$prom" || { cat "$out/prometheus.log"; exit 1; }
    # A failed scrape took one of a target's bodies: the load cannot finish.
    if [ -n "$(promql 'count(min_over_time(up{job="fleet"}[1h]) == 0)')" ]; then
      echo "a scrape failed:" >&2
      curl -sf "http://127.0.0.1:$port/api/v1/targets" | python3 -c 'import json,sys; [print(t["scrapeUrl"], t["lastError"], file=sys.stderr) for t in json.load(sys.stdin)["data"]["activeTargets"] if t["lastError"]]'
      exit 1
    fi
    sleep 2
  done
  # An empty body each since: no new samples, and (the samples carrying
  # their timestamp) no staleness markers.
  echo "scrape: $scrapes of each target in $(( $(date +%s) - t0 ))s; head series $(curl -sf "http://127.0.0.1:$port/api/v1/status/tsdb" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["headStats"]["numSeries"])'), of {job=\"node\"} $(promql 'count({job="node"})');" \
    "Prometheus $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$prom/stat") s CPU, RSS $(grep VmRSS /proc/$prom/status | awk '{print $2, $3}'); $(free -m | awk '/Mem:/ {print $7 " MiB available"}')"
  qtime=$(( $(date +%s) + 1 ))
  ;;
*)
  echo "PLANET_BENCH_LOAD=$load: want backfill or scrape" >&2
  exit 2
  ;;
esac

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
    --selector '{job="node"}' --time "$qtime" --lookback 1h \
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
