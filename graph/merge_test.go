package graph

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/golden"
	"github.com/planetdeps/planet/internal/snapfixtures"

	"github.com/planetdeps/planet/snapshot"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// The snapshot builders graph's and fleet's tests share.
var (
	host = snapfixtures.Host
	conn = snapfixtures.Conn
	up   = snapfixtures.Up
	down = snapfixtures.Down
)

// forwarded is a published-port record made from conntrack flows: this
// host takes port from client and forwards it to backend:bport.
func forwarded(port uint16, client, backend string, bport uint16, flows int) snapshot.Connection {
	return snapshot.Connection{Direction: snapshot.Downstream, Protocol: "tcp", Port: port,
		RemoteIP: netip.MustParseAddr(client), Flows: flows,
		BackendIP: netip.MustParseAddr(backend), BackendPort: bport}
}

func withDomain(s *snapshot.Snapshot, domain string) *snapshot.Snapshot {
	s.Host.Domain = domain
	return s
}

func withAddr(s *snapshot.Snapshot, addr string) *snapshot.Snapshot {
	s.Host.Addresses = append(s.Host.Addresses, netip.MustParseAddr(addr))
	return s
}

func withTraffic(s *snapshot.Snapshot, peers ...snapshot.Peer) *snapshot.Snapshot {
	s.Traffic = &snapshot.Traffic{Source: "http://127.0.0.1:667/", Format: "html", Peers: peers}
	return s
}

func withBytes(c snapshot.Connection, sent, received uint64) snapshot.Connection {
	c.BytesSent, c.BytesReceived = sent, received
	return c
}

func peer(ip string, ingress, egress uint64) snapshot.Peer {
	return snapshot.Peer{RemoteIP: netip.MustParseAddr(ip), IngressBytes: ingress, EgressBytes: egress}
}

// describe renders a graph compactly for table tests.
func describe(g *Graph) (nodes, edges, traffic []string) {
	for _, n := range g.Nodes {
		nodes = append(nodes, fmt.Sprintf("%s %s n=%d hosts=%v domains=%v", n.ID, n.Kind, n.HostCount, n.Hosts, n.Domains))
	}
	for _, e := range g.Edges {
		s := fmt.Sprintf("%s->%s %s/%d %s sockets=%d clients=%d servers=%d cp=%v sp=%v",
			e.From, e.To, e.Protocol, e.Port, e.SeenFrom, e.Sockets, e.ClientHosts, e.ServerHosts, e.Names().ClientProcesses, e.Names().ServerProcesses)
		if e.Bytes().PortBytesToServer != 0 || e.Bytes().PortBytesToClient != 0 {
			s += fmt.Sprintf(" bytes=%d/%d", e.PortBytesToServer, e.Bytes().PortBytesToClient)
		}
		edges = append(edges, s)
	}
	for _, t := range g.Traffic {
		traffic = append(traffic, fmt.Sprintf("%s->%s %d %s", t.From, t.To, t.Bytes, t.SeenFrom))
	}
	return
}

