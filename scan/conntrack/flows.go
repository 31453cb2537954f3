package conntrack

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/planetdeps/planet/snapshot"
)

// Socket is one socket of the host's own network namespace as the socket
// scan saw it, with its owner's process name.
type Socket struct {
	Proto         string // "tcp" or "udp"
	Local, Remote netip.AddrPort
	Process       string
	// Workload and Netns are the owner's workload and the socket's network
	// namespace inode (snapshot.Connection's fields of the same names).
	Workload string
	Netns    uint64
	State    string // TCP state name, as in snapshot.Connection.States
	// Byte counters of the socket, where the socket source had them.
	BytesSent, BytesReceived uint64
	HasBytes                 bool
}

// Container is one of the host's other network namespaces (a container's,
// a pod's), as the socket scan read it.
type Container struct {
	Netns uint64 // the namespace's inode, as in snapshot.Namespace
	// Workload is the workload most of the namespace's socket owners
	// belong to ("" when none is known): what its flows through the host's
	// NAT are attributed to where no socket names a process.
	Workload string
}

// Host is what the flows are judged against: the socket scan's view of
// the host's own network namespace and of the namespaces of its
// containers.
type Host struct {
	// Local holds the addresses of the host's network namespace. A flow
	// none of whose addresses is here is another host's, forwarded, or a
	// container's, behind the host's NAT.
	Local map[netip.Addr]bool
	// HostNetns is the inode of the host's own network namespace (0 when
	// the scan read one namespace without knowing its inode: a fixture).
	HostNetns uint64
	// Containers maps the addresses of the host's other network
	// namespaces to them: a DNAT's backend or a masqueraded flow's origin
	// at one of these addresses is that container's.
	Containers map[netip.Addr]Container
	// Ephemeral reports whether a port is in the host's client port range.
	Ephemeral func(uint16) bool
	// Listeners are the server sockets of every namespace read
	// (snapshot.Listener, told apart by Netns): the host's own serve its
	// addresses, a container's serve the ports published to it.
	Listeners []snapshot.Listener
	// Connected are the sockets the socket scan counted as connections
	// (Connections was built from them), of the host's namespace and of
	// its containers' (whose sockets show their masqueraded and published
	// flows); Unconnected are bound, unconnected UDP sockets of every
	// namespace, the sockets of sendto() clients.
	Connected, Unconnected []Socket
	// LoadSockets, when set, is called once, at the first flow, and its
	// sockets are added to Connected and Unconnected: a scan's every socket
	// is not copied for a table with nothing in it.
	LoadSockets func() (connected, unconnected []Socket)
	// Connections are the socket scan's records, of every namespace (told
	// apart by workload and netns); Apply returns them amended.
	Connections []snapshot.Connection
	// Own are endpoints planet itself talks to (inventory, darkstat): flows
	// to them are planet's, not the host's.
	Own map[netip.AddrPort]bool
	// MaxRecords bounds the records flows may add (default 100,000); flows
	// that would add more are counted in Stats.Dropped.
	MaxRecords int
}

// Stats counts what Apply did with the flows.
type Stats struct {
	Flows      int // TCP and UDP flows offered
	Added      int // counted into a record's flows (no socket shows them)
	Ended      int // of Added, TCP flows that had already closed
	Annotated  int // sockets moved by a NAT: to the actual destination behind a DNAT, or to the port published to their container
	Shown      int // flows a socket of this host already shows
	Foreign    int // flows that are neither this host's nor its containers'
	Unanswered int // TCP flows never answered, UDP flows to a port no one serves here
	Own        int // planet's own fetches
	Dropped    int // flows past MaxRecords
	HasBytes   bool
}

type sockKey struct {
	proto         string
	local, remote netip.AddrPort
}

type listenKey struct {
	netns uint64
	proto string
	port  uint16
}

type recKey struct {
	dir              snapshot.Direction
	proto            string
	port             uint16
	process          string
	workload         string
	netns            uint64
	remote           netip.Addr
	dialled, backend netip.AddrPort
	origin           netip.Addr
}

