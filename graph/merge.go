package graph

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// MergeOptions says how snapshots become nodes.
type MergeOptions struct {
	// By keys the nodes; empty is ByHostgroup.
	By By
	// External groups peers that no snapshot and no inventory explains;
	// the zero value makes one node per IP.
	External External
	// Now is the merge's clock (zero: time.Now()): a snapshot scanned more
	// than MaxClockSkew after it does not set the graph's generated_at.
	Now time.Time
}

// By is how a merge keys its nodes: ByHostgroup, ByHost or ByWorkload
// (untyped constants, so that they also fill Graph.By, the document's
// text). ParseBy reads one.
type By string

// ParseBy reads a By from its text: "hostgroup" (or ""), "host" or
// "workload". The error names the value and the choices.
func ParseBy(s string) (By, error) {
	switch s {
	case "":
		return ByHostgroup, nil
	case ByHostgroup, ByHost, ByWorkload:
		return By(s), nil
	}
	return "", fmt.Errorf("%q is not %s, %s or %s", s, ByHostgroup, ByHost, ByWorkload)
}

// MaxClockSkew is how far a snapshot's scanned_at may be ahead of the
// merge's clock (MergeOptions.Now, fleet.InputOptions.Now) and still count
// as a sane time: the clocks of a fleet drift by seconds, not minutes. A
// later scan time (a host whose clock was wrong, a planted file) is a
// warning; such a snapshot loses to any snapshot of its host with a sane
// time, is left out under a maximum age (its age is unknown), and never
// sets the graph's generated_at.
const MaxClockSkew = 5 * time.Minute

// External is how a merge groups the peers no snapshot and no inventory
// explains (Graph.External is its text). The zero value, "ip", makes one
// node per IP; ParseExternal makes the others: "collapse" one node named
// "external", "cidr:N" one node per IPv4 /N prefix (IPv6 peers by /64),
// "cidr:N,M" per IPv4 /N and IPv6 /M.
type External struct {
	collapse, cidr bool
	bits4, bits6   int
}

// String is the External's text, as ParseExternal reads it and the graph's
// "external" member records it ("cidr:N,M" always with both lengths).
func (m External) String() string {
	switch {
	case m.collapse:
		return "collapse"
	case m.cidr:
		return "cidr:" + strconv.Itoa(m.bits4) + "," + strconv.Itoa(m.bits6)
	}
	return "ip"
}

// ParseExternal reads an External from its text: "ip" (or ""),
// "collapse", "cidr:N" (N 0 to 32) or "cidr:N,M" (M 0 to 128). The error
// names the value and what is wrong with it.
func ParseExternal(s string) (External, error) {
	switch s {
	case "", "ip":
		return External{}, nil
	case "collapse":
		return External{collapse: true}, nil
	}
	spec, ok := strings.CutPrefix(s, "cidr:")
	if !ok {
		return External{}, fmt.Errorf("%q: want ip, collapse, cidr:N or cidr:N,M", s)
	}
	v4, v6, hasV6 := strings.Cut(spec, ",")
	m := External{cidr: true, bits6: 64}
	var err error
	if m.bits4, err = strconv.Atoi(v4); err != nil || m.bits4 < 0 || m.bits4 > 32 {
		return External{}, fmt.Errorf("%q: IPv4 prefix length must be 0 to 32", s)
	}
	if hasV6 {
		if m.bits6, err = strconv.Atoi(v6); err != nil || m.bits6 < 0 || m.bits6 > 128 {
			return External{}, fmt.Errorf("%q: IPv6 prefix length must be 0 to 128", s)
		}
	}
	return m, nil
}

// MustParseExternal is ParseExternal for a value known to be valid (a
// literal); it panics on an invalid one.
func MustParseExternal(s string) External {
	m, err := ParseExternal(s)
	if err != nil {
		panic("graph: MustParseExternal: " + err.Error())
	}
	return m
}

// Validate checks the options; the zero value is valid. An External is
// valid by construction.
func (o MergeOptions) Validate() error {
	if _, err := ParseBy(string(o.By)); err != nil {
		return fmt.Errorf("by: %w", err)
	}
	return nil
}

// ErrDuplicateHost is returned by Merger.Add for a second snapshot of a host
// already added: choosing between them (newest wins) is the caller's job.
var ErrDuplicateHost = errors.New("host already merged")

// Identity is what makes two snapshots "the same host": the hostname and the
// set of addresses.
func Identity(h snapshot.Host) string {
	addrs := slices.Clone(h.Addresses)
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	var b strings.Builder
	b.WriteString(h.Hostname)
	for _, a := range addrs {
		b.WriteByte('|')
		b.WriteString(a.String())
	}
	return b.String()
}

type nodeKey struct {
	kind NodeKind
	name string
}

type nodeAgg struct {
	key     nodeKey
	scanned int // snapshots added into this node
	peers   int // distinct unscanned IPs resolved into this node
	hosts   nameSet
	domains nameSet
	// incomplete: hosts whose scan had unowned sockets, and how many.
	incomplete nameSet
	unowned    int
}

// lazySet is a set kept as a list, a third the memory of a map (a
// hostgroup node of a large fleet has tens of thousands of hosts; a
// by-host merge keeps two ID sets for each of millions of edges): it
// appends, skips a repeat of the last item, and sorts out duplicates when
// the unsorted tail outgrows the sorted head, so it stays within a small
// factor of its distinct size without a map's per-insert cost.
type lazySet[T cmp.Ordered] struct {
	items  []T
	sorted int
}

func (s *lazySet[T]) add(v T) {
	if n := len(s.items); n > 0 && s.items[n-1] == v {
		return
	}
	s.items = append(s.items, v)
	if len(s.items) >= 2*s.sorted+256 {
		s.compact()
	}
}

func (s *lazySet[T]) compact() {
	slices.Sort(s.items)
	s.items = slices.Compact(s.items)
	s.sorted = len(s.items)
}

func (s *lazySet[T]) len() int {
	s.compact()
	return len(s.items)
}

// nameSet is a lazySet of names.
type nameSet struct{ lazySet[string] }

// list returns the names sorted, nil for none, in a list of their own.
func (s *nameSet) list() []string {
	if len(s.items) == 0 {
		return nil
	}
	s.compact()
	return slices.Clone(s.items)
}

type edgeKey struct {
	from, to int32
	proto    uint16 // index in Merger.protos
	port     uint16
}

// idSet is a set of endpoint IDs tuned for many adds of few distinct IDs:
// most edges of a by-host graph have one host at each end, so the first
// ID is kept in place and a list (a lazySet) made only for a second one. A
// by-host merge keeps two sets for each of millions of edges.
//
// A set made a count (n set to idCount) keeps no IDs: it counts the adds
// that are not a repeat of the one before, which is the number of distinct
// IDs when every ID's adds come one after the other. That holds for the
// client hosts of an edge to an external node (see Merger.edge).
type idSet struct {
	first uint32           // the ID; in a count, the last ID added
	n     uint32           // 0: empty, 1: first is set; with idCount, the count
	more  *lazySet[uint32] // every ID, first included, once there are two
}

// idCount marks an idSet that counts (idSet.n).
const idCount = 1 << 31

