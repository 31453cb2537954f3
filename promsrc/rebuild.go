package promsrc

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

// PlanetVersion marks rebuilt snapshots: they came from metrics, not a scan.
const PlanetVersion = "prometheus"

type localKey struct{ address, hostgroup string }

type connKey struct {
	dir                 snapshot.Direction
	protocol, process   string
	workload            string
	port                uint16
	remoteAddr, remoteG string
}

type listenerKey struct {
	protocol, process string
	workload          string
	addr              netip.Addr
	port              uint16
}

type peerKey struct {
	ip             netip.Addr
	domain, hgroup string
}

type peerAcc struct{ ingress, egress float64 }

// hostAcc collects one instance's series.
type hostAcc struct {
	instance  string
	locals    map[localKey]int // (local_address, local_hostgroup) of connections
	groups    map[string]int   // local_hostgroup of listeners and traffic
	domains   map[string]int   // local_domain of traffic
	conns     map[connKey]float64
	listeners map[listenerKey]bool
	peers     map[peerKey]*peerAcc
	sources   map[string]float64
	scanned   float64
	hasScan   bool
	unowned   float64

	// series counts the host's series of each of recordFamilies, from the
	// census (count queries); the batches of a streamed merge are packed
	// by them.
	series [len(recordFamilies)]int
	// host and scannedAt are the host record and scan time plan settles
	// on, before any record is rebuilt.
	host      snapshot.Host
	scannedAt time.Time
}

// rebuilder groups series by instance and rebuilds snapshots from them.
type rebuilder struct {
	byInstance map[string]*hostAcc
	// census: the host's own labels (local_address, local_hostgroup,
	// local_domain) are counted from count queries (fetcher.census), not from
	// the series add folds in.
	census    bool
	skipped   map[string]int    // family -> series skipped
	firstSkip map[string]string // family -> why the first was skipped
}

func newRebuilder() *rebuilder {
	return &rebuilder{byInstance: map[string]*hostAcc{}, skipped: map[string]int{}, firstSkip: map[string]string{}}
}

func (r *rebuilder) hosts() int { return len(r.byInstance) }

func (r *rebuilder) skip(family, why string) {
	if r.skipped[family] == 0 {
		r.firstSkip[family] = why
	}
	r.skipped[family]++
}

func (r *rebuilder) host(instance string) *hostAcc {
	h := r.byInstance[instance]
	if h == nil {
		h = &hostAcc{
			instance: instance,
			locals:   map[localKey]int{}, groups: map[string]int{}, domains: map[string]int{},
			conns: map[connKey]float64{}, listeners: map[listenerKey]bool{},
			peers: map[peerKey]*peerAcc{}, sources: map[string]float64{},
		}
		r.byInstance[instance] = h
	}
	return h
}

// add folds one series of the named family into its instance's record and
// returns why it was skipped, or "".
func (r *rebuilder) add(family string, s series) string {
	m := s.Metric
	instance, ok := m[metrics.LabelInstance]
	if !ok {
		return "no instance label"
	}
	v, err := s.value()
	if err != nil {
		return "value " + valueText(s.Value[1]) + ": not a number"
	}
	if why := checkValue(family, v); why != "" {
		return "value " + valueText(s.Value[1]) + ": " + why
	}
	switch family {
	case metrics.Upstream.Name, metrics.Downstream.Name:
		c, err := metrics.ReadConnection(family, m)
		if err != nil {
			return err.Error()
		}
		h := r.host(instance)
		if !r.census {
			h.locals[localKey{c.LocalAddress, c.LocalHostgroup}]++
		}
		k := connKey{c.Direction, c.Protocol, c.Process, c.Workload, c.Port, c.RemoteAddress, c.RemoteHostgroup}
		// The same labels twice for one instance (two jobs scraping one
		// exporter) are one observation, not two.
		h.conns[k] = max(h.conns[k], v)
	case metrics.ServerProcess.Name:
		l, err := metrics.ReadServer(m)
		if err != nil {
			return err.Error()
		}
		h := r.host(instance)
		if l.LocalHostgroup != "" && !r.census {
			h.groups[l.LocalHostgroup]++
		}
		if v > 0 {
			h.listeners[listenerKey{l.Protocol, l.Process, l.Workload, l.Bind, l.Port}] = true
		}
	case metrics.Traffic.Name:
		p, err := metrics.ReadTraffic(m)
		if err != nil {
			return err.Error()
		}
		h := r.host(instance)
		if p.LocalHostgroup != "" && !r.census {
			h.groups[p.LocalHostgroup]++
		}
		if p.LocalDomain != "" && !r.census {
			h.domains[p.LocalDomain]++
		}
		k := peerKey{p.RemoteIP, p.RemoteDomain, p.RemoteHostgroup}
		acc := h.peers[k]
		if acc == nil {
			acc = &peerAcc{}
			h.peers[k] = acc
		}
		switch p.Direction {
		case metrics.Ingress:
			acc.ingress = max(acc.ingress, v)
		case metrics.Egress:
			acc.egress = max(acc.egress, v)
		default:
			return fmt.Sprintf("direction %q", p.Direction)
		}
	case metrics.ScanSuccess.Name:
		src, err := metrics.ReadScanSuccess(m)
		if err != nil {
			return err.Error()
		}
		h := r.host(instance)
		if old, ok := h.sources[src]; ok {
			v = min(old, v)
		}
		h.sources[src] = v
	case metrics.ScanTimestamp.Name:
		h := r.host(instance)
		h.scanned, h.hasScan = max(h.scanned, v), true
	case metrics.ScanUnowned.Name:
		h := r.host(instance)
		h.unowned = max(h.unowned, v)
	}
	return ""
}

