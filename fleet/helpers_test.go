package fleet

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/snapshot"
)

// The snapshots these tests read, built the way graph's tests build them.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// host builds a snapshot; conns are added with up/down.
func host(name, hostgroup, addr string, at time.Time, conns ...snapshot.Connection) *snapshot.Snapshot {
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

func conn(dir snapshot.Direction, port uint16, process, remote, remoteHG string, sockets int) snapshot.Connection {
	return snapshot.Connection{Direction: dir, Protocol: "tcp", Port: port, Process: process,
		RemoteIP: netip.MustParseAddr(remote), RemoteHostgroup: remoteHG, Sockets: sockets}
}

func up(port uint16, process, remote, remoteHG string, sockets int) snapshot.Connection {
	return conn(snapshot.Upstream, port, process, remote, remoteHG, sockets)
}

func down(port uint16, process, remote, remoteHG string, sockets int) snapshot.Connection {
	return conn(snapshot.Downstream, port, process, remote, remoteHG, sockets)
}

// describeEdges renders a graph's edges compactly.
func describeEdges(g *graph.Graph) (edges []string) {
	for _, e := range g.Edges {
		edges = append(edges, fmt.Sprintf("%s->%s %s/%d %s sockets=%d clients=%d servers=%d cp=%v sp=%v",
			e.From, e.To, e.Protocol, e.Port, e.SeenFrom, e.Sockets, e.ClientHosts, e.ServerHosts, e.Names().ClientProcesses, e.Names().ServerProcesses))
	}
	return edges
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}