// Merger folds flows into the host's records. Use NewMerger, Add each flow,
// then Result.
type Merger struct {
	h       Host
	indexed bool // socks, udp and listen built (index)
	socks   map[sockKey]*Socket
	udp     map[uint16][]*Socket // unconnected UDP sockets by local port, of every namespace
	listen  map[listenKey][]*snapshot.Listener
	recs    map[recKey]*snapshot.Connection
	order   []recKey
	added   int // records created by flows
	stats   Stats
}

// NewMerger indexes the host's records; its sockets are indexed at the
// first flow.
func NewMerger(h Host) *Merger {
	if h.MaxRecords <= 0 {
		h.MaxRecords = 100_000
	}
	if h.Ephemeral == nil {
		h.Ephemeral = func(p uint16) bool { return p >= 32768 && p <= 60999 }
	}
	m := &Merger{
		h:    h,
		recs: make(map[recKey]*snapshot.Connection, len(h.Connections)),
	}
	for i := range h.Connections {
		c := h.Connections[i]
		c.States = cloneStates(c.States)
		k := recKey{dir: c.Direction, proto: c.Protocol, port: c.Port, process: c.Process, workload: c.Workload, netns: c.Netns, remote: c.RemoteIP,
			dialled: addrPort(c.DialledIP, c.DialledPort), backend: addrPort(c.BackendIP, c.BackendPort), origin: c.OriginIP}
		m.recs[k] = &c
		m.order = append(m.order, k)
	}
	return m
}