func (s *idSet) add(id uint32) {
	switch {
	case s.n&idCount != 0:
		if s.n == idCount || id != s.first {
			s.first = id
			s.n++
		}
		return
	case s.n == 0:
		s.first, s.n = id, 1
		return
	case s.more == nil && id == s.first:
		return
	case s.more == nil:
		s.more = &lazySet[uint32]{items: []uint32{s.first}}
	}
	s.more.add(id)
}

func (s *idSet) len() int {
	switch {
	case s.n&idCount != 0:
		return int(s.n &^ idCount)
	case s.more != nil:
		return s.more.len()
	}
	return int(s.n)
}

// clone returns a copy of s sharing nothing with it.
func (s idSet) clone() idSet {
	if s.more != nil {
		s.more = &lazySet[uint32]{items: slices.Clone(s.more.items), sorted: s.more.sorted}
	}
	return s
}

// edgeAgg is one edge's totals over the host pairs folded into it so far
// (see hostPair): per pair the larger of the two ends' counts, summed over
// pairs, so a dependency seen from both ends is not counted twice and one
// seen by different hosts at each end is not counted once.
type edgeAgg struct {
	// clientProcs, serverProcs: the process names at each end, as lists
	// of Merger.names.
	clientProcs, serverProcs nameList
	clientHosts, serverHosts idSet
	// pairs counts folded host pairs by what saw them: both ends, the
	// client only, the server only.
	pairsBoth, pairsClient, pairsServer int
	sockets                             int
	// c2s: bytes client -> server; s2c: server -> client.
	c2s, s2c uint64
	// more holds what few edges have (nil until one does): a by-host
	// fleet has millions of edges, and every byte here counts.
	more *edgeMore
}

// edgeMore is an edge's workloads and windowed rates.
type edgeMore struct {
	clientWls, serverWls []string
	// dialled: the addresses (ip:port) clients dialled where a DNAT sent
	// them to this server (a service VIP, a DNAT router's port).
	dialled []string
	// The same as c2s and s2c as bytes per second over observation
	// windows (scan --window); windowed: some folded pair had a windowed
	// end.
	windowed         bool
	c2sRate, s2cRate float64
}

// extra returns e.more, made on first use.
func (e *edgeAgg) extra() *edgeMore {
	if e.more == nil {
		e.more = &edgeMore{}
	}
	return e.more
}

// addWorkloads adds workload names (each may be empty: none) to the client
// and server ends.
func (e *edgeAgg) addWorkloads(client, server string) {
	if client == "" && server == "" {
		return
	}
	x := e.extra()
	x.clientWls = addWorkload(x.clientWls, client)
	x.serverWls = addWorkload(x.serverWls, server)
}

// addDialled adds an address a client dialled to reach this edge's server
// through a DNAT.
func (e *edgeAgg) addDialled(a netip.AddrPort) {
	x := e.extra()
	x.dialled = addWorkload(x.dialled, a.String())
}

// wls returns the client and server workloads.
func (e *edgeAgg) wls() (client, server []string) {
	if e.more == nil {
		return nil, nil
	}
	return e.more.clientWls, e.more.serverWls
}

// hostPairKey is one client/server host pair of an edge: endpoint IDs (a
// scanned host's declaration index, or peerBit|n for an unscanned peer).
type hostPairKey struct {
	edge           edgeKey
	client, server uint32
}

// compareHostPairs orders host pair keys by edge, then client, then server.
func compareHostPairs(a, b hostPairKey) int {
	return cmp.Or(cmp.Compare(a.edge.from, b.edge.from), cmp.Compare(a.edge.to, b.edge.to), cmp.Compare(a.edge.proto, b.edge.proto),
		cmp.Compare(a.edge.port, b.edge.port), cmp.Compare(a.client, b.client), cmp.Compare(a.server, b.server))
}

// endView is what one end's records said about a host pair.
type endView struct {
	seen     bool
	named    bool // some record named a process
	sockets  int
	c2s, s2c uint64
	// windowed: some record had a window; its bytes per second, summed.
	windowed         bool
	c2sRate, s2cRate float64
}

// hostPair is both ends' views of the sockets between one client host and
// one server host on one (protocol, port). serverIP is an address the
// client connected to, for choosing among the server's listeners.
type hostPair struct {
	client, server endView
	serverIP       netip.Addr
	first          int // index of the first record of the pair, for errors
}

// listener is a scanned host's server process on one protocol, port and
// address: indexes in Merger.protos, Merger.ips and Merger.names' names.
type listener struct {
	proto, port   uint16
	addr, process uint32
}

type pairKey struct{ from, to int32 }

// fwdKey is a port of a scanned host (its endpoint ID) that the host
// forwards elsewhere: a DNAT router's published port.
type fwdKey struct {
	host  uint32
	proto uint16
	port  uint16
}

// forward is where a DNAT router sends what it takes on one port: a node
// and port of another scanned host, and that host's endpoint ID.
type forward struct {
	node int32
	port uint16
	ep   uint32
}

// fwdLess orders forwards by the backend's identity and port, so that of
// several backends of one published port the same one is chosen whatever
// the order of the records and of the snapshots.
func (m *Merger) fwdLess(f, g forward) bool {
	return cmp.Or(strings.Compare(m.hosts[f.ep].ident, m.hosts[g.ep].ident), cmp.Compare(f.port, g.port)) < 0
}

type trafficAgg struct {
	sender, receiver         uint64
	seenSender, seenReceiver bool
}

type peerKey struct {
	ip   netip.Addr
	node int32
}

type declared struct {
	hostname string
	ident    string // Identity
	node     nodeKey
	nodeIdx  int32 // -1 until the node exists
	added    bool
	// listen: where the host's listeners with a known process are in
	// Merger.listeners, once added.
	listen, listenN uint32
	// waiting: records (pairs.go) of the host pairs of other hosts' views
	// with this scanned host at the other end, until its snapshot is added.
	waiting []byte
}

// resolved caches the last resolution of an unscanned peer's IP.
type resolved struct {
	hostgroup, domain string
	node              int32
	ep                uint32
}

// peerBit marks endpoint IDs of unscanned peers; scanned hosts use their
// declaration index.
const peerBit = 1 << 31

