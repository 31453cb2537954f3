//go:build e2e

// Package fleet_test is planet's acceptance test (issue 6): a small fleet of
// hosts, each a network namespace on one switch, running real services with
// known dependencies. The test scans every host with the planet binary,
// merges the snapshots, renders the graph in every format, and checks that
// planet found exactly the dependencies the fleet has, with their ports,
// processes and bytes. Then it changes the fleet and checks the change.
//
// Read the tables below as the specification: this fleet, scanned, must
// merge into exactly these edges.
package fleet_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// The fleet: one switch (subnet 10.250.1.0/24, fd00:250:1::/64); each host
// gets .N / ::N in this order. outside is an external peer: not scanned,
// not in the inventory. control is the ansible control node that serves
// the inventory; it is not part of the fleet and is not scanned either.
// cache (issue 15) is a plain host with the two traps of one: a docker-like
// bridge whose address sorts before its own and falls in an inventory
// range, and an IPV6_V6ONLY listener whose port an IPv4 client socket of
// the same host also uses.
var hostOrder = []string{"lb", "web-1", "web-2", "db", "monitor", "outside", "control", "cache"}

// scanned are the hosts planet runs on, with their inventory hostgroup.
var scanned = []struct{ name, hostgroup string }{
	{"lb", "lb"},
	{"web-1", "web"},
	{"web-2", "web"},
	{"db", "db"},
	{"monitor", "monitor"},
	{"cache", "cache"},
}

// Addresses, fixed by hostOrder (testnet hands out subnet 1 to the first
// switch, host i gets .i+1).
var (
	outsideIP = netip.MustParseAddr("10.250.1.6") // the external node's id
	dbIPv6    = netip.MustParseAddr("fd00:250:1::4")
	cacheIP   = netip.MustParseAddr("10.250.1.8")
	cacheIPv6 = netip.MustParseAddr("fd00:250:1::8")
	// cache's docker0: docker's bridge moved off 172.17/16 with "bip", as
	// many do, into a range the inventory calls "containers". It sorts
	// before cacheIP; cache's default route goes out through cacheIP.
	dockerBridge = netip.MustParsePrefix("10.17.0.1/16")
	containers   = netip.MustParsePrefix("10.17.0.0/16")
)

// cachePort is memcached's: an IPV6_V6ONLY [::] listener on cache, and the
// local port of cache's own IPv4 client socket to db (allowed, since the
// listener takes no IPv4). That socket is upstream to db, not a peer of
// memcached.
const cachePort = 11211

// Payloads, in bytes. Every connection in the fleet is long-lived and
// carries exactly these bytes, so planet's per-port TCP counters
// (tcpi_bytes_acked / tcpi_bytes_received of the live sockets) must equal
// them exactly.
const (
	haproxySend   = 2_000     // lb -> each web, per connection
	webGreet      = 4_000     // each web -> a client of :8080
	web1ToDB      = 1_000_000 // web-1 -> db:5432 over IPv4, paced
	web2ToDB      = 250_000   // web-2 -> db:5432 over IPv6, paced
	postgresGreet = 65_536    // db:5432 -> each client
	backupSend    = 50_000    // db's backup -> 127.0.0.1:5432
	scrapeSend    = 100       // prometheus -> each :9100
	metricsGreet  = 16_384    // node_exporter -> each scraper
	webToOutside  = 500       // a web host -> outside:443
	httpsGreet    = 3_000     // outside:443 -> each client
	healthSend    = 1_000     // lb's healthcheck -> db:5432 (second scan only)
	warmSend      = 20_000    // cache's warmer -> db:5432, from local port 11211
	cacheSend     = 3_000     // web-2 -> cache:11211 over IPv6
	cacheGreet    = 7_000     // memcached -> each client
)

// wantEdge is one dependency of the merged graph (planet.graph/v1 edge).
type wantEdge struct {
	From, To             string
	Port                 uint16
	SeenFrom             graph.SeenFrom
	Client, Server       []string // process names on each end
	ClientHosts, Servers int      // distinct hosts on each end
	Sockets              int
	ToServer, ToClient   uint64 // per-port byte counters
}

// external is the node of the outside peer: no snapshot and no inventory
// explains its address, so the graph has a node per IP (--external ip).
var external = outsideIP.String()

