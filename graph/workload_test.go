package graph

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// dockerHost is a v2 snapshot of a host (hostgroup hg, address addr) with
// one container "docker/web" at 172.17.0.2 listening on :80, which the
// host's app.service calls; the container "docker/app" calls web, and
// calls db:5432 at dbAddr through the host's masquerade.
func dockerHost(name, hg, addr, dbAddr string) *snapshot.Snapshot {
	a := netip.MustParseAddr
	est := map[string]int{"ESTABLISHED": 1}
	return &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Unix(100, 0),
		Host: snapshot.Host{Hostname: name, Addresses: []netip.Addr{a(addr), a("172.17.0.1")}, Hostgroup: hg},
		Namespaces: []snapshot.Namespace{
			{Inode: 1, Host: true, Addresses: []netip.Addr{a(addr), a("172.17.0.1")}},
			{Inode: 2, Addresses: []netip.Addr{a("172.17.0.2")}},
			{Inode: 3, Addresses: []netip.Addr{a("172.17.0.3")}},
		},
		Workloads: []snapshot.Workload{{Name: "app.service"}, {Name: "docker/app"}, {Name: "docker/web"}},
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: a("0.0.0.0"), Port: 80, Process: "nginx", Sockets: 1, Workload: "docker/web", Netns: 2}},
		Connections: []snapshot.Connection{
			// host -> own container
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "app", RemoteIP: a("172.17.0.2"), Sockets: 1, States: est, Workload: "app.service", Netns: 1},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: a("172.17.0.1"), Sockets: 2, States: est, Workload: "docker/web", Netns: 2},
			// container -> container
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "curl", RemoteIP: a("172.17.0.2"), Sockets: 1, States: est, Workload: "docker/app", Netns: 3},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: a("172.17.0.3"), Sockets: 1, States: est, Workload: "docker/web", Netns: 2},
			// container -> remote db
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432, Process: "curl", RemoteIP: a(dbAddr), Sockets: 1, States: est, Workload: "docker/app", Netns: 3},
		},
	}
}

func dbHost(addr string, clients ...string) *snapshot.Snapshot {
	s := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Unix(100, 0),
		Host:      snapshot.Host{Hostname: "db-1", Addresses: []netip.Addr{netip.MustParseAddr(addr)}, Hostgroup: "db"},
		Workloads: []snapshot.Workload{{Name: "postgresql.service"}},
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: 5432, Process: "postgres", Sockets: 1, Workload: "postgresql.service"}},
	}
	for _, c := range clients {
		s.Connections = append(s.Connections, snapshot.Connection{Direction: snapshot.Downstream, Protocol: "tcp", Port: 5432,
			Process: "postgres", RemoteIP: netip.MustParseAddr(c), Sockets: 1, Workload: "postgresql.service"})
	}
	return s
}

func edgeList(g *Graph) []string {
	var out []string
	for _, e := range g.Edges {
		out = append(out, e.From+" -> "+e.To+" :"+itoa(int(e.Port))+" "+e.SeenFrom.String()+
			" ["+strings.Join(e.Names().ClientWorkloads, ",")+"] -> ["+strings.Join(e.Names().ServerWorkloads, ",")+"]")
	}
	return out
}

// TestMergeContainerAddresses: two docker hosts whose containers have the
// same address, each calling its own; the address is private to each, so
// no shared node, and every call stays inside its host's node.
func TestMergeContainerAddresses(t *testing.T) {
	h1 := dockerHost("docker-1", "", "10.0.0.1", "10.0.0.9")
	h2 := dockerHost("docker-2", "", "10.0.0.2", "10.0.0.9")
	g, err := Merge([]*snapshot.Snapshot{h1, h2, dbHost("10.0.0.9", "10.0.0.1", "10.0.0.2")}, MergeOptions{By: ByHost})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"10.0.0.1 -> 10.0.0.1 :80 both [app.service,docker/app] -> [docker/web]",
		"10.0.0.1 -> 10.0.0.9 :5432 both [docker/app] -> [postgresql.service]",
		"10.0.0.2 -> 10.0.0.2 :80 both [app.service,docker/app] -> [docker/web]",
		"10.0.0.2 -> 10.0.0.9 :5432 both [docker/app] -> [postgresql.service]",
	}
	if got := edgeList(g); !slices.Equal(got, want) {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range g.Nodes {
		if n.Kind == KindExternal {
			t.Errorf("external node %s: a container address leaked out of its host", n.ID)
		}
	}

	// The same hosts as v1 snapshots (no namespaces): the old behaviour,
	// 172.17.0.2 an external node both hosts share.
	v1 := func(s *snapshot.Snapshot) *snapshot.Snapshot {
		c := *s
		c.Schema, c.Namespaces, c.Workloads, c.Listeners = snapshot.SchemaV1, nil, nil, nil
		c.Connections = nil
		for _, r := range s.Connections {
			r.Netns, r.Workload = 0, ""
			c.Connections = append(c.Connections, r)
		}
		return &c
	}
	g, err = Merge([]*snapshot.Snapshot{v1(h1), v1(h2)}, MergeOptions{By: ByHost})
	if err != nil {
		t.Fatal(err)
	}
	if n := g.Node("172.17.0.2"); n == nil || n.Kind != KindExternal || n.HostCount != 1 {
		t.Errorf("v1: 172.17.0.2 = %+v, want the shared external node", n)
	}
}

