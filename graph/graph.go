// Package graph merges many hosts' snapshots into one dependency graph
// (planet.graph/v1), reads and writes that graph, and answers the questions
// render and diff ask of it: what a node depends on, what depends on it, and
// which nodes depend on each other in a cycle.
//
// The graph is a gonum multi.WeightedDirectedGraph: one node per hostgroup
// (or host, or external peer group) and one line per dependency, client ->
// server, for each (protocol, port). A line's weight is its socket count.
//
// # Merge rules
//
//   - A snapshot's host becomes the node of its hostgroup; without one (or
//     with By "host") the node of its label (snapshot.Host.Label: domain,
//     else first non-loopback address, else hostname), kind "host".
//   - A remote IP resolves, in order: loopback (127.0.0.0/8, ::1, or
//     remote_hostgroup "localhost") to the host's own node (a self-loop);
//     an address of a scanned host, an IPv6 link-local one included
//     (snapshot.Host.LinkLocal, without its zone), unless several hosts
//     claim it (a docker bridge, fe80::1 on many links), or a scanned
//     host's domain to that host's node; the scanner's remote_hostgroup,
//     else remote_domain; else an external node (per IP, "external", or
//     per prefix; see MergeOptions.External).
//   - The addresses of a host's other network namespaces (its containers',
//     snapshot.Snapshot.PrivateAddresses) are private to it: they resolve
//     to the host's own node for its own records only, never for another
//     host's, so two hosts with the same container address share no node.
//   - With By "workload", a record's own end is the node
//     "<hostgroup or host>/<workload>" (kind "workload") where its
//     workload is known. A far end on the same host takes the workload of
//     the namespace's listener (or caller); a far end on another scanned
//     host the one workload of that host listening on the port (or calling
//     it), else the host's node.
//   - An upstream record is the client's view of edge (local -> remote), a
//     downstream record the server's view of edge (remote -> local). The
//     two views are combined per client/server host pair (endpoints as for
//     client_hosts/server_hosts): a pair's sockets and per-port bytes are
//     the larger of its two ends' totals, never their sum, and an edge's
//     are the sum over its pairs. So a hostgroup of which only some hosts
//     were scanned is counted once per connection, whichever end saw it.
//   - seen_from is "both" when every host pair of the edge was seen from
//     both ends, "client" or "server" when every pair was seen from that
//     end only, and "mixed" otherwise.
//   - When a pair's server is a scanned host whose records for the pair
//     name no process (a connected UDP client's server, which has only an
//     unconnected socket; a server whose side of every connection was
//     closing), the server processes come from that host's listeners on
//     the edge's protocol and port, bound to the address the client used
//     or to the wildcard.
//   - client_hosts/server_hosts count distinct hosts: scanned hosts by
//     identity (hostname and addresses), unscanned peers by IP.
//   - Of several snapshots of one host the newest wins; see fleet.MergeInputs.
//
// # planet.graph/v1
//
// One JSON object, indented, fields in this order:
//
//	schema        "planet.graph/v1"
//	generated_at  newest merged snapshot's scanned_at (RFC 3339, UTC), of
//	              those not dated in the future (see MaxClockSkew)
//	by            "hostgroup", "host" or "workload"
//	external      "ip", "collapse" or "cidr:N,M" (IPv4 /N, IPv6 /M)
//	snapshots     number of snapshots (hosts) merged
//	nodes[]       sorted by id
//	  id          hostgroup name, host label, external IP, "external" or
//	              prefix; "kind:name" only when two kinds share a name
//	  kind        "hostgroup", "host", "external" or "workload"
//	  host_count  scanned hosts + distinct unscanned peer IPs in the node
//	  hosts[]     scanned hostnames, sorted (omitted when none)
//	  domains[]   inventory domains seen for the node, sorted (omitted when none)
//	  incomplete_hosts[]  scanned hosts whose snapshot had unowned_sockets > 0
//	              (not every socket's process was visible: a scan without
//	              root), sorted (omitted when none)
//	  unowned_sockets     those snapshots' unowned_sockets, summed (omitted when 0)
//	edges[]       sorted by from, to, protocol, port
//	  from, to    node ids: client -> server
//	  protocol    "tcp", "udp"...
//	  port        the server's port
//	  seen_from   "client", "server", "both" or "mixed" (see the merge rules)
//	  client_processes[], server_processes[]  process names, sorted (omitted when none known)
//	  client_workloads[], server_workloads[]  workload names, sorted (omitted when none known)
//	  client_hosts, server_hosts              distinct hosts on each end
//	  sockets                                 per host pair the max of the two
//	              ends' socket totals, summed over the pairs
//	  port_bytes_to_server, port_bytes_to_client  per-connection TCP byte
//	              counters of this port, summed the same way (omitted when 0/unknown)
//	traffic[]     darkstat per-peer totals by node pair, no ports; sorted by
//	              from, to; omitted when no snapshot had darkstat data
//	  from, to    node ids: bytes flowing from -> to
//	  bytes       max of the senders' egress and the receivers' ingress totals
//	  seen_from   "sender", "receiver" or "both"
//
// Read and Parse are strict: an unknown schema, unknown fields, trailing
// data, a truncated document, or edges naming unknown nodes are errors
// (*snapshot.Error naming the file, with offset and line where known).
package graph

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gonum "gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/multi"
)