// before: the fleet as built. All edges are TCP. Where both ends are scanned
// the edge is seen from both; the external peer only from the client; db's
// backup job talking to its own postgres over loopback is a self-edge.
var before = []wantEdge{
	{"cache", "db", 5432, graph.SeenBoth, l("warmer"), l("postgres"), 1, 1, 1, warmSend, postgresGreet},
	{"db", "db", 5432, graph.SeenBoth, l("backup"), l("postgres"), 1, 1, 1, backupSend, postgresGreet},
	{"lb", "web", 8080, graph.SeenBoth, l("haproxy"), l("web"), 1, 2, 2, 2 * haproxySend, 2 * webGreet},
	{"monitor", "db", 9100, graph.SeenBoth, l("prometheus"), l("node_exporter"), 1, 1, 1, scrapeSend, metricsGreet},
	{"monitor", "lb", 9100, graph.SeenBoth, l("prometheus"), l("node_exporter"), 1, 1, 1, scrapeSend, metricsGreet},
	{"monitor", "web", 9100, graph.SeenBoth, l("prometheus"), l("node_exporter"), 1, 2, 2, 2 * scrapeSend, 2 * metricsGreet},
	{"web", "cache", cachePort, graph.SeenBoth, l("web"), l("memcached"), 1, 1, 1, cacheSend, cacheGreet},
	{"web", "db", 5432, graph.SeenBoth, l("web"), l("postgres"), 2, 1, 2, web1ToDB + web2ToDB, 2 * postgresGreet},
	{"web", external, 443, graph.SeenClient, l("web"), nil, 1, 1, 1, webToOutside, httpsGreet},
}

// after: the fleet changed. monitor no longer scrapes lb (removed); lb
// health-checks db (added); web-2 calls outside too (same edge, now from
// two client hosts).
var after = []wantEdge{
	{"cache", "db", 5432, graph.SeenBoth, l("warmer"), l("postgres"), 1, 1, 1, warmSend, postgresGreet},
	{"db", "db", 5432, graph.SeenBoth, l("backup"), l("postgres"), 1, 1, 1, backupSend, postgresGreet},
	{"lb", "db", 5432, graph.SeenBoth, l("healthcheck"), l("postgres"), 1, 1, 1, healthSend, postgresGreet},
	{"lb", "web", 8080, graph.SeenBoth, l("haproxy"), l("web"), 1, 2, 2, 2 * haproxySend, 2 * webGreet},
	{"monitor", "db", 9100, graph.SeenBoth, l("prometheus"), l("node_exporter"), 1, 1, 1, scrapeSend, metricsGreet},
	{"monitor", "web", 9100, graph.SeenBoth, l("prometheus"), l("node_exporter"), 1, 2, 2, 2 * scrapeSend, 2 * metricsGreet},
	{"web", "cache", cachePort, graph.SeenBoth, l("web"), l("memcached"), 1, 1, 1, cacheSend, cacheGreet},
	{"web", "db", 5432, graph.SeenBoth, l("web"), l("postgres"), 2, 1, 2, web1ToDB + web2ToDB, 2 * postgresGreet},
	{"web", external, 443, graph.SeenClient, l("web"), nil, 2, 1, 2, 2 * webToOutside, 2 * httpsGreet},
}

// wantNodes: id, kind, host count, scanned hostnames.
type wantNode struct {
	ID        string
	Kind      graph.NodeKind
	HostCount int
	Hosts     []string
}

var nodesBefore = []wantNode{
	{external, graph.KindExternal, 1, nil},
	{"cache", graph.KindHostgroup, 1, l("cache")},
	{"db", graph.KindHostgroup, 1, l("db")},
	{"lb", graph.KindHostgroup, 1, l("lb")},
	{"monitor", graph.KindHostgroup, 1, l("monitor")},
	{"web", graph.KindHostgroup, 2, l("web-1", "web-2")},
}

// wantTraffic is darkstat's view from db (the only host running it): bytes
// between node pairs over all ports, seen by db as the sender (egress) or
// the receiver (ingress). Payload is what the services sent; darkstat
// counts packets, so the graph's bytes must be within trafficTolerance of
// it. darkstat's totals only grow, so the second scan counts both rounds.
type wantTraffic struct {
	From, To string
	Payload  uint64
	SeenFrom graph.SeenFrom
}