// maxUnixTime is 9999-12-31T23:59:59Z, the last second RFC 3339 (and so
// a snapshot's scanned_at) can write.
const maxUnixTime = 253402300799

// checkValue says why v cannot be a value of family, or "". Counts are
// whole numbers up to maxCount, byte totals below 2^64, a scan time a Unix
// time up to the year 9999, a success 0 or 1: anything else (NaN, ±Inf,
// 1e300, a negative) would become a wrapped or zero field.
func checkValue(family string, v float64) string {
	switch family {
	case metrics.Traffic.Name:
		if !(v >= 0 && v < math.MaxUint64) {
			return "not a byte count"
		}
	case metrics.ScanTimestamp.Name:
		if !(v >= 0 && v <= maxUnixTime) {
			return "not a Unix time between 1970 and 9999"
		}
	case metrics.ScanSuccess.Name:
		if v != 0 && v != 1 {
			return "want 0 or 1"
		}
	default:
		if _, ok := seriesCount(v); !ok {
			return "not a count"
		}
	}
	return ""
}

// seriesText names a series as PromQL would, name{label="value",...}, with
// labels sorted and values Go-quoted (so nothing in them reaches a
// terminal raw), at most maxServerText bytes.
func seriesText(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(serverText(k))
		b.WriteByte('=')
		b.WriteString(strconv.QuoteToGraphic(labels[k]))
	}
	b.WriteByte('}')
	return serverText(b.String())
}

// valueText is a sample's value as the server sent it, safe to print.
func valueText(raw []byte) string {
	var v string
	if json.Unmarshal(raw, &v) == nil {
		return serverText(v)
	}
	return serverText(string(raw))
}

// skipNotes says how many series of each family were skipped, and why the
// first was.
func (r *rebuilder) skipNotes() []graph.Note {
	var notes []graph.Note
	for _, fam := range families {
		if n := r.skipped[fam.name]; n > 0 {
			notes = append(notes, graph.Note{Level: graph.Warning, Msg: fmt.Sprintf(
				"%d %s series skipped (first: %s)", n, fam.name, r.firstSkip[fam.name])})
		}
	}
	return notes
}

// snapshots rebuilds the snapshot of every host plan chooses, in instance
// order, from the series folded in so far.
func (r *rebuilder) snapshots(at time.Time, lookback, maxAge time.Duration) ([]*snapshot.Snapshot, []graph.Note) {
	hosts, notes := r.plan(at, lookback, maxAge, time.Now())
	out := make([]*snapshot.Snapshot, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, h.snapshot())
	}
	return out, append(r.skipNotes(), notes...)
}