// Merger folds snapshots into a graph one at a time and keeps only the
// aggregated nodes and edges, never the snapshots, so that memory grows with
// the graph rather than with the number of inputs. Besides the edges it
// keeps one small entry per client host, scanned server host, protocol and
// port (see pairs): what a DNAT router's forwards need, since the router's
// snapshot may come last.
//
// A remote IP resolves to a scanned host only if that host was declared
// (Declare, or Add) before the record referencing it was added. Declare every
// host first, then Add each chosen snapshot; fleet.MergeInputs and Merge do so.
// Newest-wins between snapshots of one host is the caller's choice: Add
// refuses a second snapshot of a host with ErrDuplicateHost.
type Merger struct {
	by  By
	ext External

	hosts   []declared
	ident   map[string]int32
	addrs   addrMap[int32]   // -1: claimed by several hosts
	domains map[string]int32 // -1: claimed by several hosts

	nodeIdx map[nodeKey]int32
	nodes   []*nodeAgg
	edges   map[edgeKey]*edgeAgg
	names   nameLists // the edges' process lists
	// edgeBlock: where the next edge aggregate is allocated (see edge).
	edgeBlock []edgeAgg
	traffic   map[pairKey]*trafficAgg
	peers     map[peerKey]uint32
	peerNodes []int32 // by peer endpoint ID (less peerBit)
	cache     addrMap[resolved]
	protos    []string

	// The host pairs whose server is a scanned host, which Graph folds, as
	// packed records (pairs.go), each pair once:
	//   - pending: one end has reported the pair while the other end, a
	//     scanned host, has not been added yet: in that host's
	//     declared.waiting, completed when it is added.
	//   - held: both ends are in. Such a pair can still be moved by a
	//     forward (its server is a DNAT router) or receive one (its server
	//     is the router's backend) from a router added later, so it is
	//     folded by Graph, into copies.
	// Pairs with an unscanned server are neither and are folded when
	// complete. Graph folds pending and held pairs alike.
	held pairArena
	// ips are the server addresses of the stored pairs and the addresses
	// of listeners, by index (ipIdx).
	ips   []netip.Addr
	ipIdx map[netip.Addr]uint32
	// listeners: the listeners of every host added, a host's together
	// (declared.listen), by protocol and port; hosts with the same list
	// share it (listenLists finds it by a hash and its length).
	listeners   []listener
	listenLists map[[2]uint64]uint32
	seed        maphash.Seed
	// forwards: a port a scanned host forwards (a DNAT router) to another
	// scanned host, learned from the router's records with a backend.
	forwards map[fwdKey]forward
	// The snapshot being added: its view of each host pair, reused.
	addIdx   map[hostPairKey]int32
	addFast  map[uint64]int32 // addIdx by a word (see Add's view)
	addKeys  []hostPairKey
	addPairs []hostPair
	addEdges []*edgeAgg // each pair's edge, with the pair's hosts in
	// The pairs that waited for the snapshot being added (takeWaiting).
	waitIdx   map[hostPairKey]int32
	waitKeys  []hostPairKey
	waitPairs []hostPair

	count    int
	windowed int // snapshots with an observation window
	newest   time.Time
	clock    time.Time // the merge's clock; later scan times are not trusted

	// Workloads and namespaces (workload.go): the snapshot being added,
	// and, with By "workload", records whose far end is another scanned
	// host, waiting for Graph to name that end's workload.
	idx      *hostIndex
	far      map[int32]*farWorkloads
	deferred []pendingRecord
}

// NewMerger returns an empty Merger.
func NewMerger(opts MergeOptions) (*Merger, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ext := opts.External
	by, _ := ParseBy(string(opts.By))
	clock := opts.Now
	if clock.IsZero() {
		clock = time.Now()
	}
	return &Merger{
		by: by, ext: ext, clock: clock,
		ident:       map[string]int32{},
		addrs:       newAddrMap[int32](),
		domains:     map[string]int32{},
		nodeIdx:     map[nodeKey]int32{},
		edges:       map[edgeKey]*edgeAgg{},
		ipIdx:       map[netip.Addr]uint32{},
		seed:        maphash.MakeSeed(),
		listenLists: map[[2]uint64]uint32{},
		forwards:    map[fwdKey]forward{},
		addIdx:      map[hostPairKey]int32{},
		addFast:     map[uint64]int32{},
		waitIdx:     map[hostPairKey]int32{},
		traffic:     map[pairKey]*trafficAgg{},
		peers:       map[peerKey]uint32{},
		cache:       newAddrMap[resolved](),
	}, nil
}

// Declare makes a host known, so that peers' records pointing at its
// addresses or domain resolve to its node. Declaring a host twice is a no-op.
func (m *Merger) Declare(h snapshot.Host) {
	m.declare(h)
}

func (m *Merger) declare(h snapshot.Host) int32 {
	id := Identity(h)
	if i, ok := m.ident[id]; ok {
		return i
	}
	i := int32(len(m.hosts))
	m.hosts = append(m.hosts, declared{hostname: h.Hostname, ident: id, node: m.hostNode(h), nodeIdx: -1})
	m.ident[id] = i
	// Link-local addresses resolve peers too, without their zone: the
	// interface name is the scanning host's own, and a peer's record says
	// nothing of it. One claimed by several hosts (fe80::1 on many links)
	// is ambiguous like any other.
	for _, a := range slices.Concat(h.Addresses, h.LinkLocal) {
		if a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		a = a.Unmap().WithZone("")
		if j, ok := m.addrs.get(a); ok && j != i {
			m.addrs.set(a, -1)
		} else {
			m.addrs.set(a, i)
		}
	}
	if h.Domain != "" {
		if j, ok := m.domains[h.Domain]; ok && j != i {
			m.domains[h.Domain] = -1
		} else {
			m.domains[h.Domain] = i
		}
	}
	return i
}

// shareListeners returns where in m.listeners the list that starts at
// start, the last, is kept: where an equal list of another host is (which
// it then drops), else start. The hosts of a group mostly have the same.
func (m *Merger) shareListeners(start int) uint32 {
	own := m.listeners[start:]
	var h maphash.Hash
	h.SetSeed(m.seed)
	for _, l := range own {
		h.Write([]byte{byte(l.proto), byte(l.proto >> 8), byte(l.port), byte(l.port >> 8)})
		h.Write(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, l.addr), l.process))
	}
	k := [2]uint64{h.Sum64(), uint64(len(own))}
	if at, ok := m.listenLists[k]; ok && slices.Equal(m.listeners[at:int(at)+len(own)], own) {
		m.listeners = m.listeners[:start]
		return at
	}
	m.listenLists[k] = uint32(start)
	return uint32(start)
}

// addrMap is a map keyed by addresses, IPv4 ones by their four bytes: a
// fleet has one or two per host, and a key of four bytes takes a fifth of
// the memory of a netip.Addr's and is quicker to find.
type addrMap[V any] struct {
	v4    map[[4]byte]V
	other map[netip.Addr]V
}

func newAddrMap[V any]() addrMap[V] {
	return addrMap[V]{v4: map[[4]byte]V{}, other: map[netip.Addr]V{}}
}

func (a *addrMap[V]) get(ip netip.Addr) (V, bool) {
	if ip.Is4() {
		v, ok := a.v4[ip.As4()]
		return v, ok
	}
	v, ok := a.other[ip]
	return v, ok
}

func (a *addrMap[V]) set(ip netip.Addr, v V) {
	if ip.Is4() {
		a.v4[ip.As4()] = v
	} else {
		a.other[ip] = v
	}
}

