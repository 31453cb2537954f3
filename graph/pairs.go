package graph

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// The host pairs a Merger keeps until Graph (see Merger.held), packed: a
// fleet of 100,000 hosts has over a million, and as hostPair values in a
// map they took ~190 bytes each (most of a 100,000-host merge's memory);
// packed they take ~25. A pair record is, back to back:
//
//	flags      pair* bits, a uvarint: one byte but for the rare ones
//	nodes      from, to: uvarints, unless pairNodes (they are the
//	           client's and the server's nodes, see nodeOf)
//	edge       protocol, port: uvarints
//	hosts      client, server endpoint IDs: uvarints
//	server IP  four bytes with pairIP4; a uvarint index in Merger.ips
//	           with pairIPIndex; none else
//	client     sockets, c2s, s2c: uvarints, then c2s and s2c per second
//	           (float64 bits, little-endian) when windowed; only when seen
//	server     the same
//
// Records are only appended, and dropped (pairDead, in the first byte,
// set in place) when a record of the same pair replaces them.
const (
	pairDead = 1 << iota
	pairClientSeen
	pairClientNamed
	pairServerSeen
	pairServerNamed
	pairIP4
	pairNodes
	// Past the first byte.
	pairClientWindowed
	pairServerWindowed
	pairIPIndex
)

// maxPairRecord bounds a record's length: nine uvarints of at most ten
// bytes, four float64s, an IPv4 address.
const maxPairRecord = 9*binary.MaxVarintLen64 + 4*8 + 4

// pairChunk is the size of the held pairs' blocks: records are appended
// to the last one, and never move.
const pairChunk = 64 << 10

// pairArena is a list of pair records in blocks of pairChunk bytes, none
// split between two.
type pairArena struct {
	chunks [][]byte
}

// add appends the record of pair k, p.
func (a *pairArena) add(m *Merger, k hostPairKey, p *hostPair) {
	n := len(a.chunks)
	if n == 0 || cap(a.chunks[n-1])-len(a.chunks[n-1]) < maxPairRecord {
		a.chunks = append(a.chunks, make([]byte, 0, pairChunk))
		n++
	}
	a.chunks[n-1] = m.appendPair(a.chunks[n-1], k, p)
}

func viewFlags(v *endView, seen, named, windowed uint64) uint64 {
	var f uint64
	if v.seen {
		f |= seen
	}
	if v.named {
		f |= named
	}
	if v.windowed {
		f |= windowed
	}
	return f
}

// appendPair appends the record of pair k, p to b.
func (m *Merger) appendPair(b []byte, k hostPairKey, p *hostPair) []byte {
	flags := viewFlags(&p.client, pairClientSeen, pairClientNamed, pairClientWindowed) |
		viewFlags(&p.server, pairServerSeen, pairServerNamed, pairServerWindowed)
	ip := p.serverIP
	switch {
	case ip.Is4():
		flags |= pairIP4
	case ip.IsValid():
		flags |= pairIPIndex
	}
	nodes := k.edge.from == m.nodeOf(k.client) && k.edge.to == m.nodeOf(k.server)
	if nodes {
		flags |= pairNodes
	}
	b = binary.AppendUvarint(b, flags)
	if !nodes {
		b = binary.AppendUvarint(b, uint64(uint32(k.edge.from)))
		b = binary.AppendUvarint(b, uint64(uint32(k.edge.to)))
	}
	b = binary.AppendUvarint(b, uint64(k.edge.proto))
	b = binary.AppendUvarint(b, uint64(k.edge.port))
	b = binary.AppendUvarint(b, uint64(k.client))
	b = binary.AppendUvarint(b, uint64(k.server))
	switch {
	case ip.Is4():
		a := ip.As4()
		b = append(b, a[:]...)
	case ip.IsValid():
		b = binary.AppendUvarint(b, uint64(m.ipIndex(ip)))
	}
	b = appendView(b, &p.client)
	return appendView(b, &p.server)
}

func appendView(b []byte, v *endView) []byte {
	if !v.seen {
		return b
	}
	b = binary.AppendUvarint(b, uint64(v.sockets))
	b = binary.AppendUvarint(b, v.c2s)
	b = binary.AppendUvarint(b, v.s2c)
	if v.windowed {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.c2sRate))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.s2cRate))
	}
	return b
}

// pairReader decodes the records of a block one after another.
type pairReader struct {
	b []byte
	i int
}

func (r *pairReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.i:])
	r.i += n
	return v
}

func (r *pairReader) float() float64 {
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.i:]))
	r.i += 8
	return v
}

func (r *pairReader) view(v *endView, flags, seen, named, windowed uint64) {
	if flags&seen == 0 {
		return
	}
	v.seen, v.named, v.windowed = true, flags&named != 0, flags&windowed != 0
	v.sockets = int(r.uvarint())
	v.c2s = r.uvarint()
	v.s2c = r.uvarint()
	if v.windowed {
		v.c2sRate = r.float()
		v.s2cRate = r.float()
	}
}