var trafficBefore = []wantTraffic{
	{"cache", "db", warmSend, graph.SeenReceiver},
	{"db", "cache", postgresGreet, graph.SeenSender},
	{"db", "monitor", metricsGreet, graph.SeenSender},
	{"db", "web", 2 * postgresGreet, graph.SeenSender},
	{"monitor", "db", scrapeSend, graph.SeenReceiver},
	{"web", "db", web1ToDB + web2ToDB, graph.SeenReceiver},
}

// After the change monitor's new prometheus has scraped db a second time.
var trafficAfter = []wantTraffic{
	{"cache", "db", warmSend, graph.SeenReceiver},
	{"db", "cache", postgresGreet, graph.SeenSender},
	{"db", "lb", postgresGreet, graph.SeenSender},
	{"db", "monitor", 2 * metricsGreet, graph.SeenSender},
	{"db", "web", 2 * postgresGreet, graph.SeenSender},
	{"lb", "db", healthSend, graph.SeenReceiver},
	{"monitor", "db", 2 * scrapeSend, graph.SeenReceiver},
	{"web", "db", web1ToDB + web2ToDB, graph.SeenReceiver},
}

func l(s ...string) []string { return s }

// edgeChanges lists the edges only in b (added) and only in a (removed).
func edgeChanges(a, b *graph.Graph) (added, removed []string) {
	keys := func(g *graph.Graph) []string {
		var ks []string
		for _, e := range g.Edges {
			ks = append(ks, e.String())
		}
		return ks
	}
	ka, kb := keys(a), keys(b)
	for _, k := range kb {
		if !slices.Contains(ka, k) {
			added = append(added, k)
		}
	}
	for _, k := range ka {
		if !slices.Contains(kb, k) {
			removed = append(removed, k)
		}
	}
	return added, removed
}

var keep = flag.String("fleet.keep", "", "write the snapshots, graphs and renders under this directory (kept) instead of a temporary one")