// Schema is the only graph schema this build reads and writes.
const Schema = "planet.graph/v1"

// NodeKind is what a node stands for; its name in JSON.
type NodeKind string

// Node kinds.
const (
	KindHostgroup NodeKind = "hostgroup" // a hostgroup from the inventory
	KindHost      NodeKind = "host"      // one host: no hostgroup known, or the graph is keyed by host
	KindExternal  NodeKind = "external"  // peers no snapshot and no inventory explains
	// KindWorkload is one workload (systemd unit, container, pod) of a
	// hostgroup or host, with By "workload": "<hostgroup or host>/<workload>".
	KindWorkload NodeKind = "workload"
)

// nodeKinds lists the node kinds, in the order Lookup tries them.
var nodeKinds = []NodeKind{KindHostgroup, KindHost, KindExternal, KindWorkload}

// ParseNodeKind reads a node kind's name; any other text is an error
// quoting it and listing the kinds.
func ParseNodeKind(name string) (NodeKind, error) {
	if k := NodeKind(name); slices.Contains(nodeKinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("kind: %q is not one of hostgroup, host, external, workload", name)
}

// SeenFrom says which ends saw an edge (SeenBoth, SeenClient, SeenServer,
// SeenMixed) or a traffic entry (SeenBoth, SeenSender, SeenReceiver). It is
// one byte in memory (an edge of millions carries one) and its name in JSON.
type SeenFrom uint8

// SeenFrom values. The zero value is none of them, and no graph holds it.
const (
	SeenBoth SeenFrom = iota + 1
	SeenClient
	SeenServer
	// SeenMixed: the edge's client/server host pairs were not all seen the
	// same way (some from both ends, some from one; or some only from the
	// client and others only from the server), as when only some hosts of
	// a hostgroup were scanned.
	SeenMixed
	// Traffic is seen by the sender (egress), the receiver (ingress) or both.
	SeenSender
	SeenReceiver
)

// seenNames are the SeenFrom values' names, by value.
var seenNames = [...]string{SeenBoth: "both", SeenClient: "client", SeenServer: "server", SeenMixed: "mixed",
	SeenSender: "sender", SeenReceiver: "receiver"}

// String is the value's name ("both", "client"...), "" for the zero value
// and "seen_from(N)" for a value no constant names.
func (s SeenFrom) String() string {
	if int(s) < len(seenNames) {
		return seenNames[s]
	}
	return "seen_from(" + strconv.Itoa(int(s)) + ")"
}

// ParseSeenFrom reads a SeenFrom value's name; any other text is an error
// quoting it and listing the names.
func ParseSeenFrom(name string) (SeenFrom, error) {
	for v, n := range seenNames {
		if n != "" && n == name {
			return SeenFrom(v), nil
		}
	}
	return 0, fmt.Errorf("seen_from: %q is not one of %s", name, strings.Join(seenNames[1:], ", "))
}

// MarshalText writes the value's name.
func (s SeenFrom) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a value's name (see ParseSeenFrom).
func (s *SeenFrom) UnmarshalText(text []byte) error {
	v, err := ParseSeenFrom(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Keying of nodes (MergeOptions.By, Graph.By).
const (
	ByHostgroup = "hostgroup"
	ByHost      = "host"
	// ByWorkload keys nodes by hostgroup (as ByHostgroup) and workload:
	// a service-level map.
	ByWorkload = "workload"
)

// Graph is a merged dependency graph. Its exported fields are the JSON
// document; Nodes and Edges are kept in the documented order (nodes by ID,
// edges by From, To, Protocol, Port) so that the same inputs always give the
// same bytes.
type Graph struct {
	Schema string `json:"schema"`
	// GeneratedAt is the newest merged snapshot's scanned_at, not the time of
	// the merge, so that merging the same files twice gives the same output.
	GeneratedAt time.Time `json:"generated_at"`
	By          string    `json:"by"`
	External    string    `json:"external"`
	// Snapshots is how many snapshots (hosts) went into the graph.
	Snapshots int `json:"snapshots"`
	// WindowedSnapshots is how many of them had an observation window
	// (scan --window): only their records give edges bytes per second.
	WindowedSnapshots int     `json:"windowed_snapshots,omitempty"`
	Nodes             []*Node `json:"nodes"`
	Edges             []*Edge `json:"edges"`
	// Traffic is darkstat's per-peer byte totals folded into node pairs. It
	// has no ports, so it is kept apart from the per-port edges.
	Traffic []*Traffic `json:"traffic,omitempty"`

	gonum *lazyGonum // built on first use: most renders never need it
	// byID is each node's position in Nodes, by ID. Positions are the
	// graph's, not the nodes': a node may be in several graphs (a
	// filter's result or render --diff's union shares them).
	byID map[string]int32
	// extraHeld is memory the graph keeps alive beyond its own parts, in
	// the weigher's bytes (ForCompare's result sharing blocks of edges with
	// the edges it dropped).
	extraHeld int64
}

// lazyGonum is the gonum graph of a Graph, built when a query first needs
// it: it takes about three times the memory of the nodes and edges.
type lazyGonum struct {
	once sync.Once
	g    *multi.WeightedDirectedGraph
}

// gonumGraph returns the gonum graph, building it on first use.
func (g *Graph) gonumGraph() *multi.WeightedDirectedGraph {
	g.gonum.once.Do(func() {
		gg := multi.NewWeightedDirectedGraph()
		for i := range g.Nodes {
			gg.AddNode(gonumNode(i))
		}
		// A line's ID is its edge's position in g.Edges (EdgeOf), not
		// a field of the edge: a graph read against another
		// (ReadShared) shares edges with it.
		for i, e := range g.Edges {
			gg.SetWeightedLine(multi.WeightedLine{
				F: gonumNode(g.byID[e.From]), T: gonumNode(g.byID[e.To]),
				W: float64(e.Sockets), UID: int64(i),
			})
		}
		g.gonum.g = gg
	})
	return g.gonum.g
}

// Node is a hostgroup, a host or a group of external peers.
type Node struct {
	ID   string   `json:"id"`
	Kind NodeKind `json:"kind"`
	// HostCount is the number of distinct hosts in the node: scanned hosts
	// (by identity) plus unscanned peers (by IP).
	HostCount int `json:"host_count"`
	// Hosts are the hostnames of the scanned hosts in the node.
	Hosts   []string `json:"hosts,omitempty"`
	Domains []string `json:"domains,omitempty"`
	// IncompleteHosts are the scanned hosts of the node whose scan saw
	// sockets without their owner process (snapshot unowned_sockets > 0:
	// a scan without root, or processes in another PID namespace); on
	// those hosts' ends of the edges a process name may be missing rather
	// than absent. UnownedSockets is those scans' unowned_sockets summed.
	IncompleteHosts []string `json:"incomplete_hosts,omitempty"`
	UnownedSockets  int      `json:"unowned_sockets,omitempty"`
}

// Header returns a graph with g's members other than its nodes, edges and
// traffic (schema, generation time, key, external grouping, snapshot
// counts): the start of a graph made of a part of g.
func (g *Graph) Header() *Graph {
	return &Graph{Schema: g.Schema, GeneratedAt: g.GeneratedAt, By: g.By, External: g.External,
		Snapshots: g.Snapshots, WindowedSnapshots: g.WindowedSnapshots}
}

// gonumNode is a node of the gonum graph: its ID is the Node's index in
// Graph.Nodes.
type gonumNode int64

var _ gonum.Node = gonumNode(0)

func (n gonumNode) ID() int64 { return int64(n) }

// GonumID is the ID in the gonum graph (Graph.Gonum) of the node id: its
// position in g.Nodes, or -1 when g has no such node.
func (g *Graph) GonumID(id string) int64 {
	if i, ok := g.byID[id]; ok {
		return int64(i)
	}
	return -1
}

// has says whether g has a node id.
func (g *Graph) has(id string) bool {
	_, ok := g.byID[id]
	return ok
}

// Edge is one dependency: hosts of From connect, as clients, to hosts of To
// on (Protocol, Port).
type Edge struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
	// SeenFrom says which ends reported the dependency, per client/server
	// host pair: "client" (upstream records only), "server" (downstream
	// records only), "both" (every pair from both ends) or "mixed".
	SeenFrom SeenFrom `json:"seen_from"`
	// EdgeNames holds the edge's process, workload and dialled-address
	// lists; nil when all are empty. Read them through Names.
	*EdgeNames
	ClientHosts int `json:"client_hosts"`
	ServerHosts int `json:"server_hosts"`
	// Sockets sums, over the client/server host pairs, the larger of the
	// pair's two ends' socket totals: both ends of a pair count the same
	// sockets, and either may miss some or not have been scanned.
	// Connection-tracking flows no socket shows (snapshot.Connection.Flows)
	// count as sockets here.
	Sockets int `json:"sockets"`
	// EdgeBytes holds the edge's byte counts; nil when none is known.
	// Read them through Bytes.
	*EdgeBytes
}

// EdgeNames are an edge's lists of names (JSON members of the edge, in
// this order). Edges read from one document share one EdgeNames value per
// distinct set of lists: never modify one in place.
type EdgeNames struct {
	ClientProcesses []string `json:"client_processes,omitempty"`
	ServerProcesses []string `json:"server_processes,omitempty"`
	// ClientWorkloads and ServerWorkloads name the workloads (systemd
	// units, containers, pods) on each end, where the snapshots know them.
	ClientWorkloads []string `json:"client_workloads,omitempty"`
	ServerWorkloads []string `json:"server_workloads,omitempty"`
	// Dialled lists the addresses (ip:port, sorted) the clients dialled
	// where a DNAT sent them to this server: a service VIP resolved on
	// the client host (snapshot.Connection.DialledIP), a DNAT router's
	// published port. Empty when every client dialled the server itself.
	Dialled []string `json:"dialled,omitempty"`
}

// empty says whether every list is empty.
func (n *EdgeNames) empty() bool {
	return n == nil || len(n.ClientProcesses)+len(n.ServerProcesses)+len(n.ClientWorkloads)+len(n.ServerWorkloads)+len(n.Dialled) == 0
}

// EdgeBytes are an edge's byte counts (JSON members of the edge, in this
// order), apart from the edge because most graphs have few of them.
type EdgeBytes struct {
	// PortBytesToServer and PortBytesToClient are per-connection TCP counters
	// of this port (summed per host pair like Sockets), absent when unknown.
	PortBytesToServer uint64 `json:"port_bytes_to_server,omitempty"`
	PortBytesToClient uint64 `json:"port_bytes_to_client,omitempty"`
	// BytesPerSecondToServer and BytesPerSecondToClient are TCP payload bytes
	// per second each way over the inputs' observation windows (scan
	// --window), summed per host pair like Sockets (an end without a window
	// counts none); absent when no input that saw this dependency had a
	// window. Windowed is true when one had.
	Windowed               bool    `json:"windowed,omitempty"`
	BytesPerSecondToServer float64 `json:"bytes_per_second_to_server,omitempty"`
	BytesPerSecondToClient float64 `json:"bytes_per_second_to_client,omitempty"`
}

// edgeNames is n, or nil when every list is empty.
func edgeNames(n EdgeNames) *EdgeNames {
	if n.empty() {
		return nil
	}
	return &n
}

// edgeBytes is b, or nil when every count is zero.
func edgeBytes(b EdgeBytes) *EdgeBytes {
	if b == (EdgeBytes{}) {
		return nil
	}
	return &b
}

// Names returns the edge's lists (all empty when it has none).
func (e *Edge) Names() EdgeNames {
	if e.EdgeNames == nil {
		return EdgeNames{}
	}
	return *e.EdgeNames
}

// Bytes returns the edge's byte counts (all zero when none is known).
func (e *Edge) Bytes() EdgeBytes {
	if e.EdgeBytes == nil {
		return EdgeBytes{}
	}
	return *e.EdgeBytes
}

// Traffic is the bytes darkstat saw flowing From -> To, over all ports: the
// larger of the senders' egress total and the receivers' ingress total.
type Traffic struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Bytes    uint64   `json:"bytes"`
	SeenFrom SeenFrom `json:"seen_from"`
}

func compareEdges(a, b *Edge) int {
	return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To),
		strings.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}

