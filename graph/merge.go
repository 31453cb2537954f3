package graph

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// MergeOptions says how snapshots become nodes.
type MergeOptions struct {
	// By is ByHostgroup (the default when empty), ByHost or ByWorkload.
	By string
	// External groups peers that no snapshot and no inventory explains:
	// "ip" (the default when empty) makes one node per IP, "collapse" one
	// node named "external", "cidr:N" one node per IPv4 /N prefix (IPv6
	// peers by /64), "cidr:N,M" per IPv4 /N and IPv6 /M.
	External string
}

type externalMode struct {
	collapse, cidr bool
	bits4, bits6   int
}

func (m externalMode) String() string {
	switch {
	case m.collapse:
		return "collapse"
	case m.cidr:
		return "cidr:" + strconv.Itoa(m.bits4) + "," + strconv.Itoa(m.bits6)
	}
	return "ip"
}

// parseExternal validates an External option.
func parseExternal(s string) (externalMode, error) {
	switch s {
	case "", "ip":
		return externalMode{}, nil
	case "collapse":
		return externalMode{collapse: true}, nil
	}
	spec, ok := strings.CutPrefix(s, "cidr:")
	if !ok {
		return externalMode{}, fmt.Errorf("%q: want ip, collapse, cidr:N or cidr:N,M", s)
	}
	v4, v6, hasV6 := strings.Cut(spec, ",")
	m := externalMode{cidr: true, bits6: 64}
	var err error
	if m.bits4, err = strconv.Atoi(v4); err != nil || m.bits4 < 0 || m.bits4 > 32 {
		return externalMode{}, fmt.Errorf("%q: IPv4 prefix length must be 0 to 32", s)
	}
	if hasV6 {
		if m.bits6, err = strconv.Atoi(v6); err != nil || m.bits6 < 0 || m.bits6 > 128 {
			return externalMode{}, fmt.Errorf("%q: IPv6 prefix length must be 0 to 128", s)
		}
	}
	return m, nil
}