// plan settles every instance's host record and scan time, and returns the
// hosts to merge, sorted by instance. Hosts whose newest scan is older than
// maxAge before at are left out. A host with no valid scan time in the
// window gets the window's start (at less lookback), with a warning: it was
// scraped within the window, and it must neither look newer than a host
// that has one nor give the graph a generated_at of year 1. Of instances
// that are the same host (graph.Identity), the one with the newer sane scan
// time (not after clock plus graph.MaxClockSkew) is kept, the first on a
// tie, as graph.Merge would choose between their snapshots.
func (r *rebuilder) plan(at time.Time, lookback, maxAge time.Duration, clock time.Time) ([]*hostAcc, []graph.Note) {
	var notes []graph.Note
	instances := make([]string, 0, len(r.byInstance))
	for k := range r.byInstance {
		instances = append(instances, k)
	}
	slices.Sort(instances)
	out := make([]*hostAcc, 0, len(instances))
	seen := map[string]int{} // identity -> index in out
	limit := clock.Add(graph.MaxClockSkew)
	for _, inst := range instances {
		h := r.byInstance[inst]
		var warn string
		h.host, warn = h.ident()
		if warn != "" {
			notes = append(notes, graph.Note{Level: graph.Warning, Msg: "instance " + serverText(inst) + ": " + warn})
		}
		h.scannedAt = h.scanTime()
		if !h.hasScan {
			h.scannedAt = at.Add(-lookback).UTC()
			notes = append(notes, graph.Note{Level: graph.Warning, Msg: fmt.Sprintf(
				"instance %s: no valid %s in the window; scanned_at is the window's start, %s",
				serverText(inst), metrics.ScanTimestamp.Name, h.scannedAt.Format(time.RFC3339))})
		}
		if maxAge > 0 && h.hasScan && at.Sub(h.scannedAt) > maxAge {
			notes = append(notes, graph.Note{Level: graph.Info, Msg: fmt.Sprintf(
				"instance %s left out: newest scan %s is older than %s", serverText(inst), h.scannedAt.Format(time.RFC3339), maxAge)})
			continue
		}
		id := graph.Identity(h.host)
		i, dup := seen[id]
		if !dup {
			seen[id] = len(out)
			out = append(out, h)
			continue
		}
		old := out[i]
		notes = append(notes, graph.Note{Level: graph.Warning, Msg: fmt.Sprintf(
			"instances %s and %s are the same host %s; the newer scan is merged", serverText(old.instance), serverText(inst), serverText(h.host.Hostname))})
		if fa, fb := h.scannedAt.After(limit), old.scannedAt.After(limit); fa != fb && fb || fa == fb && h.scannedAt.After(old.scannedAt) {
			out[i] = h
		}
	}
	return out, notes
}

// HostnameOf is the hostname a rebuilt snapshot gets: the instance label
// without its port. Relabel instance to the hostname (or keep host:port
// targets named by hostname) and it is the scan's hostname.
func HostnameOf(instance string) string {
	if host, _, err := net.SplitHostPort(instance); err == nil {
		return host
	}
	return instance
}

// scanTime is the newest scan time in the window; zero without one.
func (h *hostAcc) scanTime() time.Time {
	if !h.hasScan {
		return time.Time{}
	}
	sec, frac := math.Modf(h.scanned)
	// float64 seconds hold about a microsecond today; finer is noise.
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
}

// ident rebuilds the host record from the host's own labels and says what
// was ambiguous: those of its connection series, else the hostgroup of its
// listeners and traffic. An inventory change within the window gives two
// sets; the one on more series wins.
func (h *hostAcc) ident() (snapshot.Host, string) {
	var warn string
	host := snapshot.Host{Hostname: HostnameOf(h.instance)}
	local, n := mostCommon(h.locals, func(a, b localKey) int {
		return cmp.Or(strings.Compare(a.address, b.address), strings.Compare(a.hostgroup, b.hostgroup))
	})
	if n > 1 {
		warn = fmt.Sprintf("%d different local_address/local_hostgroup pairs in the window; using %s/%s", n, serverText(local.address), serverText(local.hostgroup))
	}
	if len(h.locals) == 0 {
		local.hostgroup, _ = mostCommon(h.groups, strings.Compare)
	}
	host.Hostgroup = local.hostgroup
	domain, _ := mostCommon(h.domains, strings.Compare)
	if ip, err := netip.ParseAddr(local.address); err == nil {
		host.Addresses = []netip.Addr{ip}
	} else if domain == "" && local.address != host.Hostname {
		// local_address is the domain, else the first address, else the
		// hostname (snapshot.Host.Label).
		domain = local.address
	}
	host.Domain = domain
	return host, warn
}