// TestMergeByWorkload: nodes are hostgroup + workload; the workloads at
// both ends are found on the same host and across hosts.
func TestMergeByWorkload(t *testing.T) {
	h1 := dockerHost("docker-1", "web", "10.0.0.1", "10.0.0.9")
	g, err := Merge([]*snapshot.Snapshot{h1, dbHost("10.0.0.9", "10.0.0.1")}, MergeOptions{By: ByWorkload})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"web/app.service -> web/docker/web :80 both [app.service] -> [docker/web]",
		"web/docker/app -> db/postgresql.service :5432 both [docker/app] -> [postgresql.service]",
		"web/docker/app -> web/docker/web :80 both [docker/app] -> [docker/web]",
	}
	got := edgeList(g)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := g.Node("web/docker/web"); n == nil || n.Kind != KindWorkload {
		t.Errorf("node web/docker/web = %+v", n)
	}
	if g.By != ByWorkload {
		t.Errorf("by = %q", g.By)
	}
}

// TestMergeByWorkloadHostPairs: under --by workload the two ends of a
// connection meet in one host pair whichever snapshot comes first, so an
// edge's sockets are the larger end's count, never the sum, and a second
// Graph gives the same graph.
func TestMergeByWorkloadHostPairs(t *testing.T) {
	sockets := func(g *Graph) []string {
		var out []string
		for _, e := range g.Edges {
			out = append(out, e.From+" -> "+e.To+" :"+itoa(int(e.Port))+" "+e.SeenFrom.String()+" sockets="+itoa(e.Sockets))
		}
		return out
	}
	want := []string{
		// The container's one socket against the server's three records.
		"web/docker/app -> db/postgresql.service :5432 both sockets=3",
		// The host's one socket to its container against nginx's two.
		"web/app.service -> web/docker/web :80 both sockets=2",
		"web/docker/app -> web/docker/web :80 both sockets=1",
	}
	slices.Sort(want)
	for _, dbFirst := range []bool{false, true} {
		db := dbHost("10.0.0.9", "10.0.0.1")
		db.Connections[0].Sockets = 3
		snaps := []*snapshot.Snapshot{dockerHost("docker-1", "web", "10.0.0.1", "10.0.0.9"), db}
		if dbFirst {
			snaps[0], snaps[1] = snaps[1], snaps[0]
		}
		m, err := NewMerger(MergeOptions{By: ByWorkload})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			m.Declare(s.Host)
		}
		for _, s := range snaps {
			if err := m.Add(s); err != nil {
				t.Fatal(err)
			}
		}
		g, err := m.Graph()
		if err != nil {
			t.Fatal(err)
		}
		if got := sockets(g); !slices.Equal(got, want) {
			t.Errorf("db first %v: edges:\n%s\nwant:\n%s", dbFirst, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		again, err := m.Graph()
		if err != nil {
			t.Fatal(err)
		}
		if got := sockets(again); !slices.Equal(got, want) {
			t.Errorf("db first %v: second Graph:\n%s", dbFirst, strings.Join(got, "\n"))
		}
	}
}

// TestMergeForwardsByWorkload: a client service calls a DNAT router's
// port that the router forwards to a backend's service. Whatever the order
// of the snapshots, the dependency by workload runs from the client's
// workload to the backend's, seen from both ends, as it does by host, and
// the edge keeps the router's port the client dialled.
func TestMergeForwardsByWorkload(t *testing.T) {
	a := netip.MustParseAddr
	app := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Unix(100, 0),
		Host:      snapshot.Host{Hostname: "app", Addresses: []netip.Addr{a("10.0.0.1")}},
		Workloads: []snapshot.Workload{{Name: "fetcher.service"}},
		Connections: []snapshot.Connection{{Direction: snapshot.Upstream, Protocol: "tcp", Port: 8081, Process: "fetcher",
			RemoteIP: a("10.0.0.5"), Sockets: 1, Workload: "fetcher.service"}},
	}
	router := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Unix(100, 0),
		Host:        snapshot.Host{Hostname: "router", Addresses: []netip.Addr{a("10.0.0.5")}},
		Connections: []snapshot.Connection{forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1)},
	}
	backend := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Unix(100, 0),
		Host:      snapshot.Host{Hostname: "backend", Addresses: []netip.Addr{a("10.0.9.2")}},
		Workloads: []snapshot.Workload{{Name: "web.service"}},
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: a("0.0.0.0"), Port: 80, Process: "web", Sockets: 1, Workload: "web.service"}},
		Connections: []snapshot.Connection{{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "web",
			RemoteIP: a("10.0.0.1"), Sockets: 1, Workload: "web.service"}},
	}
	for _, tc := range []struct {
		by   By
		want string
	}{
		{ByHost, "10.0.0.1 -> 10.0.9.2 :80 both [fetcher.service] -> [web.service]"},
		{ByWorkload, "10.0.0.1/fetcher.service -> 10.0.9.2/web.service :80 both [fetcher.service] -> [web.service]"},
	} {
		for _, order := range [][]*snapshot.Snapshot{{app, router, backend}, {backend, router, app}, {router, app, backend}, {app, backend, router}} {
			g, err := Merge(order, MergeOptions{By: tc.by})
			if err != nil {
				t.Fatal(err)
			}
			if got := edgeList(g); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("by %s, order %s,%s,%s: edges %q, want %q", tc.by, order[0].Host.Hostname, order[1].Host.Hostname, order[2].Host.Hostname, got, tc.want)
			} else if d := g.Edges[0].Names().Dialled; !slices.Equal(d, []string{"10.0.0.5:8081"}) {
				t.Errorf("by %s: dialled %q, want the router's port the client dialled", tc.by, d)
			}
		}
	}
}