// TestFleet builds the fleet, scans and merges it, renders the graph, then
// changes the fleet and scans and merges again.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a fleet of namespaces and runs planet on it")
	}
	testenv.NeedRoot(t)
	darkstat := testenv.NeedCommand(t, "darkstat", "darkstat")
	start := time.Now()
	lab := testnet.New(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if *keep != "" {
		tmp = *keep
	}
	f := &fleet{t: t, lab: lab, self: self, hosts: map[string]*testnet.Host{}, ports: map[string]testnet.Port{}}
	f.planet = buildPlanet(t, tmp)
	f.config = filepath.Join(tmp, "planet.yaml")
	if err := os.WriteFile(f.config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("built planet in %s", time.Since(start).Round(time.Millisecond))

	var hs []*testnet.Host
	for _, name := range hostOrder {
		h := lab.Host(name)
		f.hosts[name] = h
		hs = append(hs, h)
	}
	for i, p := range lab.Switch(hs...) {
		f.ports[hostOrder[i]] = p
	}
	if got := f.ports["outside"].IPv4.Addr(); got != outsideIP {
		t.Fatalf("outside is %s, the tables expect %s", got, outsideIP)
	}
	if got := f.ports["db"].IPv6.Addr(); got != dbIPv6 {
		t.Fatalf("db is %s, the tables expect %s", got, dbIPv6)
	}
	if got := f.ports["cache"]; got.IPv4.Addr() != cacheIP || got.IPv6.Addr() != cacheIPv6 {
		t.Fatalf("cache is %s, %s; the tables expect %s, %s", got.IPv4.Addr(), got.IPv6.Addr(), cacheIP, cacheIPv6)
	}
	cache := f.hosts["cache"]
	cache.IP("link", "add", "docker0", "type", "bridge")
	cache.IP("addr", "add", dockerBridge.String(), "dev", "docker0")
	cache.IP("link", "set", "docker0", "up")
	cache.IP("route", "add", "default", "via", f.ip4("control"))
	f.serveInventory(f.inventory())
	f.startDarkstat(darkstat)

	// Servers first, every one on the IPv4 and IPv6 wildcard.
	wild := func(port int) []string { return l("[::]:" + strconv.Itoa(port)) }
	for _, h := range scanned {
		f.service(h.name, "node_exporter", metricsGreet, wild(9100))
	}
	f.service("outside", "https", httpsGreet, wild(443))
	f.service("db", "postgres", postgresGreet, wild(5432))
	f.service("db", "backup", 0, nil, dial{"127.0.0.1:5432", backupSend, postgresGreet})
	// web-1 and web-2 serve :8080 and depend on db (web-2 over IPv6) and, for
	// web-1, on outside. The big db flows run one after the other: darkstat.
	f.service("web-1", "web", webGreet, wild(8080),
		dial{f.addr("db", 5432), web1ToDB, postgresGreet},
		dial{f.addr("outside", 443), webToOutside, httpsGreet})
	f.service("web-2", "web", webGreet, wild(8080),
		dial{netip.AddrPortFrom(dbIPv6, 5432).String(), web2ToDB, postgresGreet})
	f.service("lb", "haproxy", 0, wild(80),
		dial{f.addr("web-1", 8080), haproxySend, webGreet},
		dial{f.addr("web-2", 8080), haproxySend, webGreet})
	scrape := func(hosts ...string) []dial {
		var ds []dial
		for _, h := range hosts {
			ds = append(ds, dial{f.addr(h, 9100), scrapeSend, metricsGreet})
		}
		return ds
	}
	prometheus := f.service("monitor", "prometheus", 0, nil, scrape("lb", "web-1", "web-2", "db")...)
	f.service("cache", "memcached", cacheGreet, l("v6only:[::]:"+strconv.Itoa(cachePort)))
	f.service("cache", "warmer", 0, nil, dial{strconv.Itoa(cachePort) + "@" + f.addr("db", 5432), warmSend, postgresGreet})
	f.service("web-2", "web", 0, nil, dial{netip.AddrPortFrom(cacheIPv6, cachePort).String(), cacheSend, cacheGreet})
	t.Logf("fleet up in %s", time.Since(start).Round(time.Millisecond))

	f.waitCounted(trafficBefore)
	dir := filepath.Join(tmp, "before")
	snaps := map[string]*snapshot.Snapshot{}
	for _, h := range scanned {
		var extra []string
		if h.name == "db" {
			extra = []string{"--darkstat", f.darkURL}
		}
		snaps[h.name] = f.scan(dir, h.name, extra...)
	}
	t.Run("snapshots", func(t *testing.T) {
		checkSnapshots(t, f, snaps)
		checkOwnSockets(t, f, snaps)
	})
	g, graphPath := f.merge(dir)
	t.Logf("before: scanned and merged in %s", time.Since(start).Round(time.Millisecond))
	t.Run("before", func(t *testing.T) {
		checkNodes(t, g, nodesBefore)
		checkEdges(t, g, before)
		checkTraffic(t, g, trafficBefore)
	})
	keepGraph(t, g, trafficBefore, "testdata/before.graph.json")
	keepSnapshots(t, dir, fixtureDir)
	t.Run("render", func(t *testing.T) { checkRender(t, f, graphPath, filepath.Join(dir, "db", "snapshot.json")) })

	// Change the fleet: monitor stops scraping lb, lb starts health-checking
	// db, web-2 starts calling outside.
	prometheus.Stop()
	f.service("monitor", "prometheus", 0, nil, scrape("web-1", "web-2", "db")...)
	f.service("lb", "healthcheck", 0, nil, dial{f.addr("db", 5432), healthSend, postgresGreet})
	f.service("web-2", "web", 0, nil, dial{f.addr("outside", 443), webToOutside, httpsGreet})
	f.waitCounted(trafficAfter)
	dir2 := filepath.Join(tmp, "after")
	for _, h := range scanned {
		var extra []string
		if h.name == "db" {
			extra = []string{"--darkstat", f.darkURL}
		}
		snaps[h.name] = f.scan(dir2, h.name, extra...)
	}
	g2, _ := f.merge(dir2)
	t.Run("after", func(t *testing.T) {
		checkOwnSockets(t, f, snaps)
		checkNodes(t, g2, nodesBefore)
		checkEdges(t, g2, after)
		checkTraffic(t, g2, trafficAfter)
	})
	t.Run("changes", func(t *testing.T) {
		// What `planet diff` (issue 7) must report between the two graphs.
		added, removed := edgeChanges(g, g2)
		if !slices.Equal(added, l("lb -> db tcp/5432")) || !slices.Equal(removed, l("monitor -> lb tcp/9100")) {
			t.Errorf("edges added %q, removed %q; want added [lb -> db tcp/5432], removed [monitor -> lb tcp/9100]", added, removed)
		}
	})
	keepGraph(t, g2, trafficAfter, "testdata/after.graph.json")
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}