func TestMerge(t *testing.T) {
	web1 := func(conns ...snapshot.Connection) *snapshot.Snapshot {
		return host("web1", "web", "10.0.0.1", t0, conns...)
	}
	db1 := func(conns ...snapshot.Connection) *snapshot.Snapshot {
		return host("db1", "db", "10.0.0.2", t0, conns...)
	}
	tests := []struct {
		name    string
		snaps   []*snapshot.Snapshot
		opts    MergeOptions
		nodes   []string // nil: not checked
		edges   []string
		traffic []string
	}{
		{
			name: "both ends are one edge, sockets not doubled",
			snaps: []*snapshot.Snapshot{
				web1(withBytes(up(5432, "python3", "10.0.0.2", "db", 3), 100, 2000)),
				db1(withBytes(down(5432, "postgres", "10.0.0.1", "web", 4), 1900, 110)),
			},
			nodes: []string{"db hostgroup n=1 hosts=[db1] domains=[]", "web hostgroup n=1 hosts=[web1] domains=[]"},
			edges: []string{"web->db tcp/5432 both sockets=4 clients=1 servers=1 cp=[python3] sp=[postgres] bytes=110/2000"},
		},
		{
			name:  "seen from the client only",
			snaps: []*snapshot.Snapshot{web1(up(6379, "python3", "10.0.0.9", "cache", 2))},
			nodes: []string{"cache hostgroup n=1 hosts=[] domains=[]", "web hostgroup n=1 hosts=[web1] domains=[]"},
			edges: []string{"web->cache tcp/6379 client sockets=2 clients=1 servers=1 cp=[python3] sp=[]"},
		},
		{
			name: "seen from the server only, several clients",
			snaps: []*snapshot.Snapshot{db1(
				down(5432, "postgres", "10.0.1.7", "batch", 2),
				down(5432, "postgres", "10.0.1.8", "batch", 5),
			)},
			edges: []string{"batch->db tcp/5432 server sockets=7 clients=2 servers=1 cp=[] sp=[postgres]"},
		},
		{
			name: "a peer that is a scanned host resolves by address, not by the recorded hostgroup",
			snaps: []*snapshot.Snapshot{
				web1(up(5432, "python3", "10.0.0.2", "stale-inventory-name", 1)),
				db1(),
			},
			edges: []string{"web->db tcp/5432 client sockets=1 clients=1 servers=1 cp=[python3] sp=[]"},
		},
		{
			name: "a peer resolves by its domain when its address is not one the host reported",
			snaps: []*snapshot.Snapshot{
				web1(snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432, RemoteIP: netip.MustParseAddr("10.9.9.9"), RemoteDomain: "db1.example", Sockets: 1}),
				withDomain(db1(), "db1.example"),
			},
			edges: []string{"web->db tcp/5432 client sockets=1 clients=1 servers=1 cp=[] sp=[]"},
		},
		{
			name: "external peers: one node per IP by default",
			snaps: []*snapshot.Snapshot{web1(
				up(443, "curl", "93.184.216.34", "", 1),
				up(443, "curl", "93.184.216.35", "", 1),
			)},
			nodes: []string{"93.184.216.34 external n=1 hosts=[] domains=[]", "93.184.216.35 external n=1 hosts=[] domains=[]", "web hostgroup n=1 hosts=[web1] domains=[]"},
			edges: []string{
				"web->93.184.216.34 tcp/443 client sockets=1 clients=1 servers=1 cp=[curl] sp=[]",
				"web->93.184.216.35 tcp/443 client sockets=1 clients=1 servers=1 cp=[curl] sp=[]",
			},
		},
		{
			name: "external peers collapsed",
			opts: MergeOptions{External: MustParseExternal("collapse")},
			snaps: []*snapshot.Snapshot{web1(
				up(443, "curl", "93.184.216.34", "", 1),
				up(443, "curl", "8.8.8.8", "", 1),
				conn(snapshot.Downstream, "tcp", 443, "nginx", "2001:db8::1", "", 3),
			)},
			nodes: []string{"external external n=3 hosts=[] domains=[]", "web hostgroup n=1 hosts=[web1] domains=[]"},
			edges: []string{
				"external->web tcp/443 server sockets=3 clients=1 servers=1 cp=[] sp=[nginx]",
				"web->external tcp/443 client sockets=2 clients=1 servers=2 cp=[curl] sp=[]",
			},
		},
		{
			// An edge to an external node counts its client hosts
			// without keeping them: each host once, whatever its number
			// of peers there, and the hosts of its node only.
			name: "external peers collapsed, several client hosts",
			opts: MergeOptions{External: MustParseExternal("collapse")},
			snaps: []*snapshot.Snapshot{
				web1(up(443, "curl", "93.184.216.34", "", 1), up(443, "curl", "8.8.8.8", "", 1)),
				host("web2", "web", "10.0.0.3", t0, up(443, "curl", "8.8.8.8", "", 1), up(443, "curl", "1.1.1.1", "", 1), up(443, "curl", "93.184.216.34", "", 1)),
				host("web3", "web", "10.0.0.4", t0, up(80, "curl", "8.8.8.8", "", 1)),
				db1(up(443, "curl", "8.8.8.8", "", 1)),
			},
			edges: []string{
				"db->external tcp/443 client sockets=1 clients=1 servers=1 cp=[curl] sp=[]",
				"web->external tcp/80 client sockets=1 clients=1 servers=1 cp=[curl] sp=[]",
				"web->external tcp/443 client sockets=5 clients=2 servers=3 cp=[curl] sp=[]",
			},
		},
		{
			name: "external peers by prefix",
			opts: MergeOptions{External: MustParseExternal("cidr:24")},
			snaps: []*snapshot.Snapshot{web1(
				up(443, "curl", "93.184.216.34", "", 1),
				up(443, "curl", "93.184.216.35", "", 1),
				up(443, "curl", "2001:db8::1", "", 1),
			)},
			nodes: []string{"2001:db8::/64 external n=1 hosts=[] domains=[]", "93.184.216.0/24 external n=2 hosts=[] domains=[]", "web hostgroup n=1 hosts=[web1] domains=[]"},
		},
		{
			name: "loopback stays inside the host's node",
			snaps: []*snapshot.Snapshot{web1(
				up(8500, "nginx", "127.0.0.1", "localhost", 2),
				down(8500, "consul", "127.0.0.1", "localhost", 2),
				conn(snapshot.Upstream, "tcp", 9000, "nginx", "::1", "", 1),
			)},
			nodes: []string{"web hostgroup n=1 hosts=[web1] domains=[]"},
			edges: []string{
				"web->web tcp/8500 both sockets=2 clients=1 servers=1 cp=[nginx] sp=[consul]",
				"web->web tcp/9000 client sockets=1 clients=1 servers=1 cp=[nginx] sp=[]",
			},
		},
		{
			name: "hosts of one hostgroup calling each other: a self-loop",
			snaps: []*snapshot.Snapshot{
				web1(up(8080, "nginx", "10.0.0.4", "web", 1)),
				host("web2", "web", "10.0.0.4", t0, down(8080, "java", "10.0.0.1", "web", 1)),
			},
			nodes: []string{"web hostgroup n=2 hosts=[web1 web2] domains=[]"},
			edges: []string{"web->web tcp/8080 both sockets=1 clients=1 servers=1 cp=[nginx] sp=[java]"},
		},
		{
			name: "by host",
			opts: MergeOptions{By: ByHost},
			snaps: []*snapshot.Snapshot{
				web1(up(8080, "nginx", "10.0.0.4", "web", 1)),
				host("web2", "web", "10.0.0.4", t0, down(8080, "java", "10.0.0.1", "web", 1)),
				withDomain(db1(down(5432, "postgres", "10.0.0.4", "web", 1)), "db1.example"),
			},
			nodes: []string{
				"10.0.0.1 host n=1 hosts=[web1] domains=[]",
				"10.0.0.4 host n=1 hosts=[web2] domains=[]",
				"db1.example host n=1 hosts=[db1] domains=[db1.example]",
			},
			edges: []string{
				"10.0.0.1->10.0.0.4 tcp/8080 both sockets=1 clients=1 servers=1 cp=[nginx] sp=[java]",
				"10.0.0.4->db1.example tcp/5432 server sockets=1 clients=1 servers=1 cp=[] sp=[postgres]",
			},
		},
		{
			name: "a host without hostgroup is keyed by its label",
			snaps: []*snapshot.Snapshot{
				withDomain(host("lonely", "", "10.0.0.8", t0, up(5432, "psql", "10.0.0.2", "", 1)), "lonely.example"),
				db1(),
			},
			nodes: []string{"db hostgroup n=1 hosts=[db1] domains=[]", "lonely.example host n=1 hosts=[lonely] domains=[lonely.example]"},
		},
		{
			name: "same name for a hostgroup and a host: kinds prefix the ids",
			snaps: []*snapshot.Snapshot{
				host("db", "", "", t0, up(5432, "psql", "10.0.0.2", "", 1)),
				db1(),
			},
			nodes: []string{"host:db host n=1 hosts=[db] domains=[]", "hostgroup:db hostgroup n=1 hosts=[db1] domains=[]"},
			edges: []string{"host:db->hostgroup:db tcp/5432 client sockets=1 clients=1 servers=1 cp=[psql] sp=[]"},
		},
		{
			name: "newest snapshot of a host wins",
			snaps: []*snapshot.Snapshot{
				host("web1", "web", "10.0.0.1", t0.Add(-time.Hour), up(11211, "nginx", "10.0.0.5", "memcache", 1)),
				web1(up(6379, "nginx", "10.0.0.9", "cache", 1)),
			},
			edges: []string{"web->cache tcp/6379 client sockets=1 clients=1 servers=1 cp=[nginx] sp=[]"},
		},
		{
			name: "an address several other hosts claim resolves no peer",
			snaps: []*snapshot.Snapshot{
				web1(up(80, "curl", "172.17.0.1", "", 1)),
				withAddr(db1(), "172.17.0.1"),
				withAddr(host("db-2", "db", "10.0.0.3", t0), "172.17.0.1"),
			},
			edges: []string{"web->172.17.0.1 tcp/80 client sockets=1 clients=1 servers=1 cp=[curl] sp=[]"},
		},
		{
			// docker0's 172.17.0.1 on every docker host: to each of them,
			// its own.
			name: "an address several hosts claim is the caller's own",
			snaps: []*snapshot.Snapshot{
				withAddr(web1(up(80, "curl", "172.17.0.1", "", 1)), "172.17.0.1"),
				withAddr(db1(), "172.17.0.1"),
			},
			edges: []string{"web->web tcp/80 client sockets=1 clients=1 servers=1 cp=[curl] sp=[]"},
		},
		{
			name: "udp and tcp on one port are two edges",
			snaps: []*snapshot.Snapshot{web1(
				conn(snapshot.Upstream, "udp", 53, "unbound", "10.0.0.53", "dns", 1),
				conn(snapshot.Upstream, "tcp", 53, "unbound", "10.0.0.53", "dns", 1),
			)},
			edges: []string{
				"web->dns tcp/53 client sockets=1 clients=1 servers=1 cp=[unbound] sp=[]",
				"web->dns udp/53 client sockets=1 clients=1 servers=1 cp=[unbound] sp=[]",
			},
		},
		{
			name: "darkstat traffic per node pair, both ends' max",
			snaps: []*snapshot.Snapshot{
				withTraffic(web1(), peer("10.0.0.2", 200, 100), peer("8.8.8.8", 5, 0)),
				withTraffic(db1(), peer("10.0.0.1", 90, 250)),
			},
			traffic: []string{"8.8.8.8->web 5 receiver", "db->web 250 both", "web->db 100 both"},
		},
		{
			name: "a DNAT router's forwarded port sends a scanned client's edge to the backend",
			snaps: []*snapshot.Snapshot{
				host("app", "app", "10.0.0.1", t0, up(8081, "fetcher", "10.0.0.5", "", 1)),
				host("router", "router", "10.0.0.5", t0, forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1)),
				host("backend", "backend", "10.0.9.2", t0, down(80, "web", "10.0.0.1", "", 1)),
			},
			edges: []string{"app->backend tcp/80 both sockets=1 clients=1 servers=1 cp=[fetcher] sp=[web]"},
		},
		{
			name: "a DNAT router's port with an unscanned client and a backend that sees the router",
			snaps: []*snapshot.Snapshot{
				host("router", "router", "10.0.0.5", t0, forwarded(8081, "10.0.7.7", "10.0.9.2", 80, 2)),
				host("backend", "backend", "10.0.9.2", t0, down(80, "web", "10.0.0.5", "", 2)),
			},
			edges: []string{
				"10.0.7.7->backend tcp/80 server sockets=2 clients=1 servers=1 cp=[] sp=[]",
				"router->backend tcp/80 server sockets=2 clients=1 servers=1 cp=[] sp=[web]",
			},
		},
		{
			name: "a published port to a container stays on the host",
			snaps: []*snapshot.Snapshot{
				host("app", "app", "10.0.0.1", t0, up(8080, "curl", "10.0.0.3", "", 1)),
				host("docker", "docker", "10.0.0.3", t0, forwarded(8080, "10.0.0.1", "172.17.0.2", 80, 1)),
			},
			edges: []string{"app->docker tcp/8080 both sockets=1 clients=1 servers=1 cp=[curl] sp=[]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Merge(tt.snaps, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			nodes, edges, traffic := describe(g)
			if tt.nodes != nil {
				check(t, "nodes", nodes, tt.nodes)
			}
			if tt.edges != nil {
				check(t, "edges", edges, tt.edges)
			}
			if tt.traffic != nil {
				check(t, "traffic", traffic, tt.traffic)
			}
			// Whatever the input order, the bytes are the same.
			var want bytes.Buffer
			if err := Write(&want, g); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				shuffled := slices.Clone(tt.snaps)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				g2, err := Merge(shuffled, tt.opts)
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
		})
	}
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestMergeOptionsInvalid(t *testing.T) {
	if _, err := Merge(nil, MergeOptions{By: "domain"}); err == nil || err.Error() != `by: "domain" is not hostgroup, host or workload` {
		t.Errorf("By domain: err = %v", err)
	}
}

