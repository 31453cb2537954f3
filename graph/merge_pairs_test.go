package graph

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/fleetgen"
	"github.com/planetdeps/planet/snapshot"
)

func withListener(s *snapshot.Snapshot, proto, addr string, port uint16, process string) *snapshot.Snapshot {
	s.Listeners = append(s.Listeners, snapshot.Listener{Protocol: proto, Address: netip.MustParseAddr(addr), Port: port, Process: process, Sockets: 1})
	return s
}

func withStates(c snapshot.Connection, states map[string]int) snapshot.Connection {
	c.States = states
	return c
}

// mergeAnyOrder merges snaps in their order and in shuffled orders, fails if
// the bytes differ, and returns the described edges.
func mergeAnyOrder(t *testing.T, snaps []*snapshot.Snapshot) []string {
	t.Helper()
	g, err := Merge(snaps, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := Write(&want, g); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 6 {
		shuffled := slices.Clone(snaps)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		g2, err := Merge(shuffled, MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := Write(&got, g2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("output depends on input order:\n%s\nvs\n%s", got.String(), want.String())
		}
	}
	_, edges, _ := describe(g)
	return edges
}

// TestMergeHostPairs: the two ends are combined per client/server host pair
// (the larger of the two counts) and the pairs are summed; seen_from says
// how the pairs were seen.
func TestMergeHostPairs(t *testing.T) {
	m1 := func(c ...snapshot.Connection) *snapshot.Snapshot { return host("m1", "clients", "10.0.8.1", t0, c...) }
	m2 := func(c ...snapshot.Connection) *snapshot.Snapshot { return host("m2", "clients", "10.0.8.2", t0, c...) }
	s1 := func(c ...snapshot.Connection) *snapshot.Snapshot { return host("s1", "db", "10.0.8.3", t0, c...) }
	s2 := func(c ...snapshot.Connection) *snapshot.Snapshot { return host("s2", "db", "10.0.8.4", t0, c...) }
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		edges []string
	}{
		{
			name: "one client host and a different server host scanned: pairs summed, mixed",
			snaps: []*snapshot.Snapshot{
				m1(withBytes(up(5432, "pool250", "10.0.8.3", "db", 250), 2500, 5000)),
				s2(withBytes(down(5432, "pgsrv", "10.0.8.2", "clients", 100), 2000, 1000)),
			},
			edges: []string{"clients->db tcp/5432 mixed sockets=350 clients=2 servers=2 cp=[pool250] sp=[pgsrv] bytes=3500/7000"},
		},
		{
			name: "every pair seen from both ends: per pair max, summed",
			snaps: []*snapshot.Snapshot{
				m1(up(5432, "app", "10.0.8.3", "db", 10)),
				m2(up(5432, "app", "10.0.8.3", "db", 5)),
				s1(down(5432, "pgsrv", "10.0.8.1", "clients", 12), down(5432, "pgsrv", "10.0.8.2", "clients", 3)),
			},
			edges: []string{"clients->db tcp/5432 both sockets=17 clients=2 servers=1 cp=[app] sp=[pgsrv]"},
		},
		{
			name: "one pair from both ends, one from the client only",
			snaps: []*snapshot.Snapshot{
				m1(up(5432, "app", "10.0.8.3", "db", 250)),
				s1(down(5432, "pgsrv", "10.0.8.1", "clients", 248)),
				m2(up(5432, "app", "10.0.8.4", "db", 100)),
			},
			edges: []string{"clients->db tcp/5432 mixed sockets=350 clients=2 servers=2 cp=[app] sp=[pgsrv]"},
		},
		{
			name: "several records of one pair add up before the ends are compared",
			snaps: []*snapshot.Snapshot{
				m1(up(5432, "app", "10.0.8.3", "db", 4), up(5432, "backup", "10.0.8.3", "db", 3)),
				s1(down(5432, "pgsrv", "10.0.8.1", "clients", 6)),
			},
			edges: []string{"clients->db tcp/5432 both sockets=7 clients=1 servers=1 cp=[app backup] sp=[pgsrv]"},
		},
		{
			name: "pairs seen from the client only, each by its own client",
			snaps: []*snapshot.Snapshot{
				m1(up(5432, "app", "10.0.8.3", "db", 2)),
				m2(up(5432, "app", "10.0.8.4", "db", 3)),
			},
			edges: []string{"clients->db tcp/5432 client sockets=5 clients=2 servers=2 cp=[app] sp=[]"},
		},
		{
			name: "a scanned server that saw none of a client's sockets",
			snaps: []*snapshot.Snapshot{
				m1(up(5432, "app", "10.0.8.3", "db", 2)),
				s1(),
			},
			edges: []string{"clients->db tcp/5432 client sockets=2 clients=1 servers=1 cp=[app] sp=[]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "edges", mergeAnyOrder(t, tt.snaps), tt.edges)
		})
	}
}

// TestMergerPendingPair: a pair whose other end was declared but never
// added (its file could not be read) counts what the one end saw.
func TestMergerPendingPair(t *testing.T) {
	m, _ := NewMerger(MergeOptions{})
	client := host("m1", "clients", "10.0.8.1", t0, up(5432, "app", "10.0.8.3", "db", 250))
	server := host("s1", "db", "10.0.8.3", t0, down(5432, "pgsrv", "10.0.8.1", "clients", 250))
	m.Declare(client.Host)
	m.Declare(server.Host)
	if err := m.Add(client); err != nil {
		t.Fatal(err)
	}
	g, err := m.Graph()
	if err != nil {
		t.Fatal(err)
	}
	_, edges, _ := describe(g)
	check(t, "edges", edges, []string{"clients->db tcp/5432 client sockets=250 clients=1 servers=1 cp=[app] sp=[]"})
}

// TestMergeServerProcessFromListeners: when the server's own sockets name no
// process, its listeners on that protocol and port do.
func TestMergeServerProcessFromListeners(t *testing.T) {
	api := func(c ...snapshot.Connection) *snapshot.Snapshot { return host("api1", "api", "10.0.0.1", t0, c...) }
	cache := func(c ...snapshot.Connection) *snapshot.Snapshot {
		return host("cache1", "cache", "10.0.0.9", t0, c...)
	}
	tw := map[string]int{"TIME_WAIT": 3}
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		edges []string
	}{
		{
			name: "connected UDP client: the server has only an unconnected socket",
			snaps: []*snapshot.Snapshot{
				api(conn(snapshot.Upstream, "udp", 8125, "app", "10.0.0.9", "cache", 1)),
				withListener(cache(), "udp", "0.0.0.0", 8125, "statsd"),
			},
			edges: []string{"api->cache udp/8125 client sockets=1 clients=1 servers=1 cp=[app] sp=[statsd]"},
		},
		{
			name: "the server's side of every connection was closing, unowned",
			snaps: []*snapshot.Snapshot{
				api(withStates(up(8000, "", "10.0.0.9", "cache", 3), tw)),
				withListener(cache(withStates(down(8000, "", "10.0.0.1", "api", 3), tw)), "tcp", "::", 8000, "apisrv"),
			},
			edges: []string{"api->cache tcp/8000 both sockets=3 clients=1 servers=1 cp=[] sp=[apisrv]"},
		},
		{
			name: "only the client's closing sockets: the listener names the server",
			snaps: []*snapshot.Snapshot{
				api(withStates(up(8000, "", "10.0.0.9", "cache", 1), map[string]int{"TIME_WAIT": 1})),
				withListener(cache(), "tcp", "0.0.0.0", 8000, "apisrv"),
			},
			edges: []string{"api->cache tcp/8000 client sockets=1 clients=1 servers=1 cp=[] sp=[apisrv]"},
		},
		{
			name: "only the listener on the address the client used, and the protocol",
			snaps: []*snapshot.Snapshot{
				api(conn(snapshot.Upstream, "udp", 8125, "app", "10.0.0.9", "cache", 1)),
				withListener(withListener(withListener(cache(),
					"udp", "127.0.0.1", 8125, "local-agent"),
					"udp", "10.0.0.9", 8125, "statsd"),
					"tcp", "0.0.0.0", 8125, "tcp-agent"),
			},
			edges: []string{"api->cache udp/8125 client sockets=1 clients=1 servers=1 cp=[app] sp=[statsd]"},
		},
		{
			name: "the server's sockets named a process: listeners are not consulted",
			snaps: []*snapshot.Snapshot{
				api(up(5432, "app", "10.0.0.9", "cache", 1)),
				withListener(cache(down(5432, "pgbouncer", "10.0.0.1", "api", 1)), "tcp", "0.0.0.0", 5432, "other"),
			},
			edges: []string{"api->cache tcp/5432 both sockets=1 clients=1 servers=1 cp=[app] sp=[pgbouncer]"},
		},
		{
			name: "an unscanned server has no listeners to read",
			snaps: []*snapshot.Snapshot{
				withListener(api(conn(snapshot.Upstream, "udp", 8125, "app", "10.0.0.9", "cache", 1)), "udp", "0.0.0.0", 8125, "own-statsd"),
			},
			edges: []string{"api->cache udp/8125 client sockets=1 clients=1 servers=1 cp=[app] sp=[]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "edges", mergeAnyOrder(t, tt.snaps), tt.edges)
		})
	}
}

