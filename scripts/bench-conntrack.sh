#!/usr/bin/env bash
# Benchmark: a whole `planet scan` of a host whose connection-tracking table
# holds N entries (default 1,000,000), against the same scan with an empty
# table. The host is the fixture /proc tree (testdata/proc) with a synthetic
# net/nf_conntrack (internal/cmd/synthconntrack: published-port, masquerade,
# closed, sendto and forwarded flows). Needs hyperfine and GNU time.
# Usage: scripts/bench-conntrack.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/planet" ./cmd/planet
go build -o "$out/synth" ./internal/cmd/synthconntrack
cp -a testdata/proc "$out/full"
cp -a testdata/proc "$out/empty"
"$out/synth" -n "$n" > "$out/full/net/nf_conntrack"
: > "$out/empty/net/nf_conntrack"
echo "== $n entries ($(du -m "$out/full/net/nf_conntrack" | cut -f1) MiB of table text)"
: > "$out/empty.yaml"
scan() { echo "$out/planet scan --config $out/empty.yaml --proc-root $out/$1 -o /dev/null"; }
hyperfine --warmup 1 --min-runs 5 -N "$(scan full)" "$(scan empty)" --export-markdown "$out/bench.md" >/dev/null
sed "s|$out/||g" "$out/bench.md"
for root in full empty; do
  rss=$(/usr/bin/time -f %M $(scan $root) 2>&1 >/dev/null | tail -1)
  echo "peak RSS ${rss} KiB: $root table"
done
