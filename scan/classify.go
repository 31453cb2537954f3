package scan

import (
	"cmp"
	"net/netip"
	"slices"

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

// Classify turns sockets into listeners and aggregated dependencies, as
// SPEC.md section 3 says. owners maps socket inodes to processes.
func Classify(socks []Socket, owners map[uint64]Process, ephemeral PortRange) Classified {
	var out Classified
	owner := func(s *Socket) string {
		if s.Inode == 0 {
			return ""
		}
		p, ok := owners[s.Inode]
		if !ok {
			out.Unowned++
		}
		return p.Name
	}

	// Pass 1: server sockets.
	binds := map[listenKey][]*snapshot.Listener{}
	listeners := map[listenerKey]*snapshot.Listener{}
	for i := range socks {
		s := &socks[i]
		if !isServer(s, ephemeral) {
			continue
		}
		k := listenerKey{s.Protocol, s.Local.Addr(), s.Local.Port(), owner(s)}
		l := listeners[k]
		if l == nil {
			l = &snapshot.Listener{Protocol: k.proto, Address: k.addr, Port: k.port, Process: k.process}
			listeners[k] = l
			lk := listenKey{k.proto, k.port}
			binds[lk] = append(binds[lk], l)
		}
		l.Sockets++
	}

	// Pass 2: connected sockets.
	conns := map[connKey]*snapshot.Connection{}
	for i := range socks {
		s := &socks[i]
		if !isConnected(s) {
			continue
		}
		dir := snapshot.Upstream
		port := s.Remote.Port()
		l := matchListener(binds[listenKey{s.Protocol, s.Local.Port()}], s.Local.Addr())
		switch {
		case l != nil:
			dir, port = snapshot.Downstream, s.Local.Port()
		case s.Inode == 0 && serverSideOrphan(s, ephemeral):
			// A closing socket whose listener has already gone (TIME_WAIT
			// after a restart): the server's port is ours. Counting it
			// upstream would put the client's port in a label.
			dir, port = snapshot.Downstream, s.Local.Port()
		}
		process := owner(s)
		if process == "" && s.Inode == 0 && l != nil {
			// A closing socket has no owner; the listener that accepted
			// it names the service.
			process = l.Process
		}
		k := connKey{dir, s.Protocol, port, process, s.Remote.Addr()}
		c := conns[k]
		if c == nil {
			c = &snapshot.Connection{Direction: dir, Protocol: s.Protocol, Port: port, Process: process, RemoteIP: k.remote}
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
	for _, l := range listeners {
		out.Listeners = append(out.Listeners, *l)
	}
	slices.SortFunc(out.Listeners, compareListeners)
	out.Connections = make([]snapshot.Connection, 0, len(conns))
	for _, c := range conns {
		out.Connections = append(out.Connections, *c)
	}
	slices.SortFunc(out.Connections, compareConnections)
	return out
}

// serverSideOrphan guesses, for an ownerless closing socket with no
// listener, whether this host was the server: when exactly one of the two
// ports is ephemeral, that side was the client; when neither is (a client
// with another OS's port range), the lower port is the server's; when both
// are, nothing tells, and the socket stays upstream like any other.
func serverSideOrphan(s *Socket, ephemeral PortRange) bool {
	localEph, remoteEph := ephemeral.Contains(s.Local.Port()), ephemeral.Contains(s.Remote.Port())
	switch {
	case localEph != remoteEph:
		return remoteEph
	case !localEph:
		return s.Local.Port() < s.Remote.Port()
	}
	return false
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

// matchListener picks the listener that owns a connection with local address
// local: an exact bind first, then a wildcard of the same family, then the
// IPv6 wildcard, which also accepts IPv4 on a dual-stack socket.
func matchListener(ls []*snapshot.Listener, local netip.Addr) *snapshot.Listener {
	var wild4, wild6 *snapshot.Listener
	for _, l := range ls {
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
