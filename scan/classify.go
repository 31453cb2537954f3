package scan

import (
	"cmp"
	"math"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/snapshot"
)

// PortRange is the host's ephemeral (client) port range.
type PortRange struct{ Lo, Hi uint16 }

// Contains reports whether port is ephemeral.
func (r PortRange) Contains(port uint16) bool { return port >= r.Lo && port <= r.Hi }

// Classified is what Classify makes of a socket table.
type Classified struct {
	Listeners   []snapshot.Listener
	Connections []snapshot.Connection
	// Unowned counts reported sockets that have an inode but no known owner.
	Unowned int
	// Undirected counts ownerless closing sockets left out because nothing
	// in the socket table tells which end this host was (see orphanDirection).
	Undirected int
	// HasBytes is true when any connection carries tcp_info byte counters.
	HasBytes bool
}

// listenKey finds listeners by protocol and port; several binds may share one.
type listenKey struct {
	proto string
	port  uint16
}

type connKey struct {
	dir     snapshot.Direction
	proto   string
	port    uint16
	process string
	remote  netip.Addr
}

type listenerKey struct {
	proto   string
	addr    netip.Addr
	port    uint16
	process string
}

// endpoint is one end of a connection of one protocol.
type endpoint struct {
	proto string
	ap    netip.AddrPort
}

// bind is a listener record with what decides which connections it took.
type bind struct {
	l      *snapshot.Listener
	family uint8 // 0: not known
	v6only bool  // every socket of the record has IPV6_V6ONLY
}

// verdict is the direction and record port of one connected socket.
type verdict struct {
	known    bool
	dir      snapshot.Direction
	port     uint16
	listener *snapshot.Listener // the listener that accepted it, if any
}