// TestMergeIncompleteScans: hosts whose scan had unowned sockets are named
// on their node, summed, and reported as a warning.
func TestMergeIncompleteScans(t *testing.T) {
	nonRoot := func(s *snapshot.Snapshot, unowned int) *snapshot.Snapshot {
		s.UnownedSockets = unowned
		return s
	}
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		nodes []string // "id incomplete=[...] unowned=N"
		notes []string
	}{
		{
			name: "every scan complete",
			snaps: []*snapshot.Snapshot{
				host("web1", "web", "10.0.0.1", t0, up(8080, "app", "10.0.0.2", "svc", 1)),
				host("svc1", "svc", "10.0.0.2", t0, down(8080, "svc", "10.0.0.1", "web", 1)),
			},
			nodes: []string{"svc incomplete=[] unowned=0", "web incomplete=[] unowned=0"},
		},
		{
			name: "two of three hosts of a hostgroup scanned without root",
			snaps: []*snapshot.Snapshot{
				host("web1", "web", "10.0.0.1", t0, up(8080, "app", "10.0.0.2", "svc", 1)),
				nonRoot(host("svc1", "svc", "10.0.0.2", t0, down(8080, "", "10.0.0.1", "web", 1)), 3),
				nonRoot(host("svc2", "svc", "10.0.0.3", t0), 4),
				host("svc3", "svc", "10.0.0.4", t0),
			},
			nodes: []string{"svc incomplete=[svc1 svc2] unowned=7", "web incomplete=[] unowned=0"},
			notes: []string{"warning: node svc: 2 of 3 scanned hosts (svc1, svc2) had 7 sockets whose owner process the scan could not see (scanned without root?): process names on their ends of the edges may be missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Merge(tt.snaps, MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var nodes, notes []string
			for _, n := range g.Nodes {
				nodes = append(nodes, fmt.Sprintf("%s incomplete=%v unowned=%d", n.ID, n.IncompleteHosts, n.UnownedSockets))
			}
			for _, n := range g.IncompleteNotes() {
				notes = append(notes, n.String())
			}
			check(t, "nodes", nodes, tt.nodes)
			check(t, "notes", notes, tt.notes)
			// The fields survive writing and reading, and a subgraph.
			var buf bytes.Buffer
			if err := Write(&buf, g); err != nil {
				t.Fatal(err)
			}
			back, err := Parse(buf.Bytes(), "graph.json")
			if err != nil {
				t.Fatal(err)
			}
			sub, err := back.Subgraph("svc", 1)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := sub.Node("svc").IncompleteHosts, g.Node("svc").IncompleteHosts; !slices.Equal(got, want) {
				t.Errorf("read back and focused: %v, want %v", got, want)
			}
		})
	}
}

func TestJoinNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "c"}, "a, b, c"},
		{[]string{"a", "b", "c", "d", "e", "f", "g"}, "a, b, c, d, e and 2 more"},
	} {
		if got := joinNames(tc.names, 5); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.names, got, tc.want)
		}
	}
}

func withLinkLocal(s *snapshot.Snapshot, addrs ...string) *snapshot.Snapshot {
	for _, a := range addrs {
		s.Host.LinkLocal = append(s.Host.LinkLocal, netip.MustParseAddr(a))
	}
	return s
}

// TestMergeLinkLocalPeers: a peer reached over IPv6 link-local resolves to
// the scanned host that has that address on one of its links, whatever the
// interface is called there; an address several hosts claim resolves none.
func TestMergeLinkLocalPeers(t *testing.T) {
	client := func(c ...snapshot.Connection) *snapshot.Snapshot {
		return host("ll-client-1", "ll-client", "10.252.5.1", t0, c...)
	}
	server := func(c ...snapshot.Connection) *snapshot.Snapshot {
		return host("ll-server-1", "ll-server", "10.252.5.2", t0, c...)
	}
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		edges []string
	}{
		{
			name: "both ends over link-local, seen from both",
			snaps: []*snapshot.Snapshot{
				withLinkLocal(client(up(8080, "llcli", "fe80::1:2", "", 1)), "fe80::1:1%eth1"),
				withLinkLocal(server(down(8080, "llsrv", "fe80::1:1", "", 1)), "fe80::1:2%ens3"),
			},
			edges: []string{"ll-client->ll-server tcp/8080 both sockets=1 clients=1 servers=1 cp=[llcli] sp=[llsrv]"},
		},
		{
			name: "a zoned peer address resolves too",
			snaps: []*snapshot.Snapshot{
				client(up(8080, "llcli", "fe80::1:2%eth1", "", 1)),
				withLinkLocal(server(), "fe80::1:2%ens3"),
			},
			edges: []string{"ll-client->ll-server tcp/8080 client sockets=1 clients=1 servers=1 cp=[llcli] sp=[]"},
		},
		{
			name: "a link-local address on several hosts resolves no peer",
			snaps: []*snapshot.Snapshot{
				withLinkLocal(client(up(8080, "llcli", "fe80::1", "", 1)), "fe80::1:1%eth1"),
				withLinkLocal(server(), "fe80::1%cali0"),
				withLinkLocal(host("other", "other", "10.252.5.3", t0), "fe80::1%cali7"),
			},
			edges: []string{"ll-client->fe80::1 tcp/8080 client sockets=1 clients=1 servers=1 cp=[llcli] sp=[]"},
		},
		{
			name: "an unscanned link-local peer stays external",
			snaps: []*snapshot.Snapshot{
				withLinkLocal(client(up(8080, "llcli", "fe80::9", "", 1)), "fe80::1:1%eth1"),
			},
			edges: []string{"ll-client->fe80::9 tcp/8080 client sockets=1 clients=1 servers=1 cp=[llcli] sp=[]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "edges", mergeAnyOrder(t, tt.snaps), tt.edges)
		})
	}
}

