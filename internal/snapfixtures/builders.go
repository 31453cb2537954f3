package snapfixtures

import (
	"net/netip"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// Host builds a snapshot of one host (hostname, hostgroup, its one address
// or none for "") scanned at at, with a sockets source that worked, no
// listeners and conns (made with Conn, Up and Down).
func Host(name, hostgroup, addr string, at time.Time, conns ...snapshot.Connection) *snapshot.Snapshot {
	h := snapshot.Host{Hostname: name, Hostgroup: hostgroup}
	if addr != "" {
		h.Addresses = []netip.Addr{netip.MustParseAddr(addr)}
	}
	return &snapshot.Snapshot{
		Schema: snapshot.Schema, PlanetVersion: "test", ScannedAt: at, Host: h,
		Sources:     []snapshot.Source{{Name: snapshot.SourceSockets, OK: true}},
		Listeners:   []snapshot.Listener{},
		Connections: conns,
	}
}

// Conn is one connection record: direction, protocol, port, process, the
// peer's address and hostgroup, and its socket count.
func Conn(dir snapshot.Direction, proto string, port uint16, process, remote, remoteHG string, sockets int) snapshot.Connection {
	return snapshot.Connection{Direction: dir, Protocol: proto, Port: port, Process: process,
		RemoteIP: netip.MustParseAddr(remote), RemoteHostgroup: remoteHG, Sockets: sockets}
}

// Up is a TCP upstream record (Conn).
func Up(port uint16, process, remote, remoteHG string, sockets int) snapshot.Connection {
	return Conn(snapshot.Upstream, "tcp", port, process, remote, remoteHG, sockets)
}

// Down is a TCP downstream record (Conn).
func Down(port uint16, process, remote, remoteHG string, sockets int) snapshot.Connection {
	return Conn(snapshot.Downstream, "tcp", port, process, remote, remoteHG, sockets)
}
