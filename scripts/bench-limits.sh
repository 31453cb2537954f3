#!/usr/bin/env bash
# Benchmark: wall time and peak RSS (GNU time -v) of planet merge, render and
# diff on the largest inputs planet accepts and on inputs over its limits,
# which must be refused without taking memory (docs/merge.md, "Limits").
# Usage: [BEFORE=OTHER-PLANET] scripts/bench-limits.sh [HOSTS]   (default
# 10000; takes minutes and ~3 GB of disk in $TMPDIR). Needs python3 and GNU
# time (/usr/bin/time).
#
# Prints one Markdown table row per run: what ran, wall time, peak RSS, and
# "ok" or the exit status with the end of the error; with BEFORE (another
# planet binary, say one built from an earlier commit) the same run with it
# follows in the same row, side by side. The targets: peak RSS
# under 512 MiB for render and diff of any graph the limits accept (the
# by-host fleet's 2.2 million edges, shared case D3's 2 million), under 1
# GiB and 60 s for merge --by host of the 10,000-host fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-10000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/planet" ./cmd/planet
go build -o "$out/fleetgen" ./internal/cmd/fleetgen
P=$out/planet

measure() { # PLANET COMMAND... (a "@P" argument is PLANET)
  local p=$1 rc=0 rss wall status args=()
  shift
  for a in "$@"; do
    if [ "$a" = @P ]; then args+=("$p"); else args+=("$a"); fi
  done
  /usr/bin/time -v -o "$out/time" "${args[@]}" >/dev/null 2>"$out/err" || rc=$?
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%d", $2/1024}' "$out/time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/time")
  status=ok
  [ "$rc" = 0 ] || status="exit $rc: $(grep -v '^time=' "$out/err" | tail -1 | cut -c1-110)"
  printf ' %s | %s MiB | %s |' "$wall" "$rss" "$status"
}

run() { # LABEL COMMAND... (a "@P" argument is the planet binary)
  local label=$1
  shift
  printf '| %s |' "$label"
  measure "$P" "$@"
  [ -z "${BEFORE:-}" ] || measure "$BEFORE" "$@"
  echo
}

if [ -n "${BEFORE:-}" ]; then
  echo "| run | wall | peak RSS | result | wall (BEFORE) | peak RSS (BEFORE) | result (BEFORE) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
else
  echo "| run | wall | peak RSS | result |"
  echo "| --- | --- | --- | --- |"
fi

# The synthetic fleet, merged every way.
"$out/fleetgen" gen -n "$hosts" -dir "$out/fleet" >/dev/null 2>&1
"$out/fleetgen" gen -n 800 -dir "$out/fleet800" >/dev/null 2>&1
run "merge DIR ($hosts hosts)" @P merge "$out/fleet" -o "$out/g.json"
find "$out/fleet" -name '*.json' | sort | xargs cat >"$out/fleet.stream"
run "merge - ($hosts hosts on stdin)" sh -c '"$0" merge - -o /dev/null <"$1"' @P "$out/fleet.stream"
rm "$out/fleet.stream"
run "merge --by host DIR ($hosts hosts)" @P merge --by host "$out/fleet" -o "$out/byhost.json"
run "render -f table ($hosts hosts by host)" @P render -f table "$out/byhost.json" -o /dev/null
run "diff ($hosts hosts by host, itself)" @P diff "$out/byhost.json" "$out/byhost.json"
# Another merge of the same fleet: every socket count and byte count moved.
sed -E 's/"sockets": ([0-9]+)/"sockets": 1\1/; s/"port_bytes_to_server": ([0-9]+)/"port_bytes_to_server": 2\1/' \
  "$out/byhost.json" >"$out/byhost2.json"