// Classify turns sockets into listeners and aggregated dependencies, as
// docs/scan.md ("What a scan sees") says. owners maps socket inodes to
// processes.
func Classify(socks []Socket, owners map[uint64]Process, ephemeral PortRange) Classified {
	var out Classified
	owner := func(s *Socket) (Process, bool) {
		if s.Inode == 0 {
			return Process{}, false
		}
		p, ok := owners[s.Inode]
		if !ok {
			out.Unowned++
		}
		return p, ok
	}

	// Pass 1: server sockets, each named after the holder that serves it.
	served := acceptedBy(socks, owners, ephemeral)
	binds := map[listenKey][]*bind{}
	listeners := map[listenerKey]*bind{}
	for i := range socks {
		s := &socks[i]
		if !isServer(s, ephemeral) {
			continue
		}
		p, _ := owner(s)
		k := listenerKey{s.Protocol, s.Local.Addr(), s.Local.Port(), serverOf(p, served[listenKey{s.Protocol, s.Local.Port()}]).Name}
		b := listeners[k]
		if b == nil {
			b = &bind{
				l:      &snapshot.Listener{Protocol: k.proto, Address: k.addr, Port: k.port, Process: k.process},
				family: s.Family,
				v6only: s.V6Only,
			}
			listeners[k] = b
			lk := listenKey{k.proto, k.port}
			binds[lk] = append(binds[lk], b)
		}
		b.v6only = b.v6only && s.V6Only
		b.l.Sockets++
	}

	// Pass 2: the direction of each connected socket. Ownerless closing
	// sockets without a listener are judged on the whole table.
	ev := newEvidence(socks, binds)
	verdicts := make([]verdict, len(socks))
	for i := range socks {
		s := &socks[i]
		if !isConnected(s) {
			continue
		}
		if l := matchListener(binds[listenKey{s.Protocol, s.Local.Port()}], s); l != nil {
			verdicts[i] = verdict{true, snapshot.Downstream, s.Local.Port(), l}
			continue
		}
		if s.Inode == 0 {
			dir, ok := ev.orphanDirection(i, ephemeral)
			if !ok {
				out.Undirected++
				continue
			}
			port := s.Remote.Port()
			if dir == snapshot.Downstream {
				port = s.Local.Port()
			}
			verdicts[i] = verdict{known: true, dir: dir, port: port}
			continue
		}
		verdicts[i] = verdict{known: true, dir: snapshot.Upstream, port: s.Remote.Port()}
	}

	// The processes with live sockets on each endpoint: an ownerless
	// closing socket is theirs when exactly one process name is there.
	liveTo := map[endpoint]string{}   // upstream: the peer's endpoint
	liveFrom := map[endpoint]string{} // downstream without listener: ours
	for i := range socks {
		s, v := &socks[i], verdicts[i]
		if !v.known || s.Inode == 0 {
			continue
		}
		p, ok := owners[s.Inode]
		if !ok {
			continue
		}
		m, e := liveTo, endpoint{s.Protocol, s.Remote}
		if v.dir == snapshot.Downstream {
			m, e = liveFrom, endpoint{s.Protocol, s.Local}
		}
		if name, seen := m[e]; !seen {
			m[e] = p.Name
		} else if name != p.Name {
			m[e] = "" // more than one process: not attributable
		}
	}

	// Pass 3: aggregate.
	conns := map[connKey]*snapshot.Connection{}
	for i := range socks {
		s, v := &socks[i], verdicts[i]
		if !v.known {
			continue
		}
		p, _ := owner(s)
		process := p.Name
		if s.Inode == 0 {
			switch {
			case v.listener != nil:
				// A closing socket has no owner; the listener that
				// accepted it names the service.
				process = v.listener.Process
			case v.dir == snapshot.Upstream:
				process = liveTo[endpoint{s.Protocol, s.Remote}]
			default:
				process = liveFrom[endpoint{s.Protocol, s.Local}]
			}
		}
		k := connKey{v.dir, s.Protocol, v.port, process, s.Remote.Addr()}
		c := conns[k]
		if c == nil {
			c = &snapshot.Connection{Direction: v.dir, Protocol: s.Protocol, Port: v.port, Process: process, RemoteIP: k.remote}
			conns[k] = c
		}
		c.Sockets++
		if s.Protocol == "tcp" {
			if c.States == nil {
				c.States = map[string]int{}
			}
			c.States[stateName(s.State)]++
		}
		if s.HasBytes {
			c.BytesSent += s.BytesAcked
			c.BytesReceived += s.BytesReceived
			out.HasBytes = true
		}
	}

	out.Listeners = make([]snapshot.Listener, 0, len(listeners))
	for _, b := range listeners {
		out.Listeners = append(out.Listeners, *b.l)
	}
	slices.SortFunc(out.Listeners, compareListeners)
	out.Connections = make([]snapshot.Connection, 0, len(conns))
	for _, c := range conns {
		out.Connections = append(out.Connections, *c)
	}
	slices.SortFunc(out.Connections, compareConnections)
	return out
}

// acceptedBy counts, for each protocol and port with a listener held by
// several processes, the connected sockets on that local port each of
// those processes holds: the connections it accepted.
func acceptedBy(socks []Socket, owners map[uint64]Process, ephemeral PortRange) map[listenKey]map[int]int {
	var out map[listenKey]map[int]int
	for i := range socks {
		s := &socks[i]
		if !isServer(s, ephemeral) || len(owners[s.Inode].Others) == 0 {
			continue
		}
		if out == nil {
			out = map[listenKey]map[int]int{}
		}
		out[listenKey{s.Protocol, s.Local.Port()}] = map[int]int{}
	}
	if out == nil {
		return nil
	}
	for i := range socks {
		s := &socks[i]
		n, ok := out[listenKey{s.Protocol, s.Local.Port()}]
		if !ok || !isConnected(s) || s.Inode == 0 {
			continue
		}
		for _, h := range owners[s.Inode].Holders() {
			n[h.PID]++
		}
	}
	return out
}

