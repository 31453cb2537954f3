package graph

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/planetdeps/planet/snapshot"
)

// hostIndex is what Add needs of one snapshot to place connections that
// stay on the host: its containers' addresses (private to it), and, per
// namespace, who listens and who calls, to name the workload at a local
// connection's far end.
type hostIndex struct {
	// own are the host's addresses, its containers' included, sorted: for
	// the host's own records they mean the host, even where another host
	// claims the same (a docker0 address on every docker host).
	own    []netip.Addr
	nsOf   map[netip.Addr]uint64 // every namespace's addresses, the host's too
	listen map[nsPort]string     // first listener's workload by (netns, protocol, port)
	calls  map[callKey][]string  // workloads of upstream records, by where they go
}

type nsPort struct {
	netns uint64
	proto string
	port  uint16
}

type callKey struct {
	from nsPort // the client's namespace, the server's protocol and port
	to   uint64 // the server's namespace
}

func newHostIndex(s *snapshot.Snapshot) *hostIndex {
	x := &hostIndex{
		nsOf:   map[netip.Addr]uint64{},
		listen: map[nsPort]string{},
		calls:  map[callKey][]string{},
	}
	for _, a := range s.Host.Addresses {
		x.own = append(x.own, a.Unmap())
	}
	x.own = append(x.own, s.PrivateAddresses()...)
	slices.SortFunc(x.own, netip.Addr.Compare)
	x.own = slices.Compact(x.own)
	for _, ns := range s.Namespaces {
		for _, a := range ns.Addresses {
			if _, ok := x.nsOf[a.Unmap()]; !ok || ns.Host {
				x.nsOf[a.Unmap()] = ns.Inode
			}
		}
	}
	for _, l := range s.Listeners {
		k := nsPort{l.Netns, l.Protocol, l.Port}
		if _, ok := x.listen[k]; !ok || x.listen[k] == "" {
			x.listen[k] = l.Workload
		}
	}
	for i := range s.Connections {
		c := &s.Connections[i]
		if c.Direction != snapshot.Upstream || c.Workload == "" {
			continue
		}
		if to, ok := x.localNS(c.Netns, c.RemoteIP); ok {
			k := callKey{nsPort{c.Netns, c.Protocol, c.Port}, to}
			if !slices.Contains(x.calls[k], c.Workload) {
				x.calls[k] = append(x.calls[k], c.Workload)
				slices.Sort(x.calls[k])
			}
		}
	}
	return x
}

// isOwn says whether ip is one of the host's own addresses.
func (x *hostIndex) isOwn(ip netip.Addr) bool {
	if len(x.own) <= 8 {
		return slices.Contains(x.own, ip)
	}
	_, ok := slices.BinarySearchFunc(x.own, ip, netip.Addr.Compare)
	return ok
}

// localNS is the namespace of the host that ip, seen from namespace from,
// is in: from itself for loopback; false when ip is not the host's.
func (x *hostIndex) localNS(from uint64, ip netip.Addr) (uint64, bool) {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return from, true
	}
	ns, ok := x.nsOf[ip]
	return ns, ok
}

// peerWorkload names the workload at the far end of c when that end is on
// the same host: the listener's for an upstream record, the calling
// workload for a downstream one (the first by name when several call).
func (x *hostIndex) peerWorkload(c *snapshot.Connection) string {
	ns, ok := x.localNS(c.Netns, c.RemoteIP)
	if !ok {
		return ""
	}
	if c.Direction == snapshot.Upstream {
		return x.listen[nsPort{ns, c.Protocol, c.Port}]
	}
	if wls := x.calls[callKey{nsPort{ns, c.Protocol, c.Port}, c.Netns}]; len(wls) > 0 {
		return wls[0]
	}
	return ""
}

// addWorkload adds a workload name to a sorted set.
func addWorkload(list []string, w string) []string {
	if w == "" {
		return list
	}
	i, found := slices.BinarySearch(list, w)
	if found {
		return list
	}
	return slices.Insert(list, i, w)
}

// workloadNode is the node of workload w of the host whose node is host:
// with By "workload" a node of its own, named "<host node>/<workload>";
// otherwise, and for a process without workload, the host's node.
// hostname is the scanned host running it; its HostCount is the number of
// such hosts.
func (m *Merger) workloadNode(host int32, w, hostname string) int32 {
	if m.by != ByWorkload || w == "" {
		return host
	}
	n := m.node(nodeKey{KindWorkload, m.nodes[host].key.name + "/" + w})
	m.nodes[n].hosts.add(hostname)
	return n
}

// pendingRecord is a record whose far end is another scanned host, kept
// under By "workload" until Graph, when every host's listeners and calls
// are known and the far end's workload can be named.
type pendingRecord struct {
	c          snapshot.Connection // Process, Workload, counters; RemoteIP unused
	self, peer int32               // declared hosts: the record's and the far end's
	local      int32               // the record's own end's node
	peerEP     uint32
	at         int // the record's index in its snapshot's connections, for errors
}