// TestMergerGraphTwice: Graph leaves the Merger as it was, so a pair one
// end reported before the first Graph is combined with the other end added
// after it, not counted twice.
func TestMergerGraphTwice(t *testing.T) {
	m, _ := NewMerger(MergeOptions{})
	client := host("m1", "clients", "10.0.8.1", t0, up(5432, "app", "10.0.8.3", "db", 250))
	server := withListener(host("s1", "db", "10.0.8.3", t0, down(5432, "", "10.0.8.1", "clients", 248)), "tcp", "0.0.0.0", 5432, "pgsrv")
	m.Declare(client.Host)
	m.Declare(server.Host)
	if err := m.Add(client); err != nil {
		t.Fatal(err)
	}
	first, err := m.Graph()
	if err != nil {
		t.Fatal(err)
	}
	_, edges, _ := describe(first)
	check(t, "first graph", edges, []string{"clients->db tcp/5432 client sockets=250 clients=1 servers=1 cp=[app] sp=[]"})
	if err := m.Add(server); err != nil {
		t.Fatal(err)
	}
	second, err := m.Graph()
	if err != nil {
		t.Fatal(err)
	}
	_, edges, _ = describe(second)
	check(t, "second graph", edges, []string{"clients->db tcp/5432 both sockets=250 clients=1 servers=1 cp=[app] sp=[pgsrv]"})
	third, _ := m.Graph()
	_, again, _ := describe(third)
	check(t, "third graph", again, edges)
}