run "diff ($hosts hosts by host, counts moved)" @P diff "$out/byhost.json" "$out/byhost2.json"
run "diff --bytes-change 5 (the same)" @P diff --bytes-change 5 "$out/byhost.json" "$out/byhost2.json"
run "diff --bytes-change 5 (the same, the new graph on a pipe)" sh -c 'cat "$2" | "$0" diff --bytes-change 5 "$1" -' @P "$out/byhost.json" "$out/byhost2.json"
run "diff -f json --bytes-change 5 (the same)" @P diff -f json --bytes-change 5 "$out/byhost.json" "$out/byhost2.json"
run "diff -f markdown --bytes-change 5 (the same)" @P diff -f markdown --bytes-change 5 "$out/byhost.json" "$out/byhost2.json"
run "diff --external-changes -f json --bytes-change 5 (the same)" @P diff --external-changes -f json --bytes-change 5 "$out/byhost.json" "$out/byhost2.json"
rm -f "$out/byhost2.json"
# Everything added: a 10-host fleet's graph, then the by-host graph.
"$out/fleetgen" gen -n 10 -dir "$out/fleet10" >/dev/null 2>&1
"$P" merge --by host "$out/fleet10" -o "$out/byhost10.json" 2>/dev/null
run "diff -f json (10 hosts by host, then $hosts)" @P diff -f json "$out/byhost10.json" "$out/byhost.json"
run "diff -f markdown (the same)" @P diff -f markdown "$out/byhost10.json" "$out/byhost.json"
run "diff --external-changes -f json (the same: every edge added)" @P diff --external-changes -f json "$out/byhost10.json" "$out/byhost.json"
rm -rf "$out/byhost.json" "$out/byhost10.json" "$out/fleet10"
run "merge --by host DIR (800 hosts)" @P merge --by host "$out/fleet800" -o "$out/byhost800.json"
run "render -f table (800 hosts by host)" @P render -f table "$out/byhost800.json" -o /dev/null
run "diff (800 hosts by host, itself)" @P diff "$out/byhost800.json" "$out/byhost800.json"
rm -rf "$out/fleet800"

