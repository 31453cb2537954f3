package promsrc

import (
	"net/netip"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/snapshot"
)

var scanTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// fleet is a small hand-made fleet whose every graph field a metric can
// carry is exercised: two web hosts and a db host that see their
// dependency from both ends, a host without inventory (kind host, named by
// its address), unscanned peers known by domain, by hostgroup only and not
// at all, loopback, UDP, an IPv6 listener, a process name with a space,
// darkstat traffic, and a failed source.
func fleet() []*snapshot.Snapshot {
	base := func(name string, ago time.Duration, h snapshot.Host) *snapshot.Snapshot {
		h.Hostname = name
		return &snapshot.Snapshot{
			Schema: snapshot.Schema, PlanetVersion: "test", ScannedAt: scanTime.Add(-ago), Host: h,
			Sources: []snapshot.Source{{Name: snapshot.SourceSockets, OK: true, Detail: "netlink"}},
		}
	}
	web := func(name, addr string, ago time.Duration, dbSockets int) *snapshot.Snapshot {
		s := base(name, ago, snapshot.Host{Addresses: []netip.Addr{ip(addr), ip("172.17.0.1")}, Hostgroup: "web", Domain: name + ".service.consul"})
		s.Sources = append(s.Sources,
			snapshot.Source{Name: snapshot.SourceInventory, OK: true},
			snapshot.Source{Name: snapshot.SourceDarkstat, OK: true})
		s.Listeners = []snapshot.Listener{
			{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 443, Process: "nginx", Sockets: 4},
			{Protocol: "tcp", Address: ip("::"), Port: 9100, Process: "node_exporter", Sockets: 1},
			{Protocol: "tcp", Address: ip("127.0.0.1"), Port: 8500, Process: "consul", Sockets: 1},
		}
		s.Connections = []snapshot.Connection{
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432, Process: "my app", RemoteIP: ip("10.3.0.9"),
				RemoteHostgroup: "db", RemoteDomain: "db-1.service.consul", Sockets: dbSockets,
				States: map[string]int{"ESTABLISHED": dbSockets}, BytesSent: 5000, BytesReceived: 90000},
			{Direction: snapshot.Upstream, Protocol: "udp", Port: 53, Process: "my app", RemoteIP: ip("10.9.9.9"),
				RemoteHostgroup: "dns", RemoteDomain: "dns-1.service.consul", Sockets: 1},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, Process: "my app", RemoteIP: ip("93.184.216.34"), Sockets: 2},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 8500, Process: "my app", RemoteIP: ip("127.0.0.1"),
				RemoteHostgroup: "localhost", Sockets: 1},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8500, Process: "consul", RemoteIP: ip("127.0.0.1"),
				RemoteHostgroup: "localhost", Sockets: 1},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 443, Process: "nginx", RemoteIP: ip("10.200.0.7"),
				RemoteHostgroup: "lb", Sockets: 6, States: map[string]int{"ESTABLISHED": 4, "TIME_WAIT": 2}},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 9100, Process: "node_exporter", RemoteIP: ip("10.8.0.2"),
				RemoteHostgroup: "monitoring", RemoteDomain: "prom-1.service.consul", Sockets: 1},
		}
		s.Traffic = &snapshot.Traffic{Source: "http://127.0.0.1:667/metrics", Format: "metrics", Peers: []snapshot.Peer{
			{RemoteIP: ip("10.3.0.9"), RemoteHostgroup: "db", RemoteDomain: "db-1.service.consul", IngressBytes: 126014316, EgressBytes: 2005},
			{RemoteIP: ip("93.184.216.34"), IngressBytes: 1 << 20, EgressBytes: 0},
		}}
		return s
	}
	db := base("db-1", 0, snapshot.Host{Addresses: []netip.Addr{ip("10.3.0.9")}, Hostgroup: "db", Domain: "db-1.service.consul"})
	db.Sources = append(db.Sources,
		snapshot.Source{Name: snapshot.SourceInventory, OK: true},
		snapshot.Source{Name: snapshot.SourceDarkstat, OK: false, Error: "connection refused"})
	db.Listeners = []snapshot.Listener{
		{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 5432, Process: "postgres", Sockets: 1},
		{Protocol: "tcp", Address: ip("::"), Port: 9100, Process: "node_exporter", Sockets: 1},
	}
	db.Connections = []snapshot.Connection{
		{Direction: snapshot.Downstream, Protocol: "tcp", Port: 5432, Process: "postgres", RemoteIP: ip("10.1.0.5"),
			RemoteHostgroup: "web", RemoteDomain: "web-1.service.consul", Sockets: 3},
		{Direction: snapshot.Downstream, Protocol: "tcp", Port: 5432, Process: "postgres", RemoteIP: ip("10.1.0.6"),
			RemoteHostgroup: "web", RemoteDomain: "web-2.service.consul", Sockets: 4},
		{Direction: snapshot.Upstream, Protocol: "udp", Port: 53, Process: "postgres", RemoteIP: ip("10.9.9.10"),
			RemoteHostgroup: "dns", RemoteDomain: "dns-2.service.consul", Sockets: 1},
	}
	db.UnownedSockets = 2

	// No inventory: no hostgroup, no domain; the graph names it by address.
	tools := base("tools-1", 30*time.Second, snapshot.Host{Addresses: []netip.Addr{ip("10.5.0.2"), ip("::1")}})
	tools.Listeners = []snapshot.Listener{{Protocol: "tcp", Address: ip("10.5.0.2"), Port: 22, Process: "sshd", Sockets: 1}}
	tools.Connections = []snapshot.Connection{
		{Direction: snapshot.Downstream, Protocol: "tcp", Port: 22, Process: "sshd", RemoteIP: ip("10.9.0.1"), Sockets: 1},
		{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, Process: "curl", RemoteIP: ip("93.184.216.34"), Sockets: 1},
		{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, Process: "curl", RemoteIP: ip("2001:db8::1"), Sockets: 1},
	}
	return []*snapshot.Snapshot{web("web-1", "10.1.0.5", 10*time.Second, 3), web("web-2", "10.1.0.6", 20*time.Second, 4), db, tools}
}

// carried strips from a graph what metrics cannot carry, in place, so a
// graph merged from files compares with one merged from Prometheus: the
// per-connection TCP byte counters (no series carries them). Everything
// else must be equal for this fleet; see docs/prometheus.md,
// "What a graph from metrics cannot carry", for what differs on other fleets (several IPs behind one
// domain, peers reaching a scanned host by an address it is not labelled by).
func carried(g *graph.Graph) *graph.Graph {
	for _, e := range g.Edges {
		if b := e.EdgeBytes; b != nil {
			b.PortBytesToServer, b.PortBytesToClient = 0, 0
			if *b == (graph.EdgeBytes{}) {
				e.EdgeBytes = nil
			}
		}
	}
	return g
}