// AmbiguousAddresses lists addresses that several declared hosts claim (a
// docker bridge, a shared VIP); they are not used to resolve peers.
func (m *Merger) AmbiguousAddresses() []netip.Addr {
	var out []netip.Addr
	for a, i := range m.addrs.v4 {
		if i < 0 {
			out = append(out, netip.AddrFrom4(a))
		}
	}
	for a, i := range m.addrs.other {
		if i < 0 {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (m *Merger) hostNode(h snapshot.Host) nodeKey {
	if m.by != ByHost && h.Hostgroup != "" {
		return nodeKey{KindHostgroup, h.Hostgroup}
	}
	return nodeKey{KindHost, h.Label()}
}

func (m *Merger) node(k nodeKey) int32 {
	if i, ok := m.nodeIdx[k]; ok {
		return i
	}
	i := int32(len(m.nodes))
	m.nodes = append(m.nodes, &nodeAgg{key: k})
	m.nodeIdx[k] = i
	return i
}

func isLoopback(ip netip.Addr, hostgroup string) bool {
	return ip.Unmap().IsLoopback() || hostgroup == "localhost"
}

// resolve finds the node and endpoint of a remote peer of host self (whose
// node is local): the host itself for loopback, a scanned host by address or
// domain, the inventory's hostgroup or domain, else an external group.
func (m *Merger) resolve(self, local int32, ip netip.Addr, hostgroup, domain string) (int32, uint32) {
	ip = ip.Unmap().WithZone("")
	if isLoopback(ip, hostgroup) || m.idx != nil && m.idx.isOwn(ip) {
		return local, uint32(self)
	}
	if i, ok := m.addrs.get(ip); ok && i >= 0 {
		return m.hostNodeIdx(i), uint32(i)
	}
	if domain != "" {
		if i, ok := m.domains[domain]; ok && i >= 0 {
			return m.hostNodeIdx(i), uint32(i)
		}
	}
	if c, ok := m.cache.get(ip); ok && c.hostgroup == hostgroup && c.domain == domain {
		return c.node, c.ep
	}
	var k nodeKey
	switch {
	case m.by != ByHost && hostgroup != "":
		k = nodeKey{KindHostgroup, hostgroup}
	case domain != "":
		k = nodeKey{KindHost, domain}
	case hostgroup != "":
		k = nodeKey{KindHost, ip.String()}
	default:
		k = nodeKey{KindExternal, externalName(ip, m.ext)}
	}
	n := m.node(k)
	pk := peerKey{ip, n}
	ep, ok := m.peers[pk]
	if !ok {
		ep = peerBit | uint32(len(m.peers))
		m.peers[pk] = ep
		m.peerNodes = append(m.peerNodes, n)
		m.nodes[n].peers++
	}
	if domain != "" {
		m.nodes[n].domains.add(domain)
	}
	m.cache.set(ip, resolved{hostgroup, domain, n, ep})
	return n, ep
}

func (m *Merger) hostNodeIdx(i int32) int32 {
	h := &m.hosts[i]
	if h.nodeIdx < 0 {
		h.nodeIdx = m.node(h.node)
	}
	return h.nodeIdx
}

func (m *Merger) proto(p string) uint16 {
	for i, q := range m.protos {
		if q == p {
			return uint16(i)
		}
	}
	m.protos = append(m.protos, p)
	return uint16(len(m.protos) - 1)
}

func (m *Merger) edge(k edgeKey) *edgeAgg {
	e := m.edges[k]
	if e == nil {
		// Aggregates are allocated in blocks: millions of small
		// objects cost the allocator and the collector more.
		if len(m.edgeBlock) == cap(m.edgeBlock) {
			m.edgeBlock = make([]edgeAgg, 0, 1024)
		}
		m.edgeBlock = append(m.edgeBlock, edgeAgg{})
		e = &m.edgeBlock[len(m.edgeBlock)-1]
		if m.nodes[k.to].key.kind == KindExternal {
			// Its client hosts are the hosts whose own records have it
			// (an external node reports nothing, nor is it a DNAT's
			// backend), each added in its own Add: a count is enough, and
			// a set of them took most of a large fleet's memory.
			e.clientHosts.n = idCount
		}
		m.edges[k] = e
	}
	return e
}

// nameList is a list of names of a nameLists: its index there. The zero
// value is the empty list.
type nameList uint32

// nameLists holds each distinct list of names the edges have, once: a
// by-host merge has millions of edges and a few lists of process names,
// and a list of its own took an edge 48 bytes and an allocation for each
// end. Lists are sorted and never change; adding a name to a list gives
// another list.
type nameLists struct {
	lists [][]string             // by nameList; lists[0] is empty
	ids   map[string]uint32      // a name's index in names
	names []string               // by index
	plus  map[[2]uint32]nameList // (list, name index) -> the list with the name
	// The last add's list, name and result: most records add the name
	// the one before added to the same list.
	lastList, lastOut nameList
	lastName          string
}

// id returns name's index in t.names, adding it.
func (t *nameLists) id(name string) uint32 {
	if t.lists == nil {
		t.lists = [][]string{nil}
		t.ids = map[string]uint32{}
		t.plus = map[[2]uint32]nameList{}
	}
	return indexIn(t.ids, &t.names, name)
}

// add returns the list of l's names and name (l itself when it has it or
// name is empty).
func (t *nameLists) add(l nameList, name string) nameList {
	if name == "" {
		return l
	}
	if l == t.lastList && name == t.lastName {
		return t.lastOut
	}
	k := [2]uint32{uint32(l), t.id(name)}
	r, ok := t.plus[k]
	if !ok {
		r = l
		if old := t.lists[l]; !slices.Contains(old, name) {
			i, _ := slices.BinarySearch(old, name)
			r = nameList(len(t.lists))
			t.lists = append(t.lists, slices.Clip(slices.Insert(slices.Clip(old), i, name)))
		}
		t.plus[k] = r
	}
	t.lastList, t.lastName, t.lastOut = l, name, r
	return r
}

// get returns l's names, sorted; the caller must not change them.
func (t *nameLists) get(l nameList) []string {
	if l == 0 {
		return nil
	}
	return t.lists[l]
}

// Add folds one snapshot into the graph. The snapshot is not retained.
// Once the graph has more than MaxEntries nodes, edges and traffic pairs,
// Add fails with an error wrapping ErrTooLarge: memory stays bounded, and
// no graph render and diff would refuse is made.
func (m *Merger) Add(s *snapshot.Snapshot) error {
	if err := m.add(s); err != nil {
		return err
	}
	if n := len(m.nodes) + len(m.edges) + len(m.traffic); n > maxEntries {
		return fmt.Errorf("%w: more than %d nodes, edges and traffic pairs: %s", ErrTooLarge, maxEntries, tooLargeHint)
	}
	return nil
}

func (m *Merger) add(s *snapshot.Snapshot) error {
	self := m.declare(s.Host)
	if m.hosts[self].added {
		return fmt.Errorf("%s (%s): %w", s.Host.Hostname, Identity(s.Host), ErrDuplicateHost)
	}
	m.hosts[self].added = true
	m.count++
	if s.Window != nil {
		m.windowed++
	}
	if s.ScannedAt.After(m.newest) && !s.ScannedAt.After(m.clock.Add(MaxClockSkew)) {
		m.newest = s.ScannedAt
	}
	local := m.hostNodeIdx(self)
	agg := m.nodes[local]
	agg.scanned++
	agg.hosts.add(s.Host.Hostname)
	if s.Host.Domain != "" {
		agg.domains.add(s.Host.Domain)
	}
	sum := checkedSum{overflow: -1}
	if s.UnownedSockets > 0 {
		agg.incomplete.add(s.Host.Hostname)
		agg.unowned += s.UnownedSockets
	}
	start := len(m.listeners)
	for _, l := range s.Listeners {
		if l.Process != "" {
			m.listeners = append(m.listeners, listener{m.proto(l.Protocol), l.Port, m.ipIndex(l.Address.Unmap().WithZone("")), m.names.id(l.Process)})
		}
	}
	own := m.listeners[start:]
	slices.SortStableFunc(own, func(a, b listener) int { return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port)) })
	m.hosts[self].listen, m.hosts[self].listenN = m.shareListeners(start), uint32(len(own))
	// This snapshot's view of each host pair, folded below once all its
	// records are in.
	clear(m.addIdx)
	clear(m.addFast)
	m.addKeys, m.addPairs = m.addKeys[:0], m.addPairs[:0]
	m.addEdges = m.addEdges[:0]
	view := func(k hostPairKey) (*hostPair, *edgeAgg) {
		var (
			i  int32
			ok bool
			fk uint64
		)
		// Except by workload, a pair of this snapshot is one of its
		// endpoint (which has one node), protocol, port and direction:
		// a map with those packed in a word as its key is the quicker.
		fast := m.by != ByWorkload && k.edge.proto < 1<<15
		if fast {
			other, dir := k.server, uint64(0)
			if k.client != uint32(self) {
				other, dir = k.client, 1
			}
			fk = uint64(other)<<32 | uint64(k.edge.port)<<16 | uint64(k.edge.proto)<<1 | dir
			i, ok = m.addFast[fk]
		} else {
			i, ok = m.addIdx[k]
		}
		if !ok {
			i = int32(len(m.addPairs))
			if fast {
				m.addFast[fk] = i
			} else {
				m.addIdx[k] = i
			}
			m.addKeys = append(m.addKeys, k)
			m.addPairs = append(m.addPairs, hostPair{first: sum.at})
			m.addEdges = append(m.addEdges, m.pairEdge(k))
		}
		return &m.addPairs[i], m.addEdges[i]
	}
	m.idx = newHostIndex(s)
	defer func() { m.idx = nil }()
	var far *farWorkloads
	if m.by == ByWorkload {
		far = m.noteFar(self, s)
	}
	for i := range s.Connections {
		c := &s.Connections[i]
		sum.at = i
		remote, ep := m.resolve(self, local, c.RemoteIP, c.RemoteHostgroup, c.RemoteDomain)
		mine := m.workloadNode(local, c.Workload, s.Host.Hostname)
		switch {
		case ep == uint32(self):
			// Loopback, a container of the host, or the host's own
			// address: both ends are this host's.
			w := m.idx.peerWorkload(c)
			m.addRecord(c, uint32(self), mine, m.workloadNode(local, w, s.Host.Hostname), ep, w, &sum, view)
		case far != nil && ep&peerBit == 0:
			if c.Direction == snapshot.Upstream && c.Workload != "" {
				k := hostCall{int32(ep), protoPort{c.Protocol, c.Port}}
				far.calls[k] = addWorkload(far.calls[k], c.Workload)
			}
			m.deferred = append(m.deferred, pendingRecord{c: *c, self: self, peer: int32(ep), local: mine, peerEP: ep, at: i})
		default:
			m.addRecord(c, uint32(self), mine, remote, ep, "", &sum, view)
		}
	}
	// The pairs other hosts' snapshots reported with this host at the
	// other end: this snapshot completes them.
	m.takeWaiting(self)
	for i, k := range m.addKeys {
		p := &m.addPairs[i]
		switch {
		case k.server&peerBit != 0:
			// Nothing more will come for this pair, and nothing came
			// before: the server is not a scanned host.
			sum.at = p.first
			m.foldInto(&sum, m.addEdges[i], k, p)
		default:
			// Both ends are in if the other end is this host, not a
			// scanned host, or a host added before (whose view, if it
			// had one, waited for this one); else the pair waits.
			if j, ok := m.waitIdx[k]; ok {
				p.merge(m.waitPairs[j])
				delete(m.waitIdx, k)
			}
			m.store(k, p)
		}
	}
	// What waited and this snapshot had nothing for.
	for _, j := range m.waitIdx {
		m.store(m.waitKeys[j], &m.waitPairs[j])
	}
	// The edges live on in m.edges only, which Finish empties.
	clear(m.addEdges)
	if sum.overflow >= 0 {
		return fmt.Errorf("host %s: connections[%d]: its edge's total of %s overflows", s.Host.Hostname, sum.overflow, sum.what)
	}
	if s.Traffic != nil {
		for i, p := range s.Traffic.Peers {
			sum.at = i
			remote, _ := m.resolve(self, local, p.RemoteIP, p.RemoteHostgroup, p.RemoteDomain)
			if p.EgressBytes > 0 {
				t := m.pair(pairKey{local, remote})
				t.sender = sum.u64(t.sender, p.EgressBytes)
				t.seenSender = true
			}
			if p.IngressBytes > 0 {
				t := m.pair(pairKey{remote, local})
				t.receiver = sum.u64(t.receiver, p.IngressBytes)
				t.seenReceiver = true
			}
		}
	}
	if sum.overflow >= 0 {
		return fmt.Errorf("host %s: traffic.peers[%d]: its node pair's total of bytes overflows", s.Host.Hostname, sum.overflow)
	}
	return nil
}

func (v *endView) add(sum *checkedSum, process string, sockets int, c2s, s2c uint64) {
	v.seen = true
	v.named = v.named || process != ""
	v.sockets = sum.int(v.sockets, sockets)
	v.c2s = sum.u64(v.c2s, c2s)
	v.s2c = sum.u64(v.s2c, s2c)
}

// addRates adds one windowed record's bytes per second (client -> server,
// server -> client) to the view.
func (v *endView) addRates(sum *checkedSum, c2s, s2c float64) {
	v.windowed = true
	v.c2sRate = sum.f64(v.c2sRate, c2s)
	v.s2cRate = sum.f64(v.s2cRate, s2c)
}

// merge takes in the other end's view of the same pair.
func (p *hostPair) merge(q hostPair) {
	if !p.client.seen {
		p.client = q.client
	}
	if !p.server.seen {
		p.server = q.server
	}
	if !p.serverIP.IsValid() {
		p.serverIP = q.serverIP
	}
}

// pairEdge returns host pair k's edge, with the pair's client and server
// hosts added: a view (see addRecord) calls it once per pair, not once
// per record.
func (m *Merger) pairEdge(k hostPairKey) *edgeAgg {
	e := m.edge(k.edge)
	e.clientHosts.add(k.client)
	e.serverHosts.add(k.server)
	return e
}

// foldInto adds a host pair whose ends are all in to its edge's aggregate
// e: the larger of the two ends' counts, and the server's process from its
// listeners on that port when its own sockets named none (a connected UDP
// client's server, a server whose side of every connection was closing).
func (m *Merger) foldInto(sum *checkedSum, e *edgeAgg, k hostPairKey, p *hostPair) {
	switch {
	case p.client.seen && p.server.seen:
		e.pairsBoth++
	case p.client.seen:
		e.pairsClient++
	default:
		e.pairsServer++
	}
	e.sockets = sum.int(e.sockets, max(p.client.sockets, p.server.sockets))
	e.c2s = sum.u64(e.c2s, max(p.client.c2s, p.server.c2s))
	e.s2c = sum.u64(e.s2c, max(p.client.s2c, p.server.s2c))
	if p.client.windowed || p.server.windowed {
		x := e.extra()
		x.windowed = true
		x.c2sRate = sum.f64(x.c2sRate, max(p.client.c2sRate, p.server.c2sRate))
		x.s2cRate = sum.f64(x.s2cRate, max(p.client.s2cRate, p.server.s2cRate))
	}
	if p.server.named || k.server&peerBit != 0 || !m.hosts[k.server].added {
		return
	}
	h := &m.hosts[k.server]
	own := m.listeners[h.listen : h.listen+h.listenN]
	i, _ := slices.BinarySearchFunc(own, k.edge, func(l listener, k edgeKey) int {
		return cmp.Or(cmp.Compare(l.proto, k.proto), cmp.Compare(l.port, k.port))
	})
	for _, l := range own[i:] {
		if l.proto != k.edge.proto || l.port != k.edge.port {
			break
		}
		if servesIP(m.ips[l.addr], p.serverIP) {
			e.serverProcs = m.names.add(e.serverProcs, m.names.names[l.process])
		}
	}
}

// servesIP says whether a listener bound to addr takes connections to ip;
// with no ip known (only the server saw the pair) any listener but a
// loopback one is taken.
func servesIP(addr, ip netip.Addr) bool {
	switch {
	case addr.IsUnspecified():
		return true
	case !ip.IsValid():
		return !addr.IsLoopback()
	}
	return addr == ip
}

// checkedSum adds up non-negative counts and remembers the record (at) of
// the first sum that overflowed, instead of wrapping around.
type checkedSum struct {
	at, overflow int
	what         string // what overflowed
}

func (c *checkedSum) int(a, b int) int {
	if b > math.MaxInt-a {
		c.flag("sockets")
		return a
	}
	return a + b
}

func (c *checkedSum) u64(a, b uint64) uint64 {
	if a+b < a {
		c.flag("bytes")
		return a
	}
	return a + b
}

// f64 adds rates, which are finite and not negative (snapshot.Validate):
// a sum beyond the largest float64 is an overflow, not infinity.
func (c *checkedSum) f64(a, b float64) float64 {
	if a+b > math.MaxFloat64 {
		c.flag("bytes per second")
		return a
	}
	return a + b
}

func (c *checkedSum) flag(what string) {
	if c.overflow < 0 {
		c.overflow, c.what = c.at, what
	}
}

// addRecord puts one connection record into its host pair's view: self is
// the record's host, local its own end's node, remote and remoteEP the far
// end's node and endpoint, farWl the far end's workload where known. The
// record's processes, workloads and hosts go to the edge at once; its
// counts are folded with the pair's.
func (m *Merger) addRecord(c *snapshot.Connection, self uint32, local, remote int32, remoteEP uint32, farWl string,
	sum *checkedSum, view func(hostPairKey) (*hostPair, *edgeAgg)) {
	if c.Direction == snapshot.Upstream {
		k := edgeKey{local, remote, m.proto(c.Protocol), c.Port}
		p, e := view(hostPairKey{k, self, remoteEP})
		e.clientProcs = m.names.add(e.clientProcs, c.Process)
		e.addWorkloads(c.Workload, farWl)
		if c.DialledIP.IsValid() {
			e.addDialled(netip.AddrPortFrom(c.DialledIP.Unmap().WithZone(""), c.DialledPort))
		}
		p.client.add(sum, c.Process, sum.int(c.Sockets, c.Flows), c.BytesSent, c.BytesReceived)
		if w := c.Window; w != nil && !w.BytesUnknown {
			p.client.addRates(sum, w.BytesSentPerSecond, w.BytesReceivedPerSecond)
		}
		if !p.serverIP.IsValid() {
			p.serverIP = c.RemoteIP.Unmap().WithZone("")
		}
		return
	}
	m.noteForward(c, self)
	k := edgeKey{remote, local, m.proto(c.Protocol), c.Port}
	p, e := view(hostPairKey{k, remoteEP, self})
	e.serverProcs = m.names.add(e.serverProcs, c.Process)
	e.addWorkloads(farWl, c.Workload)
	p.server.add(sum, c.Process, sum.int(c.Sockets, c.Flows), c.BytesReceived, c.BytesSent)
	if w := c.Window; w != nil && !w.BytesUnknown {
		p.server.addRates(sum, w.BytesReceivedPerSecond, w.BytesSentPerSecond)
	}
}

// noteForward records a published port forwarded to another scanned host
// (a DNAT router's record with a backend): its clients' pairs go to that
// host, in Graph. self is the record's host.
func (m *Merger) noteForward(c *snapshot.Connection, self uint32) {
	if c.Direction != snapshot.Downstream || !c.BackendIP.IsValid() {
		return
	}
	if i, ok := m.addrs.get(c.BackendIP.Unmap().WithZone("")); ok && i >= 0 && uint32(i) != self {
		fk := fwdKey{self, m.proto(c.Protocol), c.Port}
		f := forward{m.hostNodeIdx(i), c.BackendPort, uint32(i)}
		if old, ok := m.forwards[fk]; !ok || m.fwdLess(f, old) {
			m.forwards[fk] = f
		}
	}
}

func (m *Merger) pair(k pairKey) *trafficAgg {
	t := m.traffic[k]
	if t == nil {
		t = &trafficAgg{}
		m.traffic[k] = t
	}
	return t
}

// clone copies an edge aggregate, sharing nothing that Graph changes.
func (e *edgeAgg) clone() *edgeAgg {
	c := *e
	if e.more != nil {
		x := *e.more
		x.clientWls, x.serverWls = slices.Clone(x.clientWls), slices.Clone(x.serverWls)
		x.dialled = slices.Clone(x.dialled)
		c.more = &x
	}
	c.clientHosts = e.clientHosts.clone()
	c.serverHosts = e.serverHosts.clone()
	return &c
}

// plus takes in more sockets of the same host at this end, with sum's
// overflow checks.
func (v *endView) plus(sum *checkedSum, w endView) {
	v.seen = v.seen || w.seen
	v.named = v.named || w.named
	v.sockets = sum.int(v.sockets, w.sockets)
	v.c2s = sum.u64(v.c2s, w.c2s)
	v.s2c = sum.u64(v.s2c, w.s2c)
	// A float sum too large is +Inf, which foldInto's checked sum reports.
	v.windowed = v.windowed || w.windowed
	v.c2sRate += w.c2sRate
	v.s2cRate += w.s2cRate
}

// widen takes in another host's view of the same sockets at this end: the
// larger of the two counts.
func (v *endView) widen(w endView) {
	v.seen = v.seen || w.seen
	v.named = v.named || w.named
	v.sockets = max(v.sockets, w.sockets)
	v.c2s = max(v.c2s, w.c2s)
	v.s2c = max(v.s2c, w.s2c)
	v.windowed = v.windowed || w.windowed
	v.c2sRate = max(v.c2sRate, w.c2sRate)
	v.s2cRate = max(v.s2cRate, w.s2cRate)
}

// forwarded moves each host pair whose server is a scanned DNAT router, on
// a port the router forwards to another scanned host (see forwards), to
// that host's port: the client depends on the backend, through the router.
// It works on host pairs rather than on folded edges, because only per pair
// can the moved sockets be set against the backend's own record of the
// same connections (the larger of the two ends, never the sum), and because
// a router may be added before or after its clients and its backend: pairs
// with a scanned server are held until Graph for this (see Merger.pairs).
//
// Of a moved pair, the client's own record moves (summed with what the
// client says of the backend directly); the router's record of the flow
// (the router is neither end) counts as the server's side only where the
// client was not scanned, and then as the larger of it and the backend's
// record. The moved pair takes the source edge's client processes (edges
// are Graph's copies). A pair is moved once: a backend that forwards the
// port again is not followed. It returns the pairs moved away, and the
// pairs moved to with their views, the destination's own taken in; Graph
// folds those instead of the held and pending ones. The Merger is not
// changed, so a second Graph gives the same graph.
func (m *Merger) forwarded(sum *checkedSum, edges *edgeOverlay) (moved map[hostPairKey]struct{}, to map[hostPairKey]hostPair) {
	if len(m.forwards) == 0 {
		return nil, nil
	}
	type move struct {
		from, to hostPairKey
		p        hostPair
	}
	var moves []move
	m.eachPair(func(k hostPairKey, p *hostPair, _ *byte) {
		f, ok := m.forwards[fwdKey{k.server, k.edge.proto, k.edge.port}]
		if !ok || k.edge.from == f.node {
			return
		}
		moves = append(moves, move{k, hostPairKey{edgeKey{k.edge.from, m.backendNode(f, k.edge.proto), k.edge.proto, f.port}, k.client, f.ep}, *p})
	})
	moved = make(map[hostPairKey]struct{}, len(moves))
	own := make(map[hostPairKey]hostPair, len(moves)) // the destinations' own views
	for _, mv := range moves {
		moved[mv.from] = struct{}{}
		own[mv.to] = hostPair{}
	}
	m.eachPair(func(k hostPairKey, p *hostPair, _ *byte) {
		if _, ok := own[k]; ok {
			own[k] = *p
		}
	})
	to = make(map[hostPairKey]hostPair, len(moves))
	for _, mv := range moves {
		dst, ok := to[mv.to]
		if _, gone := moved[mv.to]; !ok && !gone {
			// The destination's own views, unless it moved on itself.
			dst = own[mv.to]
		}
		if mv.p.client.seen {
			dst.client.plus(sum, mv.p.client)
		} else {
			dst.server.widen(mv.p.server)
		}
		to[mv.to] = dst
		e := edges.get(mv.to.edge)
		if src := edges.peek(mv.from.edge); mv.p.client.seen && src != nil {
			for _, p := range m.names.get(src.clientProcs) {
				e.clientProcs = m.names.add(e.clientProcs, p)
			}
			client, _ := src.wls()
			for _, w := range client {
				e.addWorkloads(w, "")
			}
			// What the client dialled: the router's port.
			if ip := mv.p.serverIP; ip.IsValid() {
				e.addDialled(netip.AddrPortFrom(ip, mv.from.edge.port))
			}
		}
		e.clientHosts.add(mv.to.client)
		e.serverHosts.add(mv.to.server)
	}
	return moved, to
}

// backendNode is the node a forward's pairs move to: the backend host's,
// or under By "workload" the node of the one workload that listens on the
// forwarded port there (where the backend's own records of the same
// connections are), when such a node exists.
func (m *Merger) backendNode(f forward, proto uint16) int32 {
	if m.by != ByWorkload {
		return f.node
	}
	fw := m.far[int32(f.ep)]
	if fw == nil {
		return f.node
	}
	if wls := fw.listen[protoPort{m.protos[proto], f.port}]; len(wls) == 1 && wls[0] != "" {
		if n, ok := m.nodeIdx[nodeKey{KindWorkload, m.nodes[f.node].key.name + "/" + wls[0]}]; ok {
			return n
		}
	}
	return f.node
}

// Graph builds the graph from what was added so far. The Merger is not
// changed: more snapshots can still be added and Graph called again.
func (m *Merger) Graph() (*Graph, error) { return m.graph(false) }

// Finish is Graph for a Merger that is done: it hands its edge aggregates
// over to the graph's edges one at a time (each freed as its edge is made),
// so that the two never take memory side by side. The Merger must not be
// used after.
func (m *Merger) Finish() (*Graph, error) { return m.graph(true) }

// edgeOverlay is Graph's view of the edges: the Merger's aggregates, with
// copies (made on first change) of those the held and pending pairs and
// the forwards change. A nil entry is an edge all of whose pairs moved away.
type edgeOverlay struct {
	base    map[edgeKey]*edgeAgg
	changed map[edgeKey]*edgeAgg
}

// get returns the edge's copy, made from the Merger's aggregate (or empty)
// on first use.
func (o *edgeOverlay) get(k edgeKey) *edgeAgg {
	if e, ok := o.changed[k]; ok && e != nil {
		return e
	}
	e := &edgeAgg{}
	if b := o.base[k]; b != nil {
		e = b.clone()
	}
	o.changed[k] = e
	return e
}

// peek returns the edge as Graph sees it now, without copying it.
func (o *edgeOverlay) peek(k edgeKey) *edgeAgg {
	if e, ok := o.changed[k]; ok {
		return e
	}
	return o.base[k]
}

// build makes the graph's header, nodes and traffic (in no order) and the
// edges as Graph sees them: ids are the node IDs by Merger node index.
func (m *Merger) build() (*Graph, []string, *edgeOverlay, error) {
	if err := m.settleDeferred(); err != nil {
		return nil, nil, nil, err
	}
	generated := m.newest
	if generated.IsZero() && m.count > 0 {
		// Every snapshot is dated in the future: the merge's clock is the
		// best time there is.
		generated = m.clock.Truncate(time.Second)
	}
	g := &Graph{
		Schema:            Schema,
		GeneratedAt:       generated.UTC(),
		By:                string(m.by),
		External:          m.ext.String(),
		Snapshots:         m.count,
		WindowedSnapshots: m.windowed,
	}
	// A name shared by nodes of different kinds (a hostgroup named like a
	// host) gets the kind as a prefix, so IDs stay unique whatever the order.
	names := map[string]int{}
	for _, n := range m.nodes {
		names[n.key.name]++
	}
	ids := make([]string, len(m.nodes))
	g.Nodes = make([]*Node, 0, len(m.nodes))
	for i, n := range m.nodes {
		ids[i] = n.key.name
		if names[n.key.name] > 1 {
			ids[i] = string(n.key.kind) + ":" + n.key.name
		}
		g.Nodes = append(g.Nodes, &Node{
			ID:        ids[i],
			Kind:      n.key.kind,
			HostCount: hostCount(n),
			Hosts:     n.hosts.list(),
			Domains:   n.domains.list(),

			IncompleteHosts: n.incomplete.list(),
			UnownedSockets:  n.unowned,
		})
	}
	// The held pairs (both ends in, server scanned) and those still
	// pending (seen by one end only: the other end's snapshot had nothing
	// for them, or was declared and never added, as it could not be read)
	// are folded into copies of their edges, after the forwards have moved
	// some of them, so that more snapshots can still be added and Graph
	// called again with the same result. Folding sums, and moving sums or
	// takes the larger; the pairs moved to are folded in key order, as
	// floats (bytes per second) sum differently in another order.
	edges := &edgeOverlay{base: m.edges, changed: map[edgeKey]*edgeAgg{}}
	sum := checkedSum{overflow: -1}
	moved, to := m.forwarded(&sum, edges)
	m.eachPair(func(k hostPairKey, p *hostPair, _ *byte) {
		_, gone := moved[k]
		_, taken := to[k]
		if !gone && !taken {
			m.foldInto(&sum, edges.get(k.edge), k, p)
		}
	})
	// In key order: a sum of bytes per second depends on its order.
	for _, k := range slices.SortedFunc(maps.Keys(to), compareHostPairs) {
		p := to[k]
		m.foldInto(&sum, edges.get(k.edge), k, &p)
	}
	if sum.overflow >= 0 {
		return nil, nil, nil, fmt.Errorf("merge: an edge's total of %s overflows", sum.what)
	}
	// An edge all of whose pairs moved away is gone.
	for k := range moved {
		if e := edges.peek(k.edge); e != nil && e.pairsBoth+e.pairsClient+e.pairsServer == 0 {
			edges.changed[k.edge] = nil
		}
	}
	for k, t := range m.traffic {
		out := &Traffic{From: ids[k.from], To: ids[k.to], Bytes: max(t.sender, t.receiver)}
		switch {
		case t.seenSender && t.seenReceiver:
			out.SeenFrom = SeenBoth
		case t.seenSender:
			out.SeenFrom = SeenSender
		default:
			out.SeenFrom = SeenReceiver
		}
		g.Traffic = append(g.Traffic, out)
	}
	return g, ids, edges, nil
}

func (m *Merger) graph(consume bool) (*Graph, error) {
	g, ids, edges, err := m.build()
	if err != nil {
		return nil, err
	}
	n := len(m.edges)
	for k, e := range edges.changed {
		if _, ok := m.edges[k]; !ok && e != nil {
			n++
		}
	}
	g.Edges = make([]*Edge, 0, n)
	// Edges are allocated in blocks: one allocation per edge costs more
	// time, and in the Go allocator's rounding, memory.
	var block []Edge
	emit := func(k edgeKey, e *edgeAgg, own bool) {
		if len(block) == cap(block) {
			block = make([]Edge, 0, 4096)
		}
		block = append(block, m.toEdge(ids, k, e))
		out := &block[len(block)-1]
		if x := out.EdgeNames; !own && x != nil {
			// The Merger's own lists (in toEdge's new EdgeNames): Graph
			// sorts its copies.
			x.ClientProcesses, x.ServerProcesses = slices.Clone(x.ClientProcesses), slices.Clone(x.ServerProcesses)
			x.ClientWorkloads, x.ServerWorkloads = slices.Clone(x.ClientWorkloads), slices.Clone(x.ServerWorkloads)
			x.Dialled = slices.Clone(x.Dialled)
		}
		g.Edges = append(g.Edges, out)
	}
	// Edges the forwards made, then the Merger's (changed or not).
	for k, e := range edges.changed {
		if _, ok := m.edges[k]; !ok && e != nil {
			emit(k, e, true)
		}
	}
	for k, e := range m.edges {
		if c, ok := edges.changed[k]; ok {
			if c != nil {
				emit(k, c, true)
			}
		} else {
			emit(k, e, consume)
		}
		if consume {
			delete(m.edges, k)
		}
	}
	if err := g.index(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return g, nil
}

// toEdge makes the graph edge of aggregate e, whose key is k; its lists
// are e's own.
func (m *Merger) toEdge(ids []string, k edgeKey, e *edgeAgg) Edge {
	var out Edge
	var names EdgeNames
	var bytes EdgeBytes
	m.fillEdge(&out, &names, &bytes, ids, k, e)
	// New copies of the lists' and counts' holders: out keeps them.
	out.EdgeNames, out.EdgeBytes = edgeNames(names), edgeBytes(bytes)
	return out
}

// fillEdge sets *out to the graph edge of aggregate e, whose key is k,
// with its lists in *names and its counts in *bytes (out points at them
// when they are not empty): a writer reuses the three for every edge.
func (m *Merger) fillEdge(out *Edge, names *EdgeNames, bytes *EdgeBytes, ids []string, k edgeKey, e *edgeAgg) {
	var x edgeMore
	if e.more != nil {
		x = *e.more
	}
	*names = EdgeNames{
		ClientProcesses: m.names.get(e.clientProcs),
		ServerProcesses: m.names.get(e.serverProcs),
		ClientWorkloads: x.clientWls,
		ServerWorkloads: x.serverWls,
		Dialled:         x.dialled,
	}
	*bytes = EdgeBytes{
		PortBytesToServer:      e.c2s,
		PortBytesToClient:      e.s2c,
		Windowed:               x.windowed,
		BytesPerSecondToServer: x.c2sRate,
		BytesPerSecondToClient: x.s2cRate,
	}
	*out = Edge{
		From: ids[k.from], To: ids[k.to], Protocol: m.protos[k.proto], Port: k.port,
		SeenFrom:    e.seenFrom(),
		ClientHosts: e.clientHosts.len(),
		ServerHosts: e.serverHosts.len(),
		Sockets:     e.sockets,
	}
	if !names.empty() {
		out.EdgeNames = names
	}
	if *bytes != (EdgeBytes{}) {
		out.EdgeBytes = bytes
	}
}

// seenFrom says what saw the edge's host pairs: "both" when every pair
// was seen from both ends, "client" or "server" when every pair was seen
// from that end only, "mixed" otherwise.
func (e *edgeAgg) seenFrom() SeenFrom {
	switch {
	case e.pairsClient == 0 && e.pairsServer == 0:
		return SeenBoth
	case e.pairsBoth == 0 && e.pairsServer == 0:
		return SeenClient
	case e.pairsBoth == 0 && e.pairsClient == 0:
		return SeenServer
	}
	return SeenMixed
}

// hostCount is a node's host_count: scanned hosts plus unscanned peers,
// and for a workload the scanned hosts running it.
func hostCount(n *nodeAgg) int {
	if n.key.kind == KindWorkload {
		return n.hosts.len()
	}
	return n.scanned + n.peers
}

// newer says whether snapshot a of a host is to be merged rather than b: a
// sane scan time (not after the merge's clock plus MaxClockSkew) beats one
// in the future, then the newer wins.
func (m *Merger) newer(a, b *snapshot.Snapshot) bool {
	limit := m.clock.Add(MaxClockSkew)
	if fa, fb := a.ScannedAt.After(limit), b.ScannedAt.After(limit); fa != fb {
		return fb
	}
	return a.ScannedAt.After(b.ScannedAt)
}

// Merge builds a graph from snapshots held in memory. Of several snapshots
// of one host (same Identity) the newest with a sane scan time is merged
// (on a tie, the first);
// fleet.ReadInputs already does this and reports it. For a fleet too large
// to hold, use fleet.MergeInputs, which streams.
func Merge(snaps []*snapshot.Snapshot, opts MergeOptions) (*Graph, error) {
	m, err := NewMerger(opts)
	if err != nil {
		return nil, err
	}
	newest := map[string]*snapshot.Snapshot{}
	var order []string
	for _, s := range snaps {
		if s == nil {
			continue
		}
		id := Identity(s.Host)
		old, ok := newest[id]
		if !ok {
			order = append(order, id)
		}
		if !ok || m.newer(s, old) {
			newest[id] = s
		}
	}
	for _, id := range order {
		m.Declare(newest[id].Host)
	}
	for _, id := range order {
		if err := m.Add(newest[id]); err != nil {
			return nil, err
		}
	}
	return m.Finish()
}