// TestParseByAndExternal: each option's text is read by its parser, and
// an External's text round-trips through String.
func TestParseByAndExternal(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want "": an error
	}{
		{"", ByHostgroup}, {"hostgroup", ByHostgroup}, {"host", ByHost}, {"workload", ByWorkload},
		{"domain", ""}, {"Host", ""},
	} {
		got, err := ParseBy(tt.in)
		if (err != nil) != (tt.want == "") || string(got) != tt.want {
			t.Errorf("ParseBy(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in, want, errSubstr string
	}{
		{in: "", want: "ip"}, {in: "ip", want: "ip"}, {in: "collapse", want: "collapse"},
		{in: "cidr:24", want: "cidr:24,64"}, {in: "cidr:16,32", want: "cidr:16,32"}, {in: "cidr:0,0", want: "cidr:0,0"},
		{in: "cidr:33", errSubstr: `"cidr:33": IPv4 prefix length must be 0 to 32`},
		{in: "cidr:-1", errSubstr: "IPv4 prefix length"},
		{in: "cidr:x", errSubstr: "IPv4 prefix length"},
		{in: "cidr:24,129", errSubstr: `"cidr:24,129": IPv6 prefix length must be 0 to 128`},
		{in: "group", errSubstr: `"group": want ip, collapse, cidr:N or cidr:N,M`},
	} {
		got, err := ParseExternal(tt.in)
		if tt.errSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
				t.Errorf("ParseExternal(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.errSubstr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseExternal(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
		if again, err := ParseExternal(got.String()); err != nil || again != got {
			t.Errorf("ParseExternal(%q) = %v, %v; want %v again", got.String(), again, err, got)
		}
	}
}

func TestMergerRefusesDuplicateHost(t *testing.T) {
	m, _ := NewMerger(MergeOptions{})
	s := host("web1", "web", "10.0.0.1", t0)
	if err := m.Add(s); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(s); err == nil {
		t.Fatal("second Add of one host: no error")
	}
}

// TestGolden merges fixed fleets and compares the JSON byte for byte.
func TestGolden(t *testing.T) {
	fleet := []*snapshot.Snapshot{
		withTraffic(withDomain(host("web1", "web", "10.0.0.1", t0,
			withBytes(up(5432, "python3", "10.0.0.2", "db", 3), 100, 2000),
			up(6379, "python3", "10.0.0.9", "cache", 2),
			up(8500, "python3", "127.0.0.1", "localhost", 1),
			up(443, "curl", "93.184.216.34", "", 1),
			down(80, "nginx", "198.51.100.7", "", 9),
		), "web1.example"), peer("10.0.0.2", 2100, 120)),
		withDomain(host("db1", "db", "10.0.0.2", t0.Add(-time.Minute),
			down(5432, "postgres", "10.0.0.1", "web", 4),
			down(5432, "postgres", "10.0.0.3", "api", 6),
			up(5432, "postgres", "10.0.0.12", "db", 1),
		), "db1.example"),
		host("db2", "db", "10.0.0.12", t0.Add(-2*time.Minute), down(5432, "postgres", "10.0.0.2", "db", 1)),
	}
	for _, tc := range []struct {
		file string
		opts MergeOptions
	}{
		{"hostgroup.json", MergeOptions{}},
		{"host.json", MergeOptions{By: ByHost}},
		{"collapse.json", MergeOptions{External: MustParseExternal("collapse")}},
		{"cidr.json", MergeOptions{External: MustParseExternal("cidr:16")}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			g, err := Merge(fleet, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, g); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", tc.file), buf.Bytes())
			// The golden file reads back into the same graph.
			back, err := Parse(buf.Bytes(), tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if err := Write(&again, back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), buf.Bytes()) {
				t.Error("written, read and written again: different bytes")
			}
		})
	}
}