// Validate checks the options; the zero value is valid.
func (o MergeOptions) Validate() error {
	if o.By != "" && o.By != ByHostgroup && o.By != ByHost && o.By != ByWorkload {
		return fmt.Errorf("by: %q is not %s, %s or %s", o.By, ByHostgroup, ByHost, ByWorkload)
	}
	if _, err := parseExternal(o.External); err != nil {
		return fmt.Errorf("external: %w", err)
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

type nodeKey struct{ kind, name string }

type nodeAgg struct {
	key     nodeKey
	scanned int // snapshots added into this node
	peers   int // distinct unscanned IPs resolved into this node
	hosts   map[string]struct{}
	domains map[string]struct{}
}

type edgeKey struct {
	from, to int32
	proto    uint16 // index in Merger.protos
	port     uint16
}

// idSet is a set of endpoint IDs tuned for many adds of few distinct IDs:
// it appends, skips a repeat of the last ID, and sorts out duplicates when
// the unsorted tail outgrows the sorted head, so it stays within a small
// factor of its distinct size without a map's per-insert cost.
type idSet struct {
	ids    []uint32
	sorted int
}

func (s *idSet) add(id uint32) {
	if n := len(s.ids); n > 0 && s.ids[n-1] == id {
		return
	}
	s.ids = append(s.ids, id)
	if len(s.ids) >= 2*s.sorted+256 {
		s.compact()
	}
}

func (s *idSet) compact() {
	slices.Sort(s.ids)
	s.ids = slices.Compact(s.ids)
	s.sorted = len(s.ids)
}

func (s *idSet) len() int {
	s.compact()
	return len(s.ids)
}

// edgeAgg keeps the two ends' observations apart until Graph: sockets and
// byte counters are the max of the ends, so a dependency seen from both is
// not counted twice.
type edgeAgg struct {
	clientProcs, serverProcs []string
	clientWls, serverWls     []string
	clientHosts, serverHosts idSet
	seenClient, seenServer   bool
	sockClient, sockServer   int
	// c2s: bytes client -> server; s2c: server -> client; by which end.
	c2sClient, s2cClient, c2sServer, s2cServer uint64
}

type pairKey struct{ from, to int32 }

type trafficAgg struct {
	sender, receiver         uint64
	seenSender, seenReceiver bool
}

type peerKey struct {
	ip   netip.Addr
	node int32
}

type declared struct {
	host    snapshot.Host
	node    nodeKey
	nodeIdx int32 // -1 until the node exists
	added   bool
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
// the graph rather than with the number of inputs.
//
// A remote IP resolves to a scanned host only if that host was declared
// (Declare, or Add) before the record referencing it was added. Declare every
// host first, then Add each chosen snapshot; MergeInputs and Merge do so.
// Newest-wins between snapshots of one host is the caller's choice: Add
// refuses a second snapshot of a host with ErrDuplicateHost.
type Merger struct {
	by  string
	ext externalMode

	hosts   []declared
	ident   map[string]int32
	addrs   map[netip.Addr]int32 // -1: claimed by several hosts
	domains map[string]int32     // -1: claimed by several hosts

	nodeIdx map[nodeKey]int32
	nodes   []*nodeAgg
	edges   map[edgeKey]*edgeAgg
	traffic map[pairKey]*trafficAgg
	peers   map[peerKey]uint32
	cache   map[netip.Addr]resolved
	protos  []string

	count  int
	newest time.Time

	// Workloads and namespaces (workload.go): the snapshot being added,
	// and, with By "workload", records waiting for Graph.
	idx     *hostIndex
	far     map[int32]*farWorkloads
	pending []pendingRecord
}

// NewMerger returns an empty Merger.
func NewMerger(opts MergeOptions) (*Merger, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ext, _ := parseExternal(opts.External)
	by := opts.By
	if by == "" {
		by = ByHostgroup
	}
	return &Merger{
		by: by, ext: ext,
		ident:   map[string]int32{},
		addrs:   map[netip.Addr]int32{},
		domains: map[string]int32{},
		nodeIdx: map[nodeKey]int32{},
		edges:   map[edgeKey]*edgeAgg{},
		traffic: map[pairKey]*trafficAgg{},
		peers:   map[peerKey]uint32{},
		cache:   map[netip.Addr]resolved{},
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
	m.hosts = append(m.hosts, declared{host: h, node: m.hostNode(h), nodeIdx: -1})
	m.ident[id] = i
	for _, a := range h.Addresses {
		if a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		a = a.Unmap()
		if j, ok := m.addrs[a]; ok && j != i {
			m.addrs[a] = -1
		} else {
			m.addrs[a] = i
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

// AmbiguousAddresses lists addresses that several declared hosts claim (a
// docker bridge, a shared VIP); they are not used to resolve peers.
func (m *Merger) AmbiguousAddresses() []netip.Addr {
	var out []netip.Addr
	for a, i := range m.addrs {
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
	m.nodes = append(m.nodes, &nodeAgg{key: k, hosts: map[string]struct{}{}, domains: map[string]struct{}{}})
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
	ip = ip.Unmap()
	if isLoopback(ip, hostgroup) || m.idx != nil && m.idx.own[ip] {
		return local, uint32(self)
	}
	if i, ok := m.addrs[ip]; ok && i >= 0 {
		return m.hostNodeIdx(i), uint32(i)
	}
	if domain != "" {
		if i, ok := m.domains[domain]; ok && i >= 0 {
			return m.hostNodeIdx(i), uint32(i)
		}
	}
	if c, ok := m.cache[ip]; ok && c.hostgroup == hostgroup && c.domain == domain {
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
		m.nodes[n].peers++
	}
	if domain != "" {
		m.nodes[n].domains[domain] = struct{}{}
	}
	m.cache[ip] = resolved{hostgroup, domain, n, ep}
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
		e = &edgeAgg{}
		m.edges[k] = e
	}
	return e
}

func addProcess(list []string, p string) []string {
	if p == "" || slices.Contains(list, p) {
		return list
	}
	return append(list, p)
}

// Add folds one snapshot into the graph. The snapshot is not retained.
func (m *Merger) Add(s *snapshot.Snapshot) error {
	self := m.declare(s.Host)
	if m.hosts[self].added {
		return fmt.Errorf("%s (%s): %w", s.Host.Hostname, Identity(s.Host), ErrDuplicateHost)
	}
	m.hosts[self].added = true
	m.count++
	if s.ScannedAt.After(m.newest) {
		m.newest = s.ScannedAt
	}
	local := m.hostNodeIdx(self)
	agg := m.nodes[local]
	agg.scanned++
	agg.hosts[s.Host.Hostname] = struct{}{}
	if s.Host.Domain != "" {
		agg.domains[s.Host.Domain] = struct{}{}
	}
	m.idx = newHostIndex(s)
	defer func() { m.idx = nil }()
	var far *farWorkloads
	if m.by == ByWorkload {
		far = m.noteFar(self, s)
	}
	for i := range s.Connections {
		c := &s.Connections[i]
		remote, ep := m.resolve(self, local, c.RemoteIP, c.RemoteHostgroup, c.RemoteDomain)
		mine := m.workloadNode(local, c.Workload, s.Host.Hostname)
		switch {
		case ep == uint32(self):
			// Loopback, a container of the host, or the host's own
			// address: both ends are this host's.
			w := m.idx.peerWorkload(c)
			m.addRecord(c, uint32(self), mine, m.workloadNode(local, w, s.Host.Hostname), ep, w)
		case far != nil && ep&peerBit == 0:
			if c.Direction == snapshot.Upstream && c.Workload != "" {
				k := hostCall{int32(ep), protoPort{c.Protocol, c.Port}}
				far.calls[k] = addWorkload(far.calls[k], c.Workload)
			}
			m.pending = append(m.pending, pendingRecord{c: *c, self: self, peer: int32(ep), local: mine, peerEP: ep})
		default:
			m.addRecord(c, uint32(self), mine, remote, ep, "")
		}
	}
	if s.Traffic != nil {
		for _, p := range s.Traffic.Peers {
			remote, _ := m.resolve(self, local, p.RemoteIP, p.RemoteHostgroup, p.RemoteDomain)
			if p.EgressBytes > 0 {
				t := m.pair(pairKey{local, remote})
				t.sender += p.EgressBytes
				t.seenSender = true
			}
			if p.IngressBytes > 0 {
				t := m.pair(pairKey{remote, local})
				t.receiver += p.IngressBytes
				t.seenReceiver = true
			}
		}
	}
	return nil
}

// addRecord folds one connection record into its edge: self is the
// record's host, local its own end's node, remote and remoteEP the far
// end's node and endpoint, farWl the far end's workload where known.
func (m *Merger) addRecord(c *snapshot.Connection, self uint32, local, remote int32, remoteEP uint32, farWl string) {
	if c.Direction == snapshot.Upstream {
		e := m.edge(edgeKey{local, remote, m.proto(c.Protocol), c.Port})
		e.seenClient = true
		e.clientProcs = addProcess(e.clientProcs, c.Process)
		e.clientWls = addWorkload(e.clientWls, c.Workload)
		e.serverWls = addWorkload(e.serverWls, farWl)
		e.clientHosts.add(self)
		e.serverHosts.add(remoteEP)
		e.sockClient += c.Sockets
		e.c2sClient += c.BytesSent
		e.s2cClient += c.BytesReceived
		return
	}
	e := m.edge(edgeKey{remote, local, m.proto(c.Protocol), c.Port})
	e.seenServer = true
	e.serverProcs = addProcess(e.serverProcs, c.Process)
	e.serverWls = addWorkload(e.serverWls, c.Workload)
	e.clientWls = addWorkload(e.clientWls, farWl)
	e.serverHosts.add(self)
	e.clientHosts.add(remoteEP)
	e.sockServer += c.Sockets
	e.c2sServer += c.BytesReceived
	e.s2cServer += c.BytesSent
}

func (m *Merger) pair(k pairKey) *trafficAgg {
	t := m.traffic[k]
	if t == nil {
		t = &trafficAgg{}
		m.traffic[k] = t
	}
	return t
}

// Graph builds the graph from what was added so far.
func (m *Merger) Graph() (*Graph, error) {
	m.settlePending()
	g := &Graph{
		Schema:      Schema,
		GeneratedAt: m.newest.UTC(),
		By:          m.by,
		External:    m.ext.String(),
		Snapshots:   m.count,
	}
	// A name shared by nodes of different kinds (a hostgroup named like a
	// host) gets the kind as a prefix, so IDs stay unique whatever the order.
	names := map[string]int{}
	for _, n := range m.nodes {
		names[n.key.name]++
	}
	ids := make([]string, len(m.nodes))
	for i, n := range m.nodes {
		ids[i] = n.key.name
		if names[n.key.name] > 1 {
			ids[i] = n.key.kind + ":" + n.key.name
		}
		g.Nodes = append(g.Nodes, &Node{
			ID:        ids[i],
			Kind:      n.key.kind,
			HostCount: hostCount(n),
			Hosts:     sortedKeys(n.hosts),
			Domains:   sortedKeys(n.domains),
		})
	}
	for k, e := range m.edges {
		out := &Edge{
			From: ids[k.from], To: ids[k.to], Protocol: m.protos[k.proto], Port: k.port,
			ClientProcesses:   slices.Clone(e.clientProcs),
			ServerProcesses:   slices.Clone(e.serverProcs),
			ClientWorkloads:   slices.Clone(e.clientWls),
			ServerWorkloads:   slices.Clone(e.serverWls),
			ClientHosts:       e.clientHosts.len(),
			ServerHosts:       e.serverHosts.len(),
			Sockets:           max(e.sockClient, e.sockServer),
			PortBytesToServer: max(e.c2sClient, e.c2sServer),
			PortBytesToClient: max(e.s2cClient, e.s2cServer),
		}
		switch {
		case e.seenClient && e.seenServer:
			out.SeenFrom = SeenBoth
		case e.seenClient:
			out.SeenFrom = SeenClient
		default:
			out.SeenFrom = SeenServer
		}
		g.Edges = append(g.Edges, out)
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
	if err := g.index(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return g, nil
}

// hostCount is a node's host_count: scanned hosts plus unscanned peers,
// and for a workload the scanned hosts running it.
func hostCount(n *nodeAgg) int {
	if n.key.kind == KindWorkload {
		return len(n.hosts)
	}
	return n.scanned + n.peers
}

func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Merge builds a graph from snapshots held in memory. Of several snapshots
// of one host (same Identity) the newest is merged (on a tie, the first);
// ReadInputs already does this and reports it. For a fleet too large to hold,
// use MergeInputs, which streams.
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
		if !ok || s.ScannedAt.After(old.ScannedAt) {
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
	return m.Graph()
}
