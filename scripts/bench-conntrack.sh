#!/usr/bin/env bash
# Benchmark: a whole `planet scan` of a host whose connection-tracking table
# holds N entries (default 1,000,000). Needs hyperfine and GNU time.
#
#   scripts/bench-conntrack.sh [N]       the fixture /proc tree (testdata/proc)
#       with a synthetic net/nf_conntrack (ctsynth.Write: published-port,
#       masquerade, closed, sendto and forwarded flows), against the same
#       scan with an empty table.
#   scripts/bench-conntrack.sh real [N]  (root) a real table: N entries of
#       the same mix loaded into a throwaway network namespace's table
#       (synthconntrack -load, ctnetlink), nf_conntrack_max raised for them
#       and restored on exit; planet scan there as root (ctnetlink dump),
#       planet scan with the shipped unit's capabilities (the /proc file),
#       and `conntrack -L` listing the same table, side by side, each with
#       one run's peak RSS and CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=synthetic
if [[ ${1:-} == real ]]; then
  mode=real
  shift
fi
n=${1:-1000000}
out=$(mktemp -d)
cleanup() { rm -rf "$out"; }
trap cleanup EXIT
go build -o "$out/planet" ./cmd/planet
go build -o "$out/synth" ./internal/cmd/synthconntrack
: > "$out/empty.yaml"
chmod 755 "$out"

peak() { # one run: peak RSS in KiB and CPU seconds (user+system), output thrown away
  /usr/bin/time -f "%M %U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "peak RSS %d KiB, CPU %.2f s", $1, $2 + $3}'
}

if [[ $mode == synthetic ]]; then
  cp -a testdata/proc "$out/full"
  cp -a testdata/proc "$out/empty"
  "$out/synth" -n "$n" > "$out/full/net/nf_conntrack"
  : > "$out/empty/net/nf_conntrack"
  echo "== $n entries ($(du -m "$out/full/net/nf_conntrack" | cut -f1) MiB of table text)"
  scan() { echo "$out/planet scan --config $out/empty.yaml --proc-root $out/$1 -o /dev/null"; }
  hyperfine --warmup 1 --min-runs 5 -N "$(scan full)" "$(scan empty)" --export-markdown "$out/bench.md" >/dev/null
  sed "s|$out/||g" "$out/bench.md"
  for root in full empty; do
    echo "$(peak $(scan $root)): $root table"
  done
  exit 0
fi

[[ $(id -u) == 0 ]] || { echo "real: needs root" >&2; exit 1; }
command -v conntrack >/dev/null || { echo "real: needs conntrack (apt-get install conntrack)" >&2; exit 1; }
ns=planet-bench-ct-$$
sys=/proc/sys/net/netfilter
old_max=$(cat $sys/nf_conntrack_max)
old_buckets=$(cat $sys/nf_conntrack_buckets)
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  echo "$old_buckets" > $sys/nf_conntrack_buckets
  echo "$old_max" > $sys/nf_conntrack_max
  rm -rf "$out"
}
trap cleanup EXIT
want=$((n + n / 10))
if ((old_max < want)); then
  ((old_buckets >= want / 4)) || echo $((want / 4)) > $sys/nf_conntrack_buckets
  echo "$want" > $sys/nf_conntrack_max
fi
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
# The host of ctsynth's mix: 10.1.0.5 (flows of other addresses are
# foreign to it, and cost next to nothing).
ip -n "$ns" link add eth0 type veth peer name eth1
ip -n "$ns" addr add 10.1.0.5/16 dev eth0
ip -n "$ns" link set eth0 up
ip -n "$ns" link set eth1 up
ip netns exec "$ns" "$out/synth" -load -n "$n"
echo "== $n entries in $ns's table (nf_conntrack_max $(cat $sys/nf_conntrack_max), was $old_max)"
echo "planet's conntrack summary: $(ip netns exec "$ns" "$out/planet" scan --config "$out/empty.yaml" --netns own -o - | tr -d ' \n' | grep -o '"conntrack":{[^}]*}')"
scan="$out/planet scan --config $out/empty.yaml --netns own -o /dev/null"
caps=+dac_read_search,+sys_ptrace
unit="setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=$caps --ambient-caps=$caps $scan"
list="conntrack -L"
hyperfine --warmup 1 --min-runs 5 -N \
  -n "planet scan (root: ctnetlink)" "ip netns exec $ns $scan" \
  -n "planet scan (unit's capabilities: /proc file)" "ip netns exec $ns $unit" \
  -n "conntrack -L" "ip netns exec $ns $list" \
  --export-markdown "$out/bench.md" >/dev/null
sed "s|$out/||g" "$out/bench.md"
echo "$(peak ip netns exec "$ns" $scan): planet scan (root: ctnetlink)"
echo "$(peak ip netns exec "$ns" $unit): planet scan (unit's capabilities: /proc file)"
echo "$(peak ip netns exec "$ns" $list): conntrack -L"