// index indexes the host's sockets and listeners, once: at the first flow,
// so that a host whose table is empty (conntrack loaded, nothing tracked)
// does not pay for a map of every socket.
func (m *Merger) index() {
	if m.indexed {
		return
	}
	m.indexed = true
	h := &m.h
	if h.LoadSockets != nil {
		c, u := h.LoadSockets()
		h.Connected = append(h.Connected, c...)
		h.Unconnected = append(h.Unconnected, u...)
	}
	m.socks = make(map[sockKey]*Socket, len(h.Connected))
	m.udp = map[uint16][]*Socket{}
	m.listen = map[listenKey][]*snapshot.Listener{}
	for i := range h.Connected {
		s := &h.Connected[i]
		m.socks[sockKey{s.Proto, unmap(s.Local), unmap(s.Remote)}] = s
	}
	for i := range h.Unconnected {
		s := &h.Unconnected[i]
		m.udp[s.Local.Port()] = append(m.udp[s.Local.Port()], s)
	}
	for i := range h.Listeners {
		l := &h.Listeners[i]
		k := listenKey{l.Netns, l.Protocol, l.Port}
		m.listen[k] = append(m.listen[k], l)
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func addrPort(a netip.Addr, p uint16) netip.AddrPort {
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, p)
}

func cloneStates(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// listener finds the server socket of network namespace netns that takes
// proto traffic to local: an exact bind, else a wildcard of the same
// family, else the IPv6 wildcard.
func (m *Merger) listener(netns uint64, proto string, local netip.AddrPort) *snapshot.Listener {
	var wild4, wild6 *snapshot.Listener
	for _, l := range m.listen[listenKey{netns, proto, local.Port()}] {
		a := l.Address.Unmap()
		switch {
		case a == local.Addr():
			return l
		case a.IsUnspecified() && a.Is4():
			wild4 = cmp.Or(wild4, l)
		case l.Address.IsUnspecified():
			wild6 = cmp.Or(wild6, l)
		}
	}
	if local.Addr().Is4() && wild4 != nil {
		return wild4
	}
	return wild6
}

// sender finds the unconnected UDP socket of network namespace netns a
// sendto() client sent from.
func (m *Merger) sender(netns uint64, local netip.AddrPort) *Socket {
	var wild *Socket
	for _, s := range m.udp[local.Port()] {
		if s.Netns != netns {
			continue
		}
		a := s.Local.Addr().Unmap()
		switch {
		case a == local.Addr():
			return s
		case a.IsUnspecified():
			wild = cmp.Or(wild, s)
		}
	}
	return wild
}

func (m *Merger) local(a netip.Addr) bool { return m.h.Local[a] || a.IsLoopback() }

// Add judges one flow. Seen from this host, a flow is one of:
//
//   - the host's own client end (Orig.Src is the host's): shown by a socket
//     unless it was an unconnected UDP client or has closed; a socket whose
//     flow went through a DNAT gets the actual destination (Reply.Src)
//     while the address it dialled is kept next to it;
//   - the host's own server end (Reply.Src is the host's), likewise;
//   - a published port (Orig.Dst is the host's, Reply.Src is not: a DNAT to
//     a container or to another host): a downstream of the host on the
//     published port, with the backend it is forwarded to; a backend in one
//     of the host's containers serves it with that container's workload and
//     listener process (the container's socket of the flow, where the scan
//     read it, moves from the container's port to the published one);
//   - a masqueraded flow (neither original address is the host's, Reply.Dst
//     is): an upstream of the host on behalf of Orig.Src, a container,
//     with that container's workload (and the process of its sendto()
//     socket); a socket in the container's namespace that shows the flow
//     already counts it;
//   - none of these: forwarded traffic (a router's), ignored.
func (m *Merger) Add(f *Flow) {
	m.index()
	m.stats.Flows++
	m.stats.HasBytes = m.stats.HasBytes || f.HasBytes
	a, b := unmap(f.Orig.Src), unmap(f.Orig.Dst)
	c, d := unmap(f.Reply.Src), unmap(f.Reply.Dst)
	lA, lB, lC, lD := m.local(a.Addr()), m.local(b.Addr()), m.local(c.Addr()), m.local(d.Addr())
	if !lA && !lB && !lC && !lD {
		m.stats.Foreign++
		return
	}
	if f.Proto == "tcp" && (f.Unreplied || f.State == "SYN_SENT" || f.State == "SYN_RECV" || f.State == "NONE") {
		// A connection attempt no one accepted (yet): not a dependency,
		// and the socket scan leaves out SYN_SENT too.
		m.stats.Unanswered++
		return
	}
	dnat := c != b
	if lA {
		if m.h.Own[b] || m.h.Own[c] {
			m.stats.Own++
			return
		}
		m.clientEnd(f, a, b, c, dnat)
	}
	if lC {
		m.serverEnd(f, c, d, a)
	}
	switch {
	case lB && !lC:
		// A published port (lB && !lC implies a DNAT): the host answers on
		// b for a backend elsewhere.
		m.published(f, a, b, c, d)
	case !lA && !lB && !lC:
		m.masqueraded(f, a, b, c, dnat)
	}
}

// published handles a flow the host takes on its own b for the backend c
// (a container of its own, or another host), from the client a (seen by
// the backend as d).
func (m *Merger) published(f *Flow, a, b, c, d netip.AddrPort) {
	k := recKey{dir: snapshot.Downstream, proto: f.Proto, port: b.Port(), remote: a.Addr(), backend: c}
	ct, ok := m.h.Containers[c.Addr()]
	if !ok {
		m.add(f, k, false)
		return
	}
	// The container's own socket of the flow, where its namespace was
	// read: its record (the container's port, as the container sees it)
	// becomes the published port's.
	if s := m.socks[sockKey{f.Proto, c, d}]; s != nil && s.Netns == ct.Netns {
		from := recKey{dir: snapshot.Downstream, proto: s.Proto, port: c.Port(), process: s.Process, workload: s.Workload, netns: s.Netns, remote: d.Addr()}
		to := k
		to.process, to.workload, to.netns = s.Process, s.Workload, s.Netns
		if m.move(s, from, to) {
			m.stats.Shown++
			return
		}
		// The socket scan put it elsewhere (another process's record):
		// the flow counts on the published port by itself.
	}
	k.netns, k.workload = ct.Netns, ct.Workload
	if l := m.listener(ct.Netns, f.Proto, c); l != nil {
		k.process, k.workload = l.Process, cmp.Or(l.Workload, ct.Workload)
	}
	m.add(f, k, false)
}

// masqueraded handles a flow the host's NAT rewrote the source of (only
// Reply.Dst is the host's): one of its containers, a, made it to b,
// actually served by c.
func (m *Merger) masqueraded(f *Flow, a, b, c netip.AddrPort, dnat bool) {
	// Where the scan read the container's namespace, its socket shows the
	// flow already (with the address it dialled, b: a DNAT on the host
	// moves it to the actual destination c).
	if s := m.socks[sockKey{f.Proto, a, b}]; s != nil {
		m.stats.Shown++
		if dnat {
			m.annotate(s, c, b)
		}
		return
	}
	k := recKey{dir: snapshot.Upstream, proto: f.Proto, port: c.Port(), remote: c.Addr(), origin: a.Addr()}
	if dnat {
		k.dialled = b
	}
	if ct, ok := m.h.Containers[a.Addr()]; ok {
		k.netns, k.workload = ct.Netns, ct.Workload
		if f.Proto == "udp" {
			if s := m.sender(ct.Netns, a); s != nil {
				k.process, k.workload = s.Process, cmp.Or(s.Workload, ct.Workload)
			}
		}
	}
	m.add(f, k, true)
}

// clientEnd handles a flow this host's namespace started (a:a -> b, actually
// served by c). It reports whether the flow was accounted for.
func (m *Merger) clientEnd(f *Flow, a, b, c netip.AddrPort, dnat bool) {
	if s := m.socks[sockKey{f.Proto, a, b}]; s != nil {
		m.stats.Shown++
		if dnat {
			m.annotate(s, c, b)
		}
		return
	}
	var process, workload string
	var netns uint64
	if f.Proto == "udp" {
		if s := m.sender(m.h.HostNetns, a); s != nil {
			process, workload, netns = s.Process, s.Workload, s.Netns
		}
		// The listener rule: traffic from a port this host serves (and not
		// an ephemeral one) is that server's, answering or notifying.
		if l := m.listener(m.h.HostNetns, f.Proto, a); l != nil && !m.h.Ephemeral(a.Port()) {
			m.add(f, recKey{dir: snapshot.Downstream, proto: f.Proto, port: a.Port(), process: l.Process, workload: l.Workload, netns: l.Netns, remote: c.Addr()}, true)
			return
		}
	}
	k := recKey{dir: snapshot.Upstream, proto: f.Proto, port: c.Port(), process: process, workload: workload, netns: netns, remote: c.Addr()}
	if dnat {
		k.dialled = b
	}
	m.add(f, k, true)
}

// serverEnd handles a flow this host's namespace serves on c for the
// client d (the real client a, when the host's own NAT rewrote it).
func (m *Merger) serverEnd(f *Flow, c, d, a netip.AddrPort) {
	if m.socks[sockKey{f.Proto, c, d}] != nil {
		m.stats.Shown++
		return
	}
	l := m.listener(m.h.HostNetns, f.Proto, c)
	if l == nil && f.Proto == "udp" {
		m.stats.Unanswered++
		return
	}
	k := recKey{dir: snapshot.Downstream, proto: f.Proto, port: c.Port(), remote: a.Addr()}
	if l != nil {
		k.process, k.workload, k.netns = l.Process, l.Workload, l.Netns
	}
	m.add(f, k, false)
}

// annotate moves socket s from its record (remote: the dialled address) to
// the record of its actual destination.
func (m *Merger) annotate(s *Socket, actual, dialled netip.AddrPort) {
	from := recKey{dir: snapshot.Upstream, proto: s.Proto, port: dialled.Port(), process: s.Process, workload: s.Workload, netns: s.Netns, remote: dialled.Addr()}
	to := recKey{dir: snapshot.Upstream, proto: s.Proto, port: actual.Port(), process: s.Process, workload: s.Workload, netns: s.Netns, remote: actual.Addr(), dialled: dialled}
	m.move(s, from, to)
}

// move moves socket s, its state and bytes, from the record from to the
// record to, and reports whether it did. A socket the socket scan counted
// elsewhere (no socket in from: the other direction, another process)
// stays where it is, as does one past MaxRecords.
func (m *Merger) move(s *Socket, from, to recKey) bool {
	old := m.recs[from]
	if old == nil || old.Sockets == 0 {
		return false
	}
	rec := m.record(to)
	if rec == nil {
		return false
	}
	old.Sockets--
	rec.Sockets++
	if s.State != "" {
		if old.States[s.State]--; old.States[s.State] <= 0 {
			delete(old.States, s.State)
		}
		if rec.States == nil {
			rec.States = map[string]int{}
		}
		rec.States[s.State]++
	}
	if s.HasBytes {
		old.BytesSent -= min(old.BytesSent, s.BytesSent)
		old.BytesReceived -= min(old.BytesReceived, s.BytesReceived)
		rec.BytesSent += s.BytesSent
		rec.BytesReceived += s.BytesReceived
	}
	m.stats.Annotated++
	return true
}

// record returns the record for k, creating it within MaxRecords.
func (m *Merger) record(k recKey) *snapshot.Connection {
	if r := m.recs[k]; r != nil {
		return r
	}
	if m.added >= m.h.MaxRecords {
		return nil
	}
	m.added++
	r := &snapshot.Connection{Direction: k.dir, Protocol: k.proto, Port: k.port, Process: k.process, Workload: k.workload, Netns: k.netns, RemoteIP: k.remote,
		DialledIP: k.dialled.Addr(), DialledPort: k.dialled.Port(),
		BackendIP: k.backend.Addr(), BackendPort: k.backend.Port(), OriginIP: k.origin}
	m.recs[k] = r
	m.order = append(m.order, k)
	return r
}

// add counts flow f into the record k; up says whether the host's side is
// the original direction's sender (bytes sent are then the original ones).
func (m *Merger) add(f *Flow, k recKey, up bool) {
	r := m.record(k)
	if r == nil {
		m.stats.Dropped++
		return
	}
	r.Flows++
	m.stats.Added++
	if f.Ended() {
		r.EndedFlows++
		m.stats.Ended++
	}
	if f.HasBytes {
		if up {
			r.BytesSent += f.OrigBytes
			r.BytesReceived += f.ReplyBytes
		} else {
			r.BytesSent += f.ReplyBytes
			r.BytesReceived += f.OrigBytes
		}
	}
}

// Result returns the amended records, sorted like the socket scan's (a
// record all of whose sockets moved elsewhere is gone), and the counts.
func (m *Merger) Result() ([]snapshot.Connection, Stats) {
	out := make([]snapshot.Connection, 0, len(m.order))
	for _, k := range m.order {
		r := m.recs[k]
		if r.Sockets == 0 && r.Flows == 0 {
			continue
		}
		if len(r.States) == 0 {
			r.States = nil
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, Compare)
	return out, m.stats
}

// Compare orders connection records: direction, protocol, port, remote,
// process, then the NAT addresses.
func Compare(a, b snapshot.Connection) int {
	return cmp.Or(
		cmp.Compare(a.Direction, b.Direction),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Port, b.Port),
		a.RemoteIP.Compare(b.RemoteIP),
		cmp.Compare(a.Process, b.Process),
		a.DialledIP.Compare(b.DialledIP),
		cmp.Compare(a.DialledPort, b.DialledPort),
		a.BackendIP.Compare(b.BackendIP),
		cmp.Compare(a.BackendPort, b.BackendPort),
		a.OriginIP.Compare(b.OriginIP),
		cmp.Compare(a.Workload, b.Workload),
		cmp.Compare(a.Netns, b.Netns),
	)
}