// TestMergeForwards: a DNAT router's forwarded port moves its clients'
// host pairs to the backend, set against the backend's own records per
// pair (the larger of the two ends, never the sum), whatever the order.
func TestMergeForwards(t *testing.T) {
	router := func(c ...snapshot.Connection) *snapshot.Snapshot {
		return host("router", "router", "10.0.0.5", t0, c...)
	}
	backend := func(c ...snapshot.Connection) *snapshot.Snapshot {
		return host("backend", "backend", "10.0.9.2", t0, c...)
	}
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		edges []string
	}{
		{
			name: "an unscanned client the backend sees directly: the larger of the router's flows and the backend's sockets",
			snaps: []*snapshot.Snapshot{
				router(forwarded(8081, "10.0.7.7", "10.0.9.2", 80, 2)),
				backend(down(80, "web", "10.0.7.7", "", 3)),
			},
			edges: []string{"10.0.7.7->backend tcp/80 server sockets=3 clients=1 servers=1 cp=[] sp=[web]"},
		},
		{
			name: "a scanned client reaching the backend directly and through the router: the client's records add up",
			snaps: []*snapshot.Snapshot{
				host("app", "app", "10.0.0.1", t0, up(80, "direct", "10.0.9.2", "", 2), up(8081, "viarouter", "10.0.0.5", "", 1)),
				router(forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1)),
				backend(down(80, "web", "10.0.0.1", "", 3)),
			},
			edges: []string{"app->backend tcp/80 both sockets=3 clients=1 servers=1 cp=[direct viarouter] sp=[web]"},
		},
		{
			name: "the backend's listener names the server process of a moved pair",
			snaps: []*snapshot.Snapshot{
				router(forwarded(8081, "10.0.7.7", "10.0.9.2", 80, 2)),
				withListener(backend(), "tcp", "0.0.0.0", 80, "web"),
			},
			edges: []string{"10.0.7.7->backend tcp/80 server sockets=2 clients=1 servers=1 cp=[] sp=[web]"},
		},
		{
			// The one whose identity (hostname, addresses) sorts first.
			name: "a port forwarded to two backends goes to one, the same whatever the order",
			snaps: []*snapshot.Snapshot{
				router(forwarded(8081, "10.0.7.7", "10.0.9.2", 80, 2), forwarded(8081, "10.0.7.8", "10.0.9.3", 80, 1)),
				backend(),
				host("backend2", "backend2", "10.0.9.3", t0),
			},
			edges: []string{
				"10.0.7.7->backend2 tcp/80 server sockets=2 clients=1 servers=1 cp=[] sp=[]",
				"10.0.7.8->backend2 tcp/80 server sockets=1 clients=1 servers=1 cp=[] sp=[]",
			},
		},
		{
			name: "the backend's own client of the router's port stays on the router",
			snaps: []*snapshot.Snapshot{
				router(forwarded(8081, "10.0.7.7", "10.0.9.2", 80, 1), down(8081, "", "10.0.9.2", "", 1)),
				backend(up(8081, "hairpin", "10.0.0.5", "", 1)),
			},
			edges: []string{
				"10.0.7.7->backend tcp/80 server sockets=1 clients=1 servers=1 cp=[] sp=[]",
				"backend->router tcp/8081 both sockets=1 clients=1 servers=1 cp=[hairpin] sp=[]",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "edges", mergeAnyOrder(t, tt.snaps), tt.edges)
		})
	}
}

