#!/usr/bin/env bash
# Benchmark: planet merge against reading (cat) and plainly decoding
# (fleetgen decode: encoding/json, nothing kept) the same generated fleet,
# with hyperfine, then peak RSS (GNU time) of each planet run.
# Usage: scripts/bench-merge.sh [HOSTS...]   (default 2000 10000)
# Needs hyperfine and GNU time (/usr/bin/time); ~70 KB of disk per host in
# $TMPDIR. The figures are in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 2000 10000
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/planet" ./cmd/planet
go build -o "$out/fleetgen" ./internal/cmd/fleetgen
for n in "$@"; do
  fleet=$out/fleet$n
  "$out/fleetgen" gen -n "$n" -dir "$fleet" >/dev/null 2>&1
  echo "## $n hosts, $(du -sb "$fleet" | cut -f1) bytes"
  hyperfine --warmup 1 --runs "${RUNS:-3}" --style basic \
    -n cat "find $fleet -name '*.json' -exec cat {} + >/dev/null" \
    -n decode "$out/fleetgen decode $fleet" \
    -n merge "$out/planet merge $fleet -o /dev/null" \
    -n 'merge --by host' "$out/planet merge --by host $fleet -o $out/byhost.json"
  for args in "merge $fleet -o /dev/null" "merge --by host $fleet -o $out/byhost.json" \
      "render -f table $out/byhost.json -o /dev/null"; do
    # shellcheck disable=SC2086 # args is split on purpose
    /usr/bin/time -f "%M KiB peak RSS, %e s, %U s user: planet $args" "$out/planet" $args >/dev/null 2>"$out/err" || tail -1 "$out/err"
    tail -1 "$out/err"
  done
done