// serverOf names a listening socket held by several processes after the
// holder of most of the connections accepted on its port; without such
// evidence, after its owner (the first holder that is not a service
// manager, see ProcFS.Owners). So a socket-activated sshd's listener is
// sshd, not PID 1 that created it and keeps it open.
func serverOf(p Process, accepted map[int]int) Process {
	best := p
	for _, h := range p.Others {
		if accepted[h.PID] > accepted[best.PID] {
			best = h
		}
	}
	return best
}

// evidence is what the whole socket table says about its endpoints.
type evidence struct {
	// ends numbers every endpoint of a connected socket: its index in
	// stats. pair is, for each connected socket (by its index in socks),
	// its local and remote endpoints' numbers.
	ends  map[endpoint]int32
	stats []endStats
	pair  [][2]int32
	peers map[[2]int32]int // connected socket by (local, remote) endpoint number
	binds map[listenKey][]*bind
	socks []Socket
}

// endStats is what the table says of one endpoint.
type endStats struct {
	// deg counts the connected sockets the endpoint is one end of.
	deg int
	// client is how strongly the table says the endpoint is a client's:
	// the fan (deg) of the busiest endpoint it is connected to that has
	// more connections than itself; certain for the remote end of a
	// connection a listener accepted.
	client int
}

// certain is the client score of an endpoint whose role is known.
const certain = math.MaxInt

func newEvidence(socks []Socket, binds map[listenKey][]*bind) *evidence {
	ev := &evidence{binds: binds, socks: socks}
	orphans := false
	connected := 0
	for i := range socks {
		s := &socks[i]
		if isConnected(s) {
			connected++
			orphans = orphans || s.Inode == 0
		}
	}
	if !orphans {
		return ev
	}
	// Each endpoint is hashed once, and the passes after go by its number:
	// on a busy host every connection is weighed (20,000 sockets at 10,000
	// loopback connections).
	ev.ends = make(map[endpoint]int32, 2*connected)
	ev.stats = make([]endStats, 0, 2*connected)
	ev.pair = make([][2]int32, len(socks))
	ev.peers = make(map[[2]int32]int, connected)
	number := func(e endpoint) int32 {
		n, ok := ev.ends[e]
		if !ok {
			n = int32(len(ev.stats))
			ev.ends[e] = n
			ev.stats = append(ev.stats, endStats{})
		}
		return n
	}
	for i := range socks {
		s := &socks[i]
		if !isConnected(s) {
			continue
		}
		l, r := number(endpoint{s.Protocol, s.Local}), number(endpoint{s.Protocol, s.Remote})
		ev.stats[l].deg++
		ev.stats[r].deg++
		ev.pair[i] = [2]int32{l, r}
		ev.peers[[2]int32{l, r}] = i
	}
	raise := func(e int32, n int) {
		if n > ev.stats[e].client {
			ev.stats[e].client = n
		}
	}
	for i := range socks {
		s := &socks[i]
		if !isConnected(s) {
			continue
		}
		l, r := ev.pair[i][0], ev.pair[i][1]
		switch {
		case matchListener(binds[listenKey{s.Protocol, s.Local.Port()}], s) != nil:
			raise(r, certain)
		default:
			dl, dr := ev.stats[l].deg, ev.stats[r].deg
			if dl > dr {
				raise(r, dl)
			} else if dr > dl {
				raise(l, dr)
			}
		}
	}
	return ev
}