// TestMergerForwardsGraphTwice: a router added after its client and its
// backend (their pair already complete) still moves the client's pair, and
// Graph changes nothing in the Merger.
func TestMergerForwardsGraphTwice(t *testing.T) {
	m, _ := NewMerger(MergeOptions{})
	client := host("app", "app", "10.0.0.1", t0, up(8081, "fetcher", "10.0.0.5", "", 1))
	backend := host("backend", "backend", "10.0.9.2", t0, down(80, "web", "10.0.0.1", "", 1))
	router := host("router", "router", "10.0.0.5", t0, forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1))
	for _, s := range []*snapshot.Snapshot{client, backend, router} {
		m.Declare(s.Host)
	}
	for _, s := range []*snapshot.Snapshot{client, backend} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := m.Graph()
	_, edges, _ := describe(first)
	check(t, "before the router", edges, []string{
		"app->backend tcp/80 server sockets=1 clients=1 servers=1 cp=[] sp=[web]",
		"app->router tcp/8081 client sockets=1 clients=1 servers=1 cp=[fetcher] sp=[]",
	})
	if err := m.Add(router); err != nil {
		t.Fatal(err)
	}
	want := []string{"app->backend tcp/80 both sockets=1 clients=1 servers=1 cp=[fetcher] sp=[web]"}
	for i := range 2 {
		g, _ := m.Graph()
		_, edges, _ = describe(g)
		check(t, fmt.Sprintf("graph %d after the router", i+1), edges, want)
	}
}

// A Graph between Adds changes nothing that the end result shows: the
// same fleet merged straight through and with a Graph after every Add
// (which settles the deferred records and folds the stored pairs into
// copies) gives the same bytes, by each node key, in several orders. The
// fleet has pairs waiting for either end, both ends of a DNAT (router and
// backend, with workloads), and a generated fleet's fan-in.
func TestMergerGraphBetweenAdds(t *testing.T) {
	a := netip.MustParseAddr
	app := withListener(host("app", "app", "10.0.0.1", t0, up(8081, "fetcher", "10.0.0.5", "", 1), up(5432, "fetcher", "10.0.8.3", "db", 4)), "tcp", "0.0.0.0", 9000, "app")
	app.Workloads = []snapshot.Workload{{Name: "fetcher.service"}}
	for i := range app.Connections {
		app.Connections[i].Workload = "fetcher.service"
	}
	router := host("router", "router", "10.0.0.5", t0, forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1), forwarded(8081, "10.0.7.7", "10.0.9.2", 80, 2))
	backend := withListener(host("backend", "backend", "10.0.9.2", t0, down(80, "web", "10.0.0.1", "", 1)), "tcp", "0.0.0.0", 80, "web")
	backend.Workloads = []snapshot.Workload{{Name: "web.service"}}
	backend.Connections[0].Workload = "web.service"
	backend.Listeners[0].Workload = "web.service"
	db := withListener(host("db1", "db", "10.0.8.3", t0, down(5432, "", "10.0.0.1", "app", 3), down(5432, "", "10.0.6.6", "", 2)), "tcp", a("10.0.8.3").String(), 5432, "postgres")
	snaps := []*snapshot.Snapshot{app, router, backend, db}
	gen, err := fleetgen.Snapshots(fleetgen.Options{Hosts: 60, Records: 40, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	snaps = append(snaps, gen...)
	r := rand.New(rand.NewPCG(5, 6))
	for _, by := range []By{ByHostgroup, ByHost, ByWorkload} {
		for range 3 {
			order := slices.Clone(snaps)
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			straight, err := Merge(order, MergeOptions{By: by})
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewMerger(MergeOptions{By: by})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range order {
				m.Declare(s.Host)
			}
			for _, s := range order {
				if err := m.Add(s); err != nil {
					t.Fatal(err)
				}
				if _, err := m.Graph(); err != nil {
					t.Fatal(err)
				}
			}
			stepped, err := m.Graph()
			if err != nil {
				t.Fatal(err)
			}
			var want, got bytes.Buffer
			if err := Write(&want, straight); err != nil {
				t.Fatal(err)
			}
			if err := Write(&got, stepped); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("by %s: with a Graph after every Add\n%s\nstraight through\n%s", by, got.String(), want.String())
			}
			if by == ByHostgroup && !strings.Contains(want.String(), `"to": "backend"`) {
				t.Fatalf("the router's forward is not in the graph:\n%s", want.String())
			}
		}
	}
}
