package render

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/snapshot"
)

// graphFixtures are the graphs every graph renderer is tested with.
var graphFixtures = []struct {
	name  string
	graph func(t *testing.T) *graph.Graph
}{
	{"fleet", func(t *testing.T) *graph.Graph { return mustMerge(t, fleet()...) }},
	{"hostile", func(t *testing.T) *graph.Graph { return mustMerge(t, hostile()) }},
	{"hostile-ids", func(t *testing.T) *graph.Graph { return mustRead(t, "testdata/hostile-ids.graph.json") }},
	{"realistic", func(t *testing.T) *graph.Graph { return mustMerge(t, realistic()) }},
	{"minimal", func(t *testing.T) *graph.Graph { return mustMerge(t, minimal()) }},
	{"incomplete", func(t *testing.T) *graph.Graph { return mustMerge(t, incomplete()...) }},
	// Some links from windowed records (bytes per second), others not.
	{"windowed", func(t *testing.T) *graph.Graph { return mustMerge(t, windowed()) }},
	{"containers-by-workload", func(t *testing.T) *graph.Graph {
		g, err := graph.Merge([]*snapshot.Snapshot{containers()}, graph.MergeOptions{By: graph.ByWorkload})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}},
}

// incomplete is a client scanned as root and a server scanned without: the
// server's sockets have no process, and its snapshot says how many.
func incomplete() []*snapshot.Snapshot {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := []snapshot.Source{{Name: snapshot.SourceSockets, OK: true, Detail: "netlink"}}
	client := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: at, Sources: ok,
		Host: snapshot.Host{Hostname: "client-1", Addresses: []netip.Addr{ip("10.252.3.2")}, Hostgroup: "client"},
		Connections: []snapshot.Connection{{Direction: snapshot.Upstream, Protocol: "tcp", Port: 8080, Process: "kcli",
			RemoteIP: ip("10.252.3.1"), RemoteHostgroup: "svc", Sockets: 1}}}
	svc := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: at, Sources: ok, UnownedSockets: 3,
		Host:      snapshot.Host{Hostname: "svc-1", Addresses: []netip.Addr{ip("10.252.3.1")}, Hostgroup: "svc"},
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 8080, Sockets: 1}},
		Connections: []snapshot.Connection{{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8080,
			RemoteIP: ip("10.252.3.2"), RemoteHostgroup: "client", Sockets: 1}},
		Warnings: []string{"sockets without a known owner process sockets=3 hint=run as root to see other users' processes"}}
	return []*snapshot.Snapshot{client, svc}
}

func mustMerge(t *testing.T, snaps ...*snapshot.Snapshot) *graph.Graph {
	t.Helper()
	g, err := graph.Merge(snaps, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustRead(t *testing.T, path string) *graph.Graph {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Parse(doc, path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fleet is a small fleet as four scans with an inventory see it: two web
// hosts behind a load balancer host, a database, a cache nobody scanned, a
// monitoring server, an ssh bastion and an outside API.
func fleet() []*snapshot.Snapshot {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	host := func(name, group, addr string) snapshot.Host {
		return snapshot.Host{Hostname: name, Addresses: []netip.Addr{ip(addr)}, Hostgroup: group, Domain: name + ".service.consul"}
	}
	ok := []snapshot.Source{{Name: snapshot.SourceSockets, OK: true, Detail: "netlink"}, {Name: snapshot.SourceInventory, OK: true}}
	up := func(port uint16, proc, rip, group string, sockets int, sent, recv uint64) snapshot.Connection {
		return snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: port, Process: proc, RemoteIP: ip(rip),
			RemoteHostgroup: group, Sockets: sockets, BytesSent: sent, BytesReceived: recv}
	}
	down := func(port uint16, proc, rip, group string, sockets int, sent, recv uint64) snapshot.Connection {
		return snapshot.Connection{Direction: snapshot.Downstream, Protocol: "tcp", Port: port, Process: proc, RemoteIP: ip(rip),
			RemoteHostgroup: group, Sockets: sockets, BytesSent: sent, BytesReceived: recv}
	}
	web1 := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: at, Host: host("web-1", "web", "10.1.0.1"), Sources: ok,
		Connections: []snapshot.Connection{
			up(5432, "app", "10.3.0.1", "db", 4, 2_000_000, 80_000_000),
			up(6379, "app", "10.4.0.1", "cache", 2, 10_000, 50_000),
			up(443, "app", "93.184.216.34", "", 1, 3000, 120_000),
			down(8080, "app", "10.0.0.10", "lb", 6, 900_000_000, 4_000_000),
			down(9100, "node_exporter", "10.9.0.1", "monitoring", 1, 0, 0),
			down(22, "sshd", "10.8.0.1", "bastion", 1, 0, 0),
		}}
	web2 := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: at, Host: host("web-2", "web", "10.1.0.2"), Sources: ok,
		Connections: []snapshot.Connection{
			up(5432, "app", "10.3.0.1", "db", 3, 1_000_000, 40_000_000),
			down(8080, "app", "10.0.0.10", "lb", 5, 800_000_000, 3_000_000),
			down(9100, "node_exporter", "10.9.0.1", "monitoring", 1, 0, 0),
		}}
	lb := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: at, Host: host("lb-1", "lb", "10.0.0.10"), Sources: ok,
		Connections: []snapshot.Connection{
			up(8080, "haproxy", "10.1.0.1", "web", 6, 4_000_000, 900_000_000),
			up(8080, "haproxy", "10.1.0.2", "web", 5, 3_000_000, 800_000_000),
			down(443, "haproxy", "198.51.100.7", "", 40, 1_700_000_000, 7_000_000),
			down(22, "sshd", "10.8.0.1", "bastion", 1, 0, 0),
		}}
	db := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: at, Host: host("db-1", "db", "10.3.0.1"), Sources: ok,
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 5432, Process: "postgres", Sockets: 1}},
		Connections: []snapshot.Connection{
			down(5432, "postgres", "10.1.0.1", "web", 4, 80_000_000, 2_000_000),
			down(5432, "postgres", "10.1.0.2", "web", 3, 40_000_000, 1_000_000),
			down(9100, "node_exporter", "10.9.0.1", "monitoring", 1, 0, 0),
			{Direction: snapshot.Upstream, Protocol: "udp", Port: 53, Process: "systemd-resolve", RemoteIP: ip("10.0.0.2"), Sockets: 1},
		},
		Traffic: &snapshot.Traffic{Source: "http://127.0.0.1:667/metrics", Format: "metrics", Peers: []snapshot.Peer{
			{RemoteIP: ip("10.0.0.2"), IngressBytes: 300_000, EgressBytes: 200_000},
			{RemoteIP: ip("10.1.0.1"), RemoteHostgroup: "web", IngressBytes: 2_100_000, EgressBytes: 81_000_000},
		}},
	}
	return []*snapshot.Snapshot{web1, web2, lb, db}
}