// farWorkloads remembers, per scanned host, what other hosts can reach of
// it: listeners by (protocol, port), and its workloads' calls to other
// hosts, to name pending records' far ends.
type farWorkloads struct {
	listen map[protoPort][]string
	calls  map[hostCall][]string
}

type protoPort struct {
	proto string
	port  uint16
}

type hostCall struct {
	peer int32
	pp   protoPort
}

// noteFar records which workloads of s's host listen on which ports, for
// pending records; Add records its calls to other hosts as it goes.
func (m *Merger) noteFar(self int32, s *snapshot.Snapshot) *farWorkloads {
	if m.far == nil {
		m.far = map[int32]*farWorkloads{}
	}
	f := &farWorkloads{listen: map[protoPort][]string{}, calls: map[hostCall][]string{}}
	m.far[self] = f
	for _, l := range s.Listeners {
		k := protoPort{l.Protocol, l.Port}
		f.listen[k] = addWorkload(f.listen[k], l.Workload)
	}
	return f
}

// callsThroughForwards lists the workloads of f's host that call a DNAT
// router's port which the router forwards to host's pp: those are the
// clients of host's pp, though they dialled the router.
func (m *Merger) callsThroughForwards(f *farWorkloads, host int32, pp protoPort) []string {
	var out []string
	for k, fw := range m.forwards {
		if fw.ep == uint32(host) && fw.port == pp.port && m.protos[k.proto] == pp.proto {
			for _, w := range f.calls[hostCall{int32(k.host), protoPort{pp.proto, k.port}}] {
				out = addWorkload(out, w)
			}
		}
	}
	return out
}

// settleDeferred places the deferred records (Merger.deferred), now that
// every host is known: the far end's workload is the one workload of the
// peer that listens on the port (for an upstream record) or that calls
// this host's port (for a downstream one); none or several leave the far
// end at the host's node. Their host pairs then join the held ones (or the
// pending ones, while the far end's snapshot is not in), where the other
// end's deferred records meet them; Graph folds them from there.
func (m *Merger) settleDeferred() error {
	if len(m.deferred) == 0 {
		return nil
	}
	sum := checkedSum{overflow: -1}
	idx := map[hostPairKey]int{}
	var keys []hostPairKey
	var pairs []hostPair
	var edges []*edgeAgg
	view := func(k hostPairKey) (*hostPair, *edgeAgg) {
		i, ok := idx[k]
		if !ok {
			i = len(pairs)
			idx[k] = i
			keys = append(keys, k)
			pairs = append(pairs, hostPair{first: sum.at})
			edges = append(edges, m.pairEdge(k))
		}
		return &pairs[i], edges[i]
	}
	// The forwards first: a backend's record names its clients' workloads
	// through the router's, whichever was added first.
	for n := range m.deferred {
		m.noteForward(&m.deferred[n].c, uint32(m.deferred[n].self))
	}
	for n := range m.deferred {
		p := &m.deferred[n]
		var w string
		if f := m.far[p.peer]; f != nil {
			var cands []string
			if p.c.Direction == snapshot.Upstream {
				cands = f.listen[protoPort{p.c.Protocol, p.c.Port}]
			} else {
				cands = f.calls[hostCall{p.self, protoPort{p.c.Protocol, p.c.Port}}]
				if len(cands) == 0 {
					cands = m.callsThroughForwards(f, p.self, protoPort{p.c.Protocol, p.c.Port})
				}
			}
			if len(cands) == 1 {
				w = cands[0]
			}
		}
		sum.at = n
		remote := m.workloadNode(m.hostNodeIdx(p.peer), w, m.hosts[p.peer].hostname)
		m.addRecord(&p.c, uint32(p.self), p.local, remote, p.peerEP, w, &sum, view)
	}
	if sum.overflow >= 0 {
		p := m.deferred[sum.overflow]
		return fmt.Errorf("host %s: connections[%d]: its edge's total of %s overflows", m.hosts[p.self].hostname, p.at, sum.what)
	}
	m.deferred = nil
	m.putPairs(keys, pairs)
	return nil
}

// sort orders the lists in place, emptied ones nil.
// like process lists.
// sorted says whether every list of n is sorted.
func (n *EdgeNames) sorted() bool {
	return slices.IsSorted(n.ClientProcesses) && slices.IsSorted(n.ServerProcesses) && slices.IsSorted(n.ClientWorkloads) &&
		slices.IsSorted(n.ServerWorkloads) && slices.IsSorted(n.Dialled)
}

// normal says whether sort would leave n as it is: every list sorted,
// none empty but not nil.
func (n *EdgeNames) normal() bool {
	for _, l := range [][]string{n.ClientProcesses, n.ServerProcesses, n.ClientWorkloads, n.ServerWorkloads, n.Dialled} {
		if l != nil && len(l) == 0 || !slices.IsSorted(l) {
			return false
		}
	}
	return true
}

func (n *EdgeNames) sort() {
	if n == nil {
		return
	}
	for _, l := range []*[]string{&n.ClientProcesses, &n.ServerProcesses, &n.ClientWorkloads, &n.ServerWorkloads, &n.Dialled} {
		slices.Sort(*l)
		*l = nilIfEmpty(*l)
	}
}
