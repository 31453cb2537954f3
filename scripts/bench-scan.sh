#!/usr/bin/env bash
# Benchmark: planet scan against ss -tanp on the same N loopback connections.
# Usage: scripts/bench-scan.sh [N...]   (default: 1000 10000). Needs hyperfine
# (apt-get install hyperfine) and GNU time (/usr/bin/time) for peak RSS.
# Run as root so both tools see every socket's owner.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'kill $holder 2>/dev/null || true; rm -rf "$out"' EXIT
go build -o "$out/planet" ./cmd/planet
go build -o "$out/holdconns" ./internal/cmd/holdconns
holder=
for n in "${@:-1000 10000}"; do
  for n1 in $n; do
    "$out/holdconns" -n "$n1" > "$out/ready" &
    holder=$!
    until grep -q ready "$out/ready" 2>/dev/null; do sleep 0.1; done
    echo "== $n1 connections ($(ss -tan | wc -l) TCP sockets on the host)"
    hyperfine --warmup 3 --min-runs 20 -N \
      "$out/planet scan -o /dev/null" \
      "$out/planet scan --socket-source proc -o /dev/null" \
      "ss -tanp" \
      --export-markdown "$out/bench-$n1.md" >/dev/null
    cat "$out/bench-$n1.md"
    for cmd in "$out/planet scan -o /dev/null" "$out/planet scan --socket-source proc -o /dev/null" "ss -tanp"; do
      rss=$(/usr/bin/time -f %M $cmd 2>&1 >/dev/null | tail -1)
      echo "peak RSS ${rss} KiB: ${cmd#$out/}"
    done
    kill $holder; wait $holder 2>/dev/null || true
  done
done