// next decodes the record at the read position into k and p, and returns
// where it starts (its flags byte) and whether there was one.
func (r *pairReader) next(m *Merger, k *hostPairKey, p *hostPair) (at int, ok bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	at = r.i
	flags := r.uvarint()
	if flags&pairNodes == 0 {
		k.edge.from = int32(uint32(r.uvarint()))
		k.edge.to = int32(uint32(r.uvarint()))
	}
	k.edge.proto = uint16(r.uvarint())
	k.edge.port = uint16(r.uvarint())
	k.client = uint32(r.uvarint())
	k.server = uint32(r.uvarint())
	if flags&pairNodes != 0 {
		k.edge.from, k.edge.to = m.nodeOf(k.client), m.nodeOf(k.server)
	}
	*p = hostPair{}
	switch {
	case flags&pairIP4 != 0:
		p.serverIP = netip.AddrFrom4([4]byte(r.b[r.i : r.i+4]))
		r.i += 4
	case flags&pairIPIndex != 0:
		p.serverIP = m.ips[r.uvarint()]
	}
	r.view(&p.client, flags, pairClientSeen, pairClientNamed, pairClientWindowed)
	r.view(&p.server, flags, pairServerSeen, pairServerNamed, pairServerWindowed)
	return at, true
}

// eachPair calls fn with every stored pair that is not dead: the held
// ones, and those waiting for a host's snapshot. rec is the record's
// flags byte, for fn to mark it dead.
func (m *Merger) eachPair(fn func(k hostPairKey, p *hostPair, rec *byte)) {
	var (
		k hostPairKey
		p hostPair
	)
	each := func(b []byte) {
		r := pairReader{b: b}
		for {
			at, ok := r.next(m, &k, &p)
			if !ok {
				return
			}
			if b[at]&pairDead == 0 {
				fn(k, &p, &b[at])
			}
		}
	}
	for _, c := range m.held.chunks {
		each(c)
	}
	for i := range m.hosts {
		each(m.hosts[i].waiting)
	}
}

// nodeOf is the node of endpoint ep, -1 if it has none yet: a scanned
// host's, or an unscanned peer's (each is of one node).
func (m *Merger) nodeOf(ep uint32) int32 {
	if ep&peerBit != 0 {
		return m.peerNodes[ep&^peerBit]
	}
	return m.hosts[ep].nodeIdx
}

// ipIndex returns ip's index in m.ips, adding it.
func (m *Merger) ipIndex(ip netip.Addr) uint32 { return indexIn(m.ipIdx, &m.ips, ip) }

// indexIn returns v's index in *list, found through idx, appending v to
// both if it is new: an interning table of values numbered in order.
func indexIn[K comparable](idx map[K]uint32, list *[]K, v K) uint32 {
	i, ok := idx[v]
	if !ok {
		i = uint32(len(*list))
		idx[v] = i
		*list = append(*list, v)
	}
	return i
}

// store keeps the pair k, p, whose server is a scanned host, until Graph:
// held when both ends' snapshots are in (or the client is not a scanned
// host), else waiting for the snapshot of an end not yet added, which
// completes it (takeWaiting).
func (m *Merger) store(k hostPairKey, p *hostPair) {
	switch {
	case k.client&peerBit == 0 && !m.hosts[k.client].added:
		m.hosts[k.client].waiting = m.appendPair(m.hosts[k.client].waiting, k, p)
	case !m.hosts[k.server].added:
		m.hosts[k.server].waiting = m.appendPair(m.hosts[k.server].waiting, k, p)
	default:
		m.held.add(m, k, p)
	}
}

// takeWaiting moves the pairs waiting for host self's snapshot into
// m.waitIdx, m.waitKeys and m.waitPairs, to be completed with its views.
func (m *Merger) takeWaiting(self int32) {
	clear(m.waitIdx)
	m.waitKeys, m.waitPairs = m.waitKeys[:0], m.waitPairs[:0]
	b := m.hosts[self].waiting
	m.hosts[self].waiting = nil
	r := pairReader{b: b}
	var (
		k hostPairKey
		p hostPair
	)
	for {
		at, ok := r.next(m, &k, &p)
		if !ok {
			return
		}
		if b[at]&pairDead == 0 {
			m.waitIdx[k] = int32(len(m.waitPairs))
			m.waitKeys = append(m.waitKeys, k)
			m.waitPairs = append(m.waitPairs, p)
		}
	}
}

// putPairs stores pairs made outside Add (settleDeferred's), each merged
// with what is stored for the same pair already, which it replaces.
func (m *Merger) putPairs(keys []hostPairKey, pairs []hostPair) {
	idx := make(map[hostPairKey]int, len(keys))
	for i, k := range keys {
		idx[k] = i
	}
	m.eachPair(func(k hostPairKey, p *hostPair, rec *byte) {
		if i, ok := idx[k]; ok {
			pairs[i].merge(*p)
			*rec |= pairDead
		}
	})
	for i, k := range keys {
		m.store(k, &pairs[i])
	}
}
