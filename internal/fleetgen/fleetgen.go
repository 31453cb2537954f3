// Package fleetgen writes synthetic fleets of planet snapshots for merge
// tests and benchmarks: hosts in hostgroups, listeners, and connections with
// the fan-in of a real fleet (every host talks to a few dns, db, cache and
// log servers, and is scraped by monitoring), both ends of each internal
// dependency recorded consistently, loopback traffic, and external peers.
// The same Options always give the same files.
package fleetgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// Options describes a fleet.
type Options struct {
	Hosts int // number of hosts (snapshot files); at least 1
	// Records is the number of connection records per snapshot (default 200).
	// Hosts whose real dependencies are fewer are topped up with external
	// peers; those with more (monitoring, busy servers) are cut.
	Records int
	Seed    uint64
	// ScannedAt is the first host's scan time (default 2025-01-01T00:00:00Z);
	// host i was scanned i seconds later.
	ScannedAt time.Time
}

type listen struct {
	proto   string
	port    uint16
	process string
}

type dep struct {
	group string
	picks int // servers of the group each client talks to
}

type group struct {
	name    string
	weight  int // share of the fleet
	min     int // at least this many hosts
	process string
	listens []listen
	deps    []dep
}

// The fleet's shape: small shared services with large fan-in, large
// application tiers. Every host also runs sshd, node_exporter and a local
// consul agent.
var groups = []group{
	{name: "dns", weight: 2, min: 2, process: "unbound", listens: []listen{{"udp", 53, "unbound"}}},
	{name: "db", weight: 2, min: 2, process: "postgres", listens: []listen{{"tcp", 5432, "postgres"}}, deps: []dep{{"dns", 2}}},
	{name: "cache", weight: 2, min: 2, process: "redis-server", listens: []listen{{"tcp", 6379, "redis-server"}}, deps: []dep{{"dns", 2}}},
	{name: "mq", weight: 1, min: 1, process: "java", listens: []listen{{"tcp", 9092, "java"}}, deps: []dep{{"dns", 2}, {"logs", 1}}},
	{name: "logs", weight: 1, min: 1, process: "rsyslogd", listens: []listen{{"tcp", 514, "rsyslogd"}}, deps: []dep{{"dns", 2}}},
	{name: "monitoring", weight: 1, min: 1, process: "prometheus", listens: []listen{{"tcp", 9090, "prometheus"}}, deps: []dep{{"dns", 2}}},
	{name: "web", weight: 30, min: 1, process: "nginx", listens: []listen{{"tcp", 443, "nginx"}}, deps: []dep{{"api", 4}, {"cache", 2}, {"dns", 2}, {"logs", 1}}},
	{name: "api", weight: 30, min: 1, process: "java", listens: []listen{{"tcp", 8080, "java"}}, deps: []dep{{"db", 3}, {"cache", 2}, {"mq", 2}, {"dns", 2}, {"logs", 1}}},
	{name: "worker", weight: 30, min: 1, process: "python3", deps: []dep{{"db", 2}, {"mq", 2}, {"cache", 1}, {"dns", 2}, {"logs", 1}}},
}

var common = []listen{{"tcp", 22, "sshd"}, {"tcp", 9100, "node_exporter"}}

type host struct {
	group    int
	name     string
	ip       netip.Addr
	upstream []int // server host indexes, in dep order, picks each
}

type fleet struct {
	opts    Options
	hosts   []host
	members map[string][]int
	clients [][]int // per host: client hosts that chose it, in index order
}

func plan(opts Options) *fleet {
	f := &fleet{opts: opts, members: map[string][]int{}}
	total := 0
	for _, g := range groups {
		total += g.weight
	}
	// Deal hosts to groups: first each group's minimum, then by weight.
	counts := make([]int, len(groups))
	left := opts.Hosts
	for i, g := range groups {
		counts[i] = min(g.min, left)
		left -= counts[i]
	}
	for i, g := range groups {
		n := left * g.weight / total
		counts[i] += n
	}
	assigned := 0
	for _, c := range counts {
		assigned += c
	}
	counts[len(groups)-1] += opts.Hosts - assigned
	for gi, c := range counts {
		for range c {
			i := len(f.hosts)
			a := uint32(i + 1)
			f.hosts = append(f.hosts, host{
				group: gi,
				name:  fmt.Sprintf("%s-%05d", groups[gi].name, i),
				ip:    netip.AddrFrom4([4]byte{10, byte(a >> 16), byte(a >> 8), byte(a)}),
			})
			f.members[groups[gi].name] = append(f.members[groups[gi].name], i)
		}
	}
	f.clients = make([][]int, len(f.hosts))
	for i := range f.hosts {
		r := rand.New(rand.NewPCG(opts.Seed, uint64(i)))
		h := &f.hosts[i]
		for _, d := range groups[h.group].deps {
			m := f.members[d.group]
			if len(m) == 0 {
				continue
			}
			start := r.IntN(len(m))
			for k := range min(d.picks, len(m)) {
				s := m[(start+k)%len(m)]
				h.upstream = append(h.upstream, s)
				f.clients[s] = append(f.clients[s], i)
			}
		}
	}
	return f
}

