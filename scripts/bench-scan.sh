#!/usr/bin/env bash
# Benchmark: planet scan against ss -tanp on the same N loopback connections.
# Usage: scripts/bench-scan.sh [N...]   (default: 1000 10000). Needs hyperfine
# (apt-get install hyperfine), jq, and GNU time (/usr/bin/time) for peak RSS.
# Run as root so both tools see every socket's owner. BASE=<git revision>
# also builds planet at that revision (git archive) and times it in the same
# hyperfine run, interleaved with the others: BASE=main ./scripts/bench-scan.sh 10000.
# RUNS (default 40) is the number of timed runs of each command.
#
#        scripts/bench-scan.sh namespaces [NS [CONNS]]   (default: 500 50)
# A host with NS network namespaces (containers) of CONNS loopback
# connections each (2*CONNS+1 TCP sockets: 500 x 101 = 50,500): one planet
# scan (every namespace) against ss -tanp run in each namespace (nsenter),
# as one would without planet. Needs nsenter (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'kill $holder 2>/dev/null || true; rm -rf "$out"' EXIT
go build -o "$out/planet" ./cmd/planet
go build -o "$out/holdconns" ./internal/cmd/holdconns
base=()
if [ -n "${BASE:-}" ]; then
  mkdir "$out/base-src"
  git archive "$BASE" | tar -x -C "$out/base-src"
  (cd "$out/base-src" && go build -o "$out/planet-base" ./cmd/planet)
  base=("$out/planet-base scan -o /dev/null")
  echo "planet-base: $BASE ($(git rev-parse --short "$BASE")); planet: this tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo ', modified'))"
fi
holder=
if [ "${1:-}" = namespaces ]; then
  ns=${2:-500} conns=${3:-50}
  go build -o "$out/holdnetns" ./internal/cmd/holdnetns
  "$out/holdnetns" -ns "$ns" -conns "$conns" > "$out/pids" &
  holder=$!
  until grep -q ready "$out/pids" 2>/dev/null; do sleep 0.2; done
  grep -v ready "$out/pids" > "$out/nspids"
  cat > "$out/ss-each" <<EOS
#!/bin/sh
ss -tanp
for p in \$(cat $out/nspids); do nsenter -t "\$p" -n ss -tanp; done
EOS
  chmod +x "$out/ss-each"
  echo "== $ns namespaces x $((2*conns+1)) sockets; $(ls -d /proc/[0-9]*/ns/net | xargs -n 500 readlink 2>/dev/null | sort -u | wc -l) namespaces, $(ss -tanH | wc -l) TCP sockets in the host's own"
  hyperfine --warmup 1 --runs 5 -N \
    "$out/planet scan -o /dev/null" \
    "$out/planet scan --socket-source proc -o /dev/null" \
    "$out/ss-each" \
    --export-markdown "$out/bench-ns.md" >/dev/null
  cat "$out/bench-ns.md"
  for cmd in "$out/planet scan -o /dev/null" "$out/ss-each"; do
    rss=$(/usr/bin/time -f %M $cmd 2>&1 >/dev/null | tail -1)
    echo "peak RSS ${rss} KiB: ${cmd#$out/}"
  done
  exit 0
fi
for n in "${@:-1000 10000}"; do
  for n1 in $n; do
    "$out/holdconns" -n "$n1" > "$out/ready" &
    holder=$!
    until grep -q ready "$out/ready" 2>/dev/null; do sleep 0.1; done
    echo "== $n1 connections ($(ss -tan | wc -l) TCP sockets on the host)"
    hyperfine --warmup 3 --runs "${RUNS:-40}" -N \
      "${base[@]}" \
      "$out/planet scan -o /dev/null" \
      "$out/planet scan --socket-source proc -o /dev/null" \
      "ss -tanp" \
      --export-markdown "$out/bench-$n1.md" --export-json "$out/bench-$n1.json" >/dev/null
    cat "$out/bench-$n1.md"
    echo "$(ss -tan | wc -l) TCP sockets on the host after the runs"
    # planet / ss of the means (and of the medians) in this one run, and
    # of the CPU time (user + system, less moved by other jobs' load).
    jq -r '.results as $r | ($r[] | select(.command == "ss -tanp")) as $ss
      | ($ss.user + $ss.system) as $sscpu
      | $r[] | select(.command != "ss -tanp")
      | "\(.command | sub("^[^ ]*/"; "")): \(.mean / $ss.mean * 100 | round / 100)x ss -tanp (mean), \(.median / $ss.median * 100 | round / 100)x (median), CPU \((.user + .system) * 1000 | round) ms against \($sscpu * 1000 | round) ms (\((.user + .system) / $sscpu * 100 | round / 100)x)"' \
      "$out/bench-$n1.json"
    for cmd in "${base[@]}" "$out/planet scan -o /dev/null" "$out/planet scan --socket-source proc -o /dev/null" "ss -tanp"; do
      rss=$(/usr/bin/time -f %M $cmd 2>&1 >/dev/null | tail -1)
      echo "peak RSS ${rss} KiB: ${cmd#$out/}"
    done
    kill $holder; wait $holder 2>/dev/null || true
  done
done