# A graph of 250,000 entries in 63 MB (the limit before graphs were read
# one element at a time), every string distinct (nothing to share).
python3 - "$out/worst.json" <<'PY'
import sys
N, E, K = 1000, 249000, 5
with open(sys.argv[1], 'w') as f:
    f.write('{\n  "schema": "planet.graph/v1",\n  "generated_at": "2026-11-30T09:00:00Z",\n  "by": "host",\n  "external": "ip",\n  "snapshots": 1000,\n  "nodes": [\n')
    f.write(',\n'.join('    {"id": "n%04d", "kind": "host", "host_count": 1}' % i for i in range(N)))
    f.write('\n  ],\n  "edges": [\n')
    for i in range(E):
        a, b = divmod(i, N)
        procs = ', '.join('"p%02d-%010d"' % (j, i) for j in range(K))
        f.write(('' if i == 0 else ',\n') + '    {"from": "n%04d", "to": "n%04d", "protocol": "tcp", "port": %d, "seen_from": "both", "client_processes": [%s], "client_hosts": 1, "server_hosts": 1, "sockets": 1}' % (a % N, b, 1 + a // N, procs))
    f.write('\n  ]\n}\n')
PY
size=$(stat -c %s "$out/worst.json")
run "render -f table (250k-entry graph, $size bytes)" @P render -f table "$out/worst.json" -o /dev/null
run "render -f json (250k-entry graph)" @P render -f json "$out/worst.json" -o /dev/null
run "render -f dot (250k-entry graph)" @P render -f dot "$out/worst.json" -o /dev/null
run "diff (250k-entry graph, itself)" @P diff "$out/worst.json" "$out/worst.json"
rm -f "$out/worst.json"

# Shared case D3's graph: 200,000 nodes and 2 million edges in 250 MiB,
# the node names repeated (as a fleet's are) and no lists.
python3 - "$out/d3.json" <<'PY'
import sys
N = 200000
out = open(sys.argv[1], 'w')
out.write('{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"hostgroup","external":"ip","snapshots":1,"nodes":[')
out.write(','.join('{"id":"n%07d","kind":"hostgroup","host_count":1}' % i for i in range(N)))
out.write('],"edges":[')
size = out.tell(); i = 0; first = True
while size < 250 * 1024 * 1024:
    e = '{"from":"n%07d","to":"n%07d","protocol":"tcp","port":%d,"seen_from":"both","client_hosts":1,"server_hosts":1,"sockets":1}' % (i % N, (i * 7919 + 13) % N, 1 + (i // N) % 65000)
    out.write(('' if first else ',') + e); first = False; size += len(e) + 1; i += 1
out.write(']}')
PY
run "render -f table (D3: 200k nodes, 2M edges, 250 MiB)" @P render -f table "$out/d3.json" -o /dev/null
run "diff (D3's graph, itself)" @P diff "$out/d3.json" "$out/d3.json"
rm -f "$out/d3.json"

# Pictures drawn at their limits: N hosts and N dependencies as DOT (the
# drawing takes about 2 KB a part beside the graph: 50,000 of each are
# drawn, 100,000 refused for the memory drawing them would take).
for n in 50000 100000; do
  python3 - "$out/dot$n.json" "$n" <<'PY'
import sys
path, N = sys.argv[1], int(sys.argv[2])
name = lambda i: 'host-%06d.dc1.example.com' % i
with open(path, 'w') as f:
    f.write('{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":%d,"nodes":[' % N)
    f.write(','.join('{"id":"%s","kind":"host","host_count":1,"hosts":["host-%06d"]}' % (name(i), i) for i in range(N)))
    f.write('],"edges":[')
    f.write(','.join('{"from":"%s","to":"%s","protocol":"tcp","port":5432,"seen_from":"both","client_processes":["java"],"server_processes":["postgres"],"client_hosts":1,"server_hosts":1,"sockets":3}' % (name(i), name((i + 1) % N)) for i in range(N)))
    f.write(']}')
PY
  run "render -f dot ($n hosts, $n dependencies)" @P render -f dot "$out/dot$n.json" -o /dev/null
  rm -f "$out/dot$n.json"
done

# Darkstat traffic: 3,990,000 pairs among 2,850 external peers (folded into
# one node when drawn), no edges: what the limits accept of traffic.
python3 - "$out/traffic.json" <<'PY'
import sys
n, npairs = 2850, 3990000
ids = sorted("10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(1, n + 1))
with open(sys.argv[1], 'w') as f:
    f.write('{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"hostgroup","external":"ip","snapshots":1,"nodes":[')
    f.write(','.join('{"id":"%s","kind":"external","host_count":1}' % i for i in ids))
    f.write('],"edges":[],"traffic":[')
    c = 0
    for a in range(n):
        for b in range(a + 1, n):
            if c == npairs:
                break
            f.write(('' if c == 0 else ',') + '{"from":"%s","to":"%s","bytes":%d,"seen_from":"both"}' % (ids[a], ids[b], c + 1))
            c += 1
    f.write(']}')
PY
for f in table dot mermaid json; do
  run "render -f $f (3,990,000 traffic pairs)" @P render -f "$f" "$out/traffic.json" -o /dev/null
done
rm -f "$out/traffic.json"

# The largest snapshots the limits accept, four of one host: 65,536
# addresses, then connections up to 32 MiB, each with 31 one-socket TCP
# states of made-up names (a decoded map costs five times its text).
mkdir "$out/big"
python3 - "$out/big/h1.json" <<'PY'
import sys
addrs = ', '.join('"10.1.%d.%d"' % (i >> 8, i & 255) for i in range(65536))
states = ', '.join('"s%d": 1' % j for j in range(31))
with open(sys.argv[1], 'w') as f:
    f.write('{"schema": "planet.snapshot/v1", "planet_version": "x", "scanned_at": "2026-11-30T09:00:00Z", "host": {"hostname": "h1", "addresses": [%s], "hostgroup": "web"}, "sources": [], "listeners": [], "connections": [' % addrs)
    i = 0
    while f.tell() < (32 << 20) - 1000:
        f.write(('' if i == 0 else ', ') + '{"direction": "upstream", "protocol": "tcp", "port": 443, "process": "p%d", "remote_ip": "198.51.100.%d", "sockets": 31, "states": {%s}}' % (i % 7, i % 200, states))
        i += 1
    f.write('], "unowned_sockets": 0}\n')
PY
for i in 2 3 4; do sed "s/\"scanned_at\": \"2026-11-30T09:00:00Z\"/\"scanned_at\": \"2026-11-30T09:00:0${i}Z\"/" "$out/big/h1.json" >"$out/big/h$i.json"; done
run "merge DIR (4 snapshots of $(stat -c %s "$out/big/h1.json") bytes)" @P merge "$out/big" -o /dev/null
run "render -f table (one of them)" @P render -f table "$out/big/h1.json" -o /dev/null
run "diff (two of them)" @P diff "$out/big/h1.json" "$out/big/h2.json"
rm -rf "$out/big"

# Over the limits: refused, cheaply.
mkdir "$out/over"
python3 - "$out/over/pad.json" <<'PY'
import sys
with open(sys.argv[1], 'w') as f:
    f.write('{"pad":"'); blk = 'A' * (1 << 20)
    for _ in range(512): f.write(blk)
    f.write('","schema":"planet.snapshot/v1"}')
PY
run "merge DIR (a 512 MiB file)" @P merge "$out/over" -o /dev/null
rm "$out/over/pad.json"
python3 - "$out/over/h1.json" <<'PY'
import json, sys
addrs = ["10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255) for i in range(4000000)]
json.dump({"schema": "planet.snapshot/v1", "planet_version": "x", "scanned_at": "2026-11-30T09:00:00Z",
           "host": {"hostname": "h1", "addresses": addrs, "hostgroup": "web"}, "sources": [],
           "listeners": [], "connections": [], "unowned_sockets": 0}, open(sys.argv[1], 'w'), separators=(',', ':'))
PY
for i in 2 3 4 5 6 7 8; do cp "$out/over/h1.json" "$out/over/h$i.json"; done
run "merge DIR (8 snapshots, 4M addresses each)" @P merge "$out/over" -o /dev/null
rm -rf "$out/over"

# Graphs of 1 GiB (graph.MaxSize) shaped to cost the most once read
# (graph.MaxDecoded): short distinct names in long lists (in nodes' host
# lists, in edges' process lists, one set per edge), millions of small
# edges, millions of nodes with long IDs (external peers, hosts). Each is refused where it passes
# the decoded limit; the same document cut just before that element is
# the largest of its shape the limits accept, and is rendered and diffed
# (with itself, and with a copy whose every name changed).
mkdir "$out/shapes"
python3 - "$out/shapes" <<'PY'
import os, sys
d = sys.argv[1]
LIM = 1 << 30
HDR = '{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":1,'
def lists(f, n0):
    i = n0[0]; names = []; size = 0
    while size < (7 << 20):
        s = '"%x"' % i; i += 1; names.append(s); size += len(s) + 1
    n0[0] = i
    return ','.join(names)
with open(os.path.join(d, 'hosts.json'), 'w') as f:
    f.write(HDR + '"nodes":['); n = 0; k = [0]
    while f.tell() < LIM - (9 << 20):
        f.write(('' if n == 0 else ',') + '{"id":"n%d","kind":"hostgroup","host_count":1,"hosts":[%s]}' % (n, lists(f, k))); n += 1
    f.write('],"edges":[]}')
with open(os.path.join(d, 'procs.json'), 'w') as f:
    f.write(HDR + '"nodes":[' + ','.join('{"id":"n%d","kind":"host","host_count":1}' % i for i in range(200)) + '],"edges":['); e = 0; k = [0]
    while f.tell() < LIM - (9 << 20):
        f.write(('' if e == 0 else ',') + '{"from":"n%d","to":"n%d","protocol":"tcp","port":1,"seen_from":"both","client_processes":[%s],"client_hosts":1,"server_hosts":1,"sockets":1}' % (e // 200, e % 200, lists(f, k))); e += 1
    f.write(']}')
N = 2000
with open(os.path.join(d, 'sets.json'), 'w') as f:
    f.write(HDR + '"nodes":[' + ','.join('{"id":"%d","kind":"host","host_count":1}' % i for i in range(N)) + '],"edges":[')
    for e in range(4000000 - N):
        f.write(('' if e == 0 else ',') + '{"from":"%d","to":"%d","protocol":"tcp","port":%d,"seen_from":"both","client_processes":["%x","a%x"],"server_processes":["b%x"],"client_hosts":1,"server_hosts":1,"sockets":1,"port_bytes_to_server":%d}' % (e // N % N, e % N, 1 + e // (N * N), e, e, e, e + 1))
    f.write(']}')
with open(os.path.join(d, 'edges.json'), 'w') as f:
    f.write(HDR + '"nodes":[' + ','.join('{"id":"%d","kind":"host","host_count":1}' % i for i in range(N)) + '],"edges":[')
    for e in range(4000000 - N):
        f.write(('' if e == 0 else ',') + '{"from":"%d","to":"%d","protocol":"tcp","port":%d,"seen_from":"both","client_hosts":1,"server_hosts":1,"sockets":1}' % (e // N % N, e % N, 1 + e // (N * N)))
    f.write(']}')
with open(os.path.join(d, 'nodes.json'), 'w') as f:
    f.write(HDR + '"nodes":[')
    for i in range(4000000):
        f.write(('' if i == 0 else ',') + '{"id":"%0170d","kind":"external","host_count":0,"domains":["%040d"]}' % (i, i))
    f.write('],"edges":[]}')
# The same as scanned hosts, which no picture folds into one node.
with open(os.path.join(d, 'hostnodes.json'), 'w') as f:
    f.write(HDR + '"nodes":[')
    for i in range(4000000):
        f.write(('' if i == 0 else ',') + '{"id":"%0170d","kind":"host","host_count":1,"hosts":["%040d"]}' % (i, i))
    f.write('],"edges":[]}')
PY
# An input of one node, drawn against each shape as its base: everything
# the base has is removed; the picture of both is refused for its size
# where the shape has edges or too many nodes drawn (hostnodes), and drawn
# where it has few (nodes: the external peers fold into one; hosts: 15
# hostgroups).
echo '{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[{"id":"n0","kind":"host","host_count":1}],"edges":[]}' >"$out/shapes/one.json"
for shape in hosts procs sets edges nodes hostnodes; do
  doc=$out/shapes/$shape.json
  run "render -f table ($shape: $(stat -c %s "$doc") bytes, over graph.MaxDecoded)" @P render -f table "$doc" -o /dev/null
  # Cut before the element that passed the limit: the largest such
  # graph the limits accept. (The render fails, as it must: with
  # pipefail its status would end the script, so only sed's output counts.)
  at=$({ "$P" render -f table "$doc" -o /dev/null 2>&1 || true; } | sed -n 's/.*(byte \([0-9]*\)): \([a-z]*\)\[.*/\1 \2/p')
  if [ -z "$at" ]; then
    echo "bench-limits: $shape: render did not refuse $doc at an element" >&2
    exit 1
  fi
  python3 - "$doc" $at <<'PY'
import sys
path, off, member = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, 'rb') as f:
    data = f.read(off).rstrip(b', \n')
with open(path, 'wb') as f:
    f.write(data + (b'],"edges":[]}' if member == 'nodes' else b']}'))
PY
  # The same graph with every name changed.
  python3 - "$doc" "$out/shapes/changed.json" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
lists = re.compile(r'\[("[^"\]]*"(?:,"[^"\]]*")*)\]')
open(sys.argv[2], 'w').write(lists.sub(lambda m: '[' + ','.join('"z' + s[1:] for s in m.group(1).split(',')) + ']', text))
PY
  run "render -f table ($shape, cut at the limit: $(stat -c %s "$doc") bytes)" @P render -f table "$doc" -o /dev/null
  run "render -f json (the same)" @P render -f json "$doc" -o /dev/null
  run "render -f table --exclude-port 1 --hide-external (the same)" @P render -f table --exclude-port 1 --hide-external "$doc" -o /dev/null
  run "render -f mermaid (the same)" @P render -f mermaid "$doc" -o /dev/null
  run "render -f dot --diff (the same as base, an input of one node)" @P render -f dot --diff "$doc" "$out/shapes/one.json" -o /dev/null
  run "diff (the same, with itself)" @P diff "$doc" "$doc"
  run "diff --external-changes (the same, with itself)" @P diff --external-changes "$doc" "$doc"
  run "diff (the same, every name changed)" @P diff "$doc" "$out/shapes/changed.json"
  rm -f "$doc" "$out/shapes/changed.json"
done