func (f *fleet) listenerOf(h int) listen {
	return groups[f.hosts[h].group].listens[0]
}

var consul = listen{"tcp", 8500, "consul"}

// snapshot builds host i's snapshot.
func (f *fleet) snapshot(i int) *snapshot.Snapshot {
	r := rand.New(rand.NewPCG(f.opts.Seed^0x9e3779b97f4a7c15, uint64(i)))
	h := f.hosts[i]
	g := groups[h.group]
	s := &snapshot.Snapshot{
		Schema:        snapshot.Schema,
		PlanetVersion: "fleetgen",
		ScannedAt:     f.opts.ScannedAt.Add(time.Duration(i) * time.Second),
		Host: snapshot.Host{
			Hostname:  h.name,
			Addresses: []netip.Addr{h.ip, netip.MustParseAddr("172.17.0.1")},
			Hostgroup: g.name,
			Domain:    h.name + ".node.consul",
		},
		Sources: []snapshot.Source{
			{Name: snapshot.SourceSockets, OK: true},
			{Name: snapshot.SourceInventory, OK: true, Detail: "fleetgen"},
		},
		ByteCounters: snapshot.ByteCountersMeaning,
	}
	ls := append(append([]listen{}, common...), g.listens...)
	for _, l := range ls {
		s.Listeners = append(s.Listeners, snapshot.Listener{Protocol: l.proto, Address: netip.IPv4Unspecified(), Port: l.port, Process: l.process, Sockets: 1})
	}
	s.Listeners = append(s.Listeners, snapshot.Listener{Protocol: "tcp", Address: netip.MustParseAddr("127.0.0.1"), Port: consul.port, Process: consul.process, Sockets: 1})

	conn := func(dir snapshot.Direction, l listen, process string, peer netip.Addr, hg, domain string) snapshot.Connection {
		c := snapshot.Connection{
			Direction: dir, Protocol: l.proto, Port: l.port, Process: process,
			RemoteIP: peer, RemoteHostgroup: hg, RemoteDomain: domain,
			Sockets: 1 + r.IntN(16),
		}
		if l.proto == "tcp" {
			est := max(1, c.Sockets-r.IntN(c.Sockets))
			c.States = map[string]int{"ESTABLISHED": est}
			if tw := c.Sockets - est; tw > 0 {
				c.States["TIME_WAIT"] = tw
			}
			c.BytesSent = uint64(r.IntN(1 << 24))
			c.BytesReceived = uint64(r.IntN(1 << 26))
		}
		return c
	}
	peerOf := func(j int) (netip.Addr, string, string) {
		o := f.hosts[j]
		return o.ip, groups[o.group].name, o.name + ".node.consul"
	}
	var cs []snapshot.Connection
	for _, j := range h.upstream {
		ip, hg, dom := peerOf(j)
		cs = append(cs, conn(snapshot.Upstream, f.listenerOf(j), g.process, ip, hg, dom))
	}
	lo := netip.MustParseAddr("127.0.0.1")
	cs = append(cs,
		conn(snapshot.Upstream, consul, g.process, lo, "localhost", ""),
		conn(snapshot.Downstream, consul, consul.process, lo, "localhost", ""))
	// Every host is scraped by up to two monitoring hosts, chosen by index.
	mon := f.members["monitoring"]
	for k := range min(2, len(mon)) {
		j := mon[(i+k)%len(mon)]
		ip, hg, dom := peerOf(j)
		cs = append(cs, conn(snapshot.Downstream, common[1], "node_exporter", ip, hg, dom))
	}
	if g.name == "monitoring" {
		p := i - mon[0] // groups are dealt contiguously
		for j := range f.hosts {
			if j%len(mon) == p || (len(mon) > 1 && (j+1)%len(mon) == p) {
				ip, hg, dom := peerOf(j)
				cs = append(cs, conn(snapshot.Upstream, common[1], "prometheus", ip, hg, dom))
			}
			if len(cs) >= f.opts.Records {
				break
			}
		}
	}
	for _, j := range f.clients[i] {
		if len(cs) >= f.opts.Records {
			break
		}
		ip, hg, dom := peerOf(j)
		cs = append(cs, conn(snapshot.Downstream, g.listens[0], g.listens[0].process, ip, hg, dom))
	}
	// Top up with external peers: a Zipf-like pick from 2048 addresses in
	// the benchmarking range 198.18.0.0/15.
	seen := map[netip.Addr]bool{}
	for tries := 0; len(cs) < f.opts.Records && tries < 100*f.opts.Records; tries++ {
		n := int(2048 * r.Float64() * r.Float64())
		ip := netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)})
		if seen[ip] {
			continue
		}
		seen[ip] = true
		cs = append(cs, conn(snapshot.Upstream, listen{"tcp", 443, ""}, g.process, ip, "", ""))
	}
	if len(cs) > f.opts.Records {
		cs = cs[:f.opts.Records]
	}
	s.Connections = cs
	// darkstat's view of the first peers.
	tr := &snapshot.Traffic{Source: "http://127.0.0.1:667/metrics", Format: "metrics"}
	have := map[netip.Addr]int{}
	for _, c := range cs {
		if c.RemoteIP.IsLoopback() || len(tr.Peers) >= 20 && have[c.RemoteIP] == 0 {
			continue
		}
		k, ok := have[c.RemoteIP]
		if !ok {
			tr.Peers = append(tr.Peers, snapshot.Peer{RemoteIP: c.RemoteIP, RemoteHostgroup: c.RemoteHostgroup, RemoteDomain: c.RemoteDomain})
			k = len(tr.Peers)
			have[c.RemoteIP] = k
		}
		tr.Peers[k-1].EgressBytes += c.BytesSent + 1500
		tr.Peers[k-1].IngressBytes += c.BytesReceived + 1500
	}
	s.Traffic = tr
	s.Sources = append(s.Sources, snapshot.Source{Name: snapshot.SourceDarkstat, OK: true, Detail: tr.Source})
	return s
}