// orphanDirection decides the direction of socket i of the table, an
// ownerless closing socket with no listener on its local port (a server's
// side of a connection after its listener went away, or a client's side of
// one it closed first), from the whole table, in this order:
//
//   - The other end of the connection is in the table (a connection on
//     this host) and was accepted by a listener: this end is the client.
//   - Which end the table says more strongly is a client's: the remote end
//     of an accepted connection is; so is an endpoint connected to a
//     busier one (a server's port
//     fans in from many client ports, a client port goes to one server,
//     or to a few when the kernel reuses it for other destinations).
//   - A tie (a lone socket): the host's own ephemeral range, when exactly
//     one of the two ports is in it: that one is this host's client port.
//
// Otherwise it reports false: the direction is unknown, and the socket is
// left out rather than become a record labelled with a client's port.
func (ev *evidence) orphanDirection(i int, ephemeral PortRange) (snapshot.Direction, bool) {
	s := &ev.socks[i]
	l, r := ev.pair[i][0], ev.pair[i][1]
	if j, ok := ev.peers[[2]int32{r, l}]; ok {
		p := &ev.socks[j]
		if matchListener(ev.binds[listenKey{p.Protocol, p.Local.Port()}], p) != nil {
			return snapshot.Upstream, true
		}
	}
	switch cl, cr := ev.stats[l].client, ev.stats[r].client; {
	case cr > cl:
		return snapshot.Downstream, true
	case cl > cr:
		return snapshot.Upstream, true
	}
	switch localEph, remoteEph := ephemeral.Contains(s.Local.Port()), ephemeral.Contains(s.Remote.Port()); {
	case localEph && !remoteEph:
		return snapshot.Upstream, true
	case remoteEph && !localEph:
		return snapshot.Downstream, true
	}
	return "", false
}

// isServer: a listening TCP socket, or an unconnected UDP socket bound to a
// port outside the ephemeral range (an ephemeral one is a client's).
func isServer(s *Socket, ephemeral PortRange) bool {
	switch s.Protocol {
	case "tcp":
		return s.State == stateListen
	case "udp":
		return s.Remote.Port() == 0 && s.Local.Port() != 0 && !ephemeral.Contains(s.Local.Port())
	}
	return false
}

// isConnected: a TCP socket that is or was an established connection
// (closing states count: short-lived connections leave nothing else), or a
// connected UDP socket.
func isConnected(s *Socket) bool {
	switch s.Protocol {
	case "tcp":
		switch s.State {
		case stateEstablished, stateFinWait1, stateFinWait2, stateTimeWait,
			stateCloseWait, stateLastAck, stateClosing:
			return true
		}
	case "udp":
		return s.Remote.Port() != 0
	}
	return false
}

// matchListener picks the listener that accepted a connected socket s: an
// exact bind first, then a wildcard of the same family, then the IPv6
// wildcard, which also accepts IPv4 on a dual-stack socket. An accepted
// socket has its listener's address family, so, where the families are
// known, an IPv4 (AF_INET) socket never belongs to an IPv6 listener, and an
// IPv6 listener with IPV6_V6ONLY takes no IPv4 connection.
func matchListener(bs []*bind, s *Socket) *snapshot.Listener {
	local := s.Local.Addr()
	var wild4, wild6 *snapshot.Listener
	for _, b := range bs {
		if !b.takes(s) {
			continue
		}
		l := b.l
		switch {
		case l.Address == local:
			return l
		case l.Address.IsUnspecified() && l.Address.Is4():
			wild4 = cmp.Or(wild4, l)
		case l.Address.IsUnspecified():
			wild6 = cmp.Or(wild6, l)
		}
	}
	if local.Is4() && wild4 != nil {
		return wild4
	}
	return wild6
}

// takes reports whether b could have accepted (or, for UDP, be the server
// side of) s, by address family and IPV6_V6ONLY.
func (b *bind) takes(s *Socket) bool {
	v4 := s.Local.Addr().Is4()
	switch {
	case b.family != 0 && s.Family != 0 && b.family != s.Family:
		return false
	case b.family == unix.AF_INET6 || b.l.Address.Is6():
		return !(v4 && b.v6only)
	}
	return true
}

func compareListeners(a, b snapshot.Listener) int {
	return cmp.Or(
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Port, b.Port),
		a.Address.Compare(b.Address),
		cmp.Compare(a.Process, b.Process),
	)
}

func compareConnections(a, b snapshot.Connection) int {
	return cmp.Or(
		cmp.Compare(a.Direction, b.Direction),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Port, b.Port),
		a.RemoteIP.Compare(b.RemoteIP),
		cmp.Compare(a.Process, b.Process),
	)
}