// snapshot rebuilds the host's snapshot with the host record and scan time
// plan settled on.
func (h *hostAcc) snapshot() *snapshot.Snapshot {
	s := &snapshot.Snapshot{
		Schema:         snapshot.Schema,
		PlanetVersion:  PlanetVersion,
		Host:           h.host,
		ScannedAt:      h.scannedAt,
		UnownedSockets: int(h.unowned),
	}

	workloads := map[string]bool{}
	for k, v := range h.conns {
		c := snapshot.Connection{
			Direction: k.dir, Protocol: k.protocol, Port: k.port, Process: k.process,
			RemoteHostgroup: k.remoteG, Sockets: int(v), Workload: k.workload,
		}
		workloads[k.workload] = true
		if ip, err := netip.ParseAddr(k.remoteAddr); err == nil {
			c.RemoteIP = ip
		} else {
			c.RemoteDomain = k.remoteAddr
			c.RemoteIP = nameAddr(k.remoteAddr)
		}
		s.Connections = append(s.Connections, c)
	}
	slices.SortFunc(s.Connections, func(a, b snapshot.Connection) int {
		return cmp.Or(strings.Compare(string(a.Direction), string(b.Direction)), strings.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Port, b.Port), strings.Compare(a.Process, b.Process), a.RemoteIP.Compare(b.RemoteIP),
			strings.Compare(a.Workload, b.Workload))
	})
	for k := range h.listeners {
		s.Listeners = append(s.Listeners, snapshot.Listener{Protocol: k.protocol, Address: k.addr, Port: k.port, Process: k.process, Sockets: 1, Workload: k.workload})
		workloads[k.workload] = true
	}
	// The workload label names them; what they are (unit, container) the
	// metrics do not carry.
	for w := range workloads {
		if w != "" {
			s.Workloads = append(s.Workloads, snapshot.Workload{Name: w})
		}
	}
	slices.SortFunc(s.Workloads, func(a, b snapshot.Workload) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Listeners, func(a, b snapshot.Listener) int {
		return cmp.Or(strings.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port), a.Address.Compare(b.Address), strings.Compare(a.Process, b.Process), strings.Compare(a.Workload, b.Workload))
	})
	if len(h.peers) > 0 {
		s.Traffic = &snapshot.Traffic{Source: "prometheus", Format: "metrics"}
		for k, p := range h.peers {
			s.Traffic.Peers = append(s.Traffic.Peers, snapshot.Peer{
				RemoteIP: k.ip, RemoteDomain: k.domain, RemoteHostgroup: k.hgroup,
				IngressBytes: toBytes(p.ingress), EgressBytes: toBytes(p.egress),
			})
		}
		slices.SortFunc(s.Traffic.Peers, func(a, b snapshot.Peer) int {
			return cmp.Or(a.RemoteIP.Compare(b.RemoteIP), strings.Compare(a.RemoteDomain, b.RemoteDomain), strings.Compare(a.RemoteHostgroup, b.RemoteHostgroup))
		})
	}
	srcs := make([]string, 0, len(h.sources))
	for name := range h.sources {
		srcs = append(srcs, name)
	}
	slices.Sort(srcs)
	for _, name := range srcs {
		s.Sources = append(s.Sources, snapshot.Source{Name: name, OK: h.sources[name] == 1, Detail: "from prometheus"})
	}
	return s
}

func toBytes(v float64) uint64 {
	if v >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(v)
}

// mostCommon returns the key with the largest count (the smallest key on a
// tie) and how many keys there were.
func mostCommon[K comparable](m map[K]int, compare func(a, b K) int) (K, int) {
	var best K
	bestN := -1
	for k, n := range m {
		if n > bestN || n == bestN && compare(k, best) < 0 {
			best, bestN = k, n
		}
	}
	return best, len(m)
}

// nameAddr stands in for the IP of a peer the metrics name only by domain
// (remote_address is the domain wherever the inventory knew one). The Merger
// counts unscanned peers by IP, so each distinct name needs an address of
// its own: one in the discard-only prefix 100::/64 (RFC 6666), derived from
// the name. Such a peer always has a domain, so it never becomes an
// external node named by its IP, and the address never reaches the graph.
func nameAddr(name string) netip.Addr {
	h := fnv.New64a()
	h.Write([]byte(name))
	var b [16]byte
	b[0], b[1] = 0x01, 0x00
	sum := h.Sum64()
	for i := range 8 {
		b[8+i] = byte(sum >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}