func (o Options) withDefaults() (Options, error) {
	if o.Hosts < 1 {
		return o, fmt.Errorf("fleetgen: %d hosts, want at least 1", o.Hosts)
	}
	if o.Records == 0 {
		o.Records = 200
	}
	if o.Records < 0 {
		return o, fmt.Errorf("fleetgen: %d records, want at least 0", o.Records)
	}
	if o.ScannedAt.IsZero() {
		o.ScannedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return o, nil
}

// Snapshots returns the fleet's snapshots in memory (for small fleets).
func Snapshots(opts Options) ([]*snapshot.Snapshot, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := plan(opts)
	out := make([]*snapshot.Snapshot, len(f.hosts))
	for i := range f.hosts {
		out[i] = f.snapshot(i)
	}
	return out, nil
}

// Generate writes the fleet under dir the way an ansible fetch leaves it,
// dir/<hostname>/snapshot.json, and returns the paths in host order. It uses
// every CPU; the output does not depend on how many.
func Generate(dir string, opts Options) ([]string, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := plan(opts)
	paths := make([]string, len(f.hosts))
	errs := make([]error, len(f.hosts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf bytes.Buffer
			for i := range next {
				buf.Reset()
				p := filepath.Join(dir, f.hosts[i].name, "snapshot.json")
				paths[i] = p
				if err := snapshot.Write(&buf, f.snapshot(i)); err != nil {
					errs[i] = err
					continue
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = os.WriteFile(p, buf.Bytes(), 0o644)
			}
		})
	}
	for i := range f.hosts {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("fleetgen: %w", err)
		}
	}
	return paths, nil
}

// DecodeAll is the benchmarks' baseline for a merge: it reads every *.json
// file under root and json.Unmarshals it into a snapshot.Snapshot, keeping
// nothing, and returns how many it decoded.
func DecodeAll(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".json") {
			return err
		}
		doc, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var s snapshot.Snapshot
		if err := json.Unmarshal(doc, &s); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		n++
		return nil
	})
	return n, err
}