func compareTraffic(a, b *Traffic) int {
	return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To))
}

// index sorts the graph into its documented order, checks that it is
// consistent and builds the gonum graph and the lookup table.
func (g *Graph) index() error { return g.indexChecked(nil) }

// indexChecked is index, edgesErr (when not nil) the error of edges
// checked before and not in g.Edges, reported where theirs would be.
func (g *Graph) indexChecked(edgesErr error) error {
	slices.SortFunc(g.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(g.Edges, compareEdges)
	slices.SortFunc(g.Traffic, compareTraffic)
	g.byID = make(map[string]int32, len(g.Nodes))
	g.gonum = &lazyGonum{}
	for i, n := range g.Nodes {
		if err := n.check(); err != nil {
			return err
		}
		if _, dup := g.byID[n.ID]; dup {
			return errorf("nodes: duplicate id %q", n.ID)
		}
		g.byID[n.ID] = int32(i)
	}
	if edgesErr != nil {
		return edgesErr
	}
	for i, e := range g.Edges {
		if err := e.check(g); err != nil {
			return err
		}
		if i > 0 && compareEdges(g.Edges[i-1], e) == 0 {
			return errorf("edges: duplicate edge %s", e)
		}
	}
	for i, t := range g.Traffic {
		if !g.has(t.From) || !g.has(t.To) {
			return errorf("traffic: %s -> %s: unknown node", t.From, t.To)
		}
		if t.SeenFrom != SeenBoth && t.SeenFrom != SeenSender && t.SeenFrom != SeenReceiver {
			return errorf("traffic: %s -> %s: seen_from %q", t.From, t.To, t.SeenFrom.String())
		}
		if i > 0 && compareTraffic(g.Traffic[i-1], t) == 0 {
			return errorf("traffic: duplicate entry %s -> %s", t.From, t.To)
		}
	}
	return nil
}

func (n *Node) check() error {
	if n.ID == "" {
		return errorf("nodes: empty id")
	}
	if _, err := ParseNodeKind(string(n.Kind)); err != nil {
		return errorf("node %q: unknown kind %q", n.ID, n.Kind)
	}
	if n.HostCount < 0 || n.UnownedSockets < 0 {
		return errorf("node %q: negative count", n.ID)
	}
	// A node checked already (one shared with the graph it came from)
	// is left as it is: nothing is written to it.
	for _, l := range []*[]string{&n.Hosts, &n.Domains, &n.IncompleteHosts} {
		switch {
		case *l != nil && len(*l) == 0:
			*l = nil
		case !slices.IsSorted(*l):
			slices.Sort(*l)
		}
	}
	return nil
}

func (e *Edge) check(g *Graph) error {
	if !g.has(e.From) || !g.has(e.To) {
		return errorf("edge %s: unknown node", e)
	}
	if e.Protocol == "" {
		return errorf("edge %s: empty protocol", e)
	}
	switch e.SeenFrom {
	case SeenBoth, SeenClient, SeenServer, SeenMixed:
	default:
		return errorf("edge %s: seen_from %q", e, e.SeenFrom.String())
	}
	if e.ClientHosts < 0 || e.ServerHosts < 0 || e.Sockets < 0 {
		return errorf("edge %s: negative count", e)
	}
	// An edge checked already (one shared with the graph it came from,
	// its names shared with other edges) is left as it is: nothing is
	// written to it, so graphs sharing it may be checked at once.
	if e.EdgeNames != nil && e.EdgeNames.empty() {
		e.EdgeNames = nil
	}
	if e.EdgeNames != nil && !e.EdgeNames.normal() {
		e.EdgeNames.sort()
	}
	if e.EdgeBytes != nil && *e.EdgeBytes == (EdgeBytes{}) {
		e.EdgeBytes = nil
	}
	return nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (e *Edge) String() string {
	return e.From + " -> " + e.To + " " + e.Protocol + "/" + itoa(int(e.Port))
}

// Gonum returns the gonum graph: node IDs are Graph.GonumID, line IDs index
// Graph.Edges, weights are socket counts. Callers must not modify it.
func (g *Graph) Gonum() *multi.WeightedDirectedGraph { return g.gonumGraph() }

// Node returns the node with the given ID, or nil.
func (g *Graph) Node(id string) *Node {
	if i, ok := g.byID[id]; ok {
		return g.Nodes[i]
	}
	return nil
}

// Lookup finds nodes by name: the node whose ID is name, or, where kinds
// share a name and IDs carry the kind ("hostgroup:db"), each of those.
func (g *Graph) Lookup(name string) []*Node {
	if n := g.Node(name); n != nil {
		return []*Node{n}
	}
	var out []*Node
	for _, kind := range nodeKinds {
		if n := g.Node(string(kind) + ":" + name); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// NodeOf returns the node behind a gonum node ID.
func (g *Graph) NodeOf(gonumID int64) *Node {
	if gonumID < 0 || gonumID >= int64(len(g.Nodes)) {
		return nil
	}
	return g.Nodes[gonumID]
}

// EdgeOf returns the edge behind a gonum line.
func (g *Graph) EdgeOf(l gonum.Line) *Edge {
	id := l.ID()
	if id < 0 || id >= int64(len(g.Edges)) {
		return nil
	}
	return g.Edges[id]
}

// TrafficBytes returns darkstat's bytes from -> to (Traffic.Bytes), 0 when
// g has no such pair: a binary search of g.Traffic, which an indexed graph
// keeps sorted by from and to, so that asking for a few pairs holds
// nothing of millions.
func (g *Graph) TrafficBytes(from, to string) uint64 {
	i, ok := slices.BinarySearchFunc(g.Traffic, &Traffic{From: from, To: to}, compareTraffic)
	if !ok {
		return 0
	}
	return g.Traffic[i].Bytes
}

// EdgesBetween returns the edges from -> to, in the documented order.
func (g *Graph) EdgesBetween(from, to string) []*Edge {
	f, t := g.GonumID(from), g.GonumID(to)
	if f < 0 || t < 0 {
		return nil
	}
	var out []*Edge
	lines := g.gonumGraph().Lines(f, t)
	for lines.Next() {
		out = append(out, g.Edges[lines.Line().ID()])
	}
	slices.SortFunc(out, compareEdges)
	return out
}

// externalName is the node name of an external peer under an External mode.
func externalName(ip netip.Addr, mode External) string {
	switch {
	case mode.collapse:
		return "external"
	case mode.cidr && ip.Is4():
		p, _ := ip.Prefix(mode.bits4)
		return p.String()
	case mode.cidr:
		p, _ := ip.Prefix(mode.bits6)
		return p.String()
	}
	return ip.String()
}
