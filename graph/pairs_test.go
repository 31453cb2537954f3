package graph

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// A pair record reads back as the pair written, whatever its values:
// either end seen or not, windowed or not, counts up to their largest,
// server addresses of every kind, the edge's nodes the ends' own or not;
// and a record marked dead is skipped.
func TestPairRecords(t *testing.T) {
	m, err := NewMerger(MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Two scanned hosts (nodes 0 and 1) and a peer (node 2).
	m.hosts = []declared{{nodeIdx: 0, added: true}, {nodeIdx: 1, added: true}}
	m.peerNodes = []int32{2}
	r := rand.New(rand.NewPCG(1, 2))
	ips := []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("::ffff:10.0.0.2")}
	counts := []uint64{0, 1, 300, math.MaxUint32 + 1, math.MaxUint64}
	view := func() endView {
		if r.IntN(3) == 0 {
			return endView{}
		}
		v := endView{seen: true, named: r.IntN(2) == 0, sockets: int(counts[r.IntN(len(counts))] >> 1),
			c2s: counts[r.IntN(len(counts))], s2c: counts[r.IntN(len(counts))]}
		if r.IntN(3) == 0 {
			v.windowed, v.c2sRate, v.s2cRate = true, r.Float64()*1e9, math.MaxFloat64
		}
		return v
	}
	type pair struct {
		k hostPairKey
		p hostPair
	}
	var want []pair
	for range 2000 {
		k := hostPairKey{edgeKey{0, 1, uint16(r.IntN(3)), uint16(r.IntN(65536))}, 0, 1}
		switch r.IntN(3) {
		case 0: // a peer client
			k.client, k.edge.from = peerBit, 2
		case 1: // nodes that are not the ends' own (workloads)
			k.edge.from, k.edge.to = int32(r.IntN(1<<20)), int32(r.IntN(1<<20))
		}
		want = append(want, pair{k, hostPair{client: view(), server: view(), serverIP: ips[r.IntN(len(ips))]}})
		m.held.add(m, want[len(want)-1].k, &want[len(want)-1].p)
	}
	dead := map[int]bool{}
	i := 0
	m.eachPair(func(k hostPairKey, p *hostPair, rec *byte) {
		if k != want[i].k || *p != want[i].p {
			t.Fatalf("record %d: read %+v %+v, wrote %+v %+v", i, k, *p, want[i].k, want[i].p)
		}
		if i%3 == 0 {
			*rec |= pairDead
			dead[i] = true
		}
		i++
	})
	if i != len(want) || len(m.held.chunks) < 2 {
		t.Fatalf("read %d records of %d, in %d blocks (want several)", i, len(want), len(m.held.chunks))
	}
	i = 0
	m.eachPair(func(k hostPairKey, p *hostPair, _ *byte) {
		for dead[i] {
			i++
		}
		if k != want[i].k || *p != want[i].p {
			t.Fatalf("after marking: record %d: read %+v, want %+v", i, k, want[i].k)
		}
		i++
	})
}
