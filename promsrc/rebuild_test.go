package promsrc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

// parseText reads the text exposition format as metrics.Textfile writes it
// (no timestamps) into series with an added instance label.
func parseText(t testing.TB, text []byte, instance string) map[string][]series {
	t.Helper()
	out := map[string][]series{}
	for line := range strings.SplitSeq(string(text), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		labels := map[string]string{"instance": instance}
		var value string
		if rest == "" { // no labels
			name, value, _ = strings.Cut(line, " ")
		} else {
			for rest[0] != '}' {
				k, r, _ := strings.Cut(rest, `="`)
				var v strings.Builder
				i := 0
				for ; r[i] != '"'; i++ {
					if r[i] == '\\' {
						i++
						switch r[i] {
						case 'n':
							v.WriteByte('\n')
						default:
							v.WriteByte(r[i])
						}
						continue
					}
					v.WriteByte(r[i])
				}
				labels[k] = v.String()
				rest = strings.TrimPrefix(r[i+1:], ",")
			}
			value = strings.TrimPrefix(rest, "} ")
		}
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			t.Fatalf("line %q: value %q", line, value)
		}
		v, _ := json.Marshal(value)
		out[name] = append(out[name], series{Metric: labels, Value: [2]json.RawMessage{json.RawMessage("0"), v}})
	}
	return out
}

// notRead are the families metrics.Textfile writes that promsrc leaves alone on
// purpose: they say how current a scan's inventory was, for alerts, and no
// graph is built from them.
var notRead = map[string]bool{metrics.InventoryAge.Name: true, metrics.InventorySkipped.Name: true}

// viaMetrics renders each snapshot as its textfile, reads the series back
// as Prometheus would serve them (instance = hostname) and rebuilds.
func viaMetrics(t testing.TB, snaps []*snapshot.Snapshot) ([]*snapshot.Snapshot, []graph.Note) {
	t.Helper()
	r := newRebuilder()
	for _, s := range snaps {
		var buf bytes.Buffer
		if err := metrics.Textfile(&buf, s); err != nil {
			t.Fatal(err)
		}
		byName := parseText(t, buf.Bytes(), s.Host.Hostname+":9100")
		for _, fam := range families {
			for _, ser := range byName[fam.name] {
				if why := r.add(fam.name, ser); why != "" {
					t.Fatalf("%s: %s skipped: %s", s.Host.Hostname, fam.name, why)
				}
			}
			delete(byName, fam.name)
		}
		for name := range byName {
			if !notRead[name] {
				t.Errorf("the textfile has %s, which promsrc does not read", name)
			}
		}
	}
	return r.snapshots(scanTime, DefaultLookback, 0)
}

func mustMerge(t testing.TB, snaps []*snapshot.Snapshot, mo graph.MergeOptions) *graph.Graph {
	t.Helper()
	g, err := graph.Merge(snaps, mo)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRoundTrip: snapshot -> textfile -> series -> rebuilt snapshot ->
// graph equals the file merge on what metrics carry, for every merge option.
func TestRoundTrip(t *testing.T) {
	for _, mo := range []graph.MergeOptions{
		{},
		{By: graph.ByHost},
		{External: graph.MustParseExternal("collapse")},
		{External: graph.MustParseExternal("cidr:16,32")},
	} {
		t.Run(string(mo.By)+"/"+mo.External.String(), func(t *testing.T) {
			snaps := fleet()
			rebuilt, notes := viaMetrics(t, snaps)
			for _, n := range notes {
				t.Errorf("note: %s", n)
			}
			want := carried(mustMerge(t, snaps, mo))
			got := mustMerge(t, rebuilt, mo)
			if diff := graphDiff(t, want, got); diff != "" {
				t.Errorf("graph from metrics differs (-files +metrics):\n%s", diff)
			}
		})
	}
}

// graphDiff compares two graphs as planet.graph/v1 documents, line by
// line, and returns the differing lines ("" when equal).
func graphDiff(t testing.TB, want, got *graph.Graph) string {
	t.Helper()
	var a, b bytes.Buffer
	if err := graph.Write(&a, want); err != nil {
		t.Fatal(err)
	}
	if err := graph.Write(&b, got); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		return ""
	}
	al, bl := strings.Split(a.String(), "\n"), strings.Split(b.String(), "\n")
	var out strings.Builder
	shown := 0
	for i := 0; i < max(len(al), len(bl)) && shown < 40; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "line %d:\n- %s\n+ %s\n", i+1, x, y)
			shown++
		}
	}
	return out.String()
}

// TestRebuiltHost checks the host record a snapshot's series give back, and
// documents what is lost on the way.
func TestRebuiltHost(t *testing.T) {
	snaps := fleet()
	rebuilt, _ := viaMetrics(t, snaps)
	byName := map[string]*snapshot.Snapshot{}
	for _, s := range rebuilt {
		byName[s.Host.Hostname] = s
	}
	tests := []struct {
		host      string
		want      snapshot.Host
		listeners int
		conns     int
		unowned   int
		sources   map[string]bool
	}{
		// Addresses are lost where local_address is the domain.
		{"web-1", snapshot.Host{Hostname: "web-1", Hostgroup: "web", Domain: "web-1.service.consul"}, 3, 7, 0,
			map[string]bool{"sockets": true, "inventory": true, "darkstat": true}},
		{"db-1", snapshot.Host{Hostname: "db-1", Hostgroup: "db", Domain: "db-1.service.consul"}, 2, 3, 2,
			map[string]bool{"sockets": true, "inventory": true, "darkstat": false}},
		// Only the first non-loopback address is local_address.
		{"tools-1", snapshot.Host{Hostname: "tools-1", Addresses: []netip.Addr{ip("10.5.0.2")}}, 1, 3, 0,
			map[string]bool{"sockets": true}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			s := byName[tt.host]
			if s == nil {
				t.Fatalf("no rebuilt snapshot for %s", tt.host)
			}
			if !reflect.DeepEqual(tt.want, s.Host) {
				t.Errorf("host %+v, want %+v", s.Host, tt.want)
			}
			if len(s.Listeners) != tt.listeners || len(s.Connections) != tt.conns || s.UnownedSockets != tt.unowned {
				t.Errorf("listeners %d, connections %d, unowned %d; want %d, %d, %d",
					len(s.Listeners), len(s.Connections), s.UnownedSockets, tt.listeners, tt.conns, tt.unowned)
			}
			got := map[string]bool{}
			for _, src := range s.Sources {
				got[src.Name] = src.OK
			}
			if !reflect.DeepEqual(tt.sources, got) {
				t.Errorf("sources %v, want %v", got, tt.sources)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("rebuilt snapshot invalid: %v", err)
			}
			if !s.ScannedAt.Equal(hostSnap(snaps, tt.host).ScannedAt) {
				t.Errorf("scanned_at %s, want %s", s.ScannedAt, hostSnap(snaps, tt.host).ScannedAt)
			}
			for _, c := range s.Connections {
				if c.States != nil || c.BytesSent != 0 || c.BytesReceived != 0 {
					t.Errorf("%+v: states or byte counters, which no series carries", c)
				}
			}
		})
	}
}

func hostSnap(snaps []*snapshot.Snapshot, name string) *snapshot.Snapshot {
	for _, s := range snaps {
		if s.Host.Hostname == name {
			return s
		}
	}
	return nil
}

// TestKnownDifferences pins what a metric-based graph cannot match, so the
// list in docs/prometheus.md stays true.
func TestKnownDifferences(t *testing.T) {
	peer := func(ipStr, domain string) snapshot.Connection {
		return snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, Process: "app",
			RemoteIP: ip(ipStr), RemoteHostgroup: "api", RemoteDomain: domain, Sockets: 1}
	}
	host := func(name, addr, domain string, conns ...snapshot.Connection) *snapshot.Snapshot {
		return &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: scanTime, Connections: conns,
			Host: snapshot.Host{Hostname: name, Addresses: []netip.Addr{ip(addr)}, Hostgroup: "web", Domain: domain}}
	}
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		check func(t *testing.T, files, metrics *graph.Graph)
	}{
		{
			// Two IPs behind one domain are one series: one peer, not two.
			name:  "ips behind one domain",
			snaps: []*snapshot.Snapshot{host("web-1", "10.1.0.5", "", peer("10.4.0.1", "api.service.consul"), peer("10.4.0.2", "api.service.consul"))},
			check: func(t *testing.T, files, metrics *graph.Graph) {
				if f, m := files.Node("api").HostCount, metrics.Node("api").HostCount; f != 2 || m != 1 {
					t.Errorf("api host_count: files %d, metrics %d; want 2 and 1", f, m)
				}
				if f, m := files.Edges[0].Sockets, metrics.Edges[0].Sockets; f != m {
					t.Errorf("sockets differ: files %d, metrics %d (the series sums them)", f, m)
				}
			},
		},
		{
			// A peer reaching a scanned host by its IP, while that host is
			// labelled by its domain: metrics do not know the host's IPs.
			name: "scanned host known by address only",
			snaps: []*snapshot.Snapshot{
				host("web-1", "10.1.0.5", "web-1.consul", snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 22,
					Process: "ssh", RemoteIP: ip("10.1.0.6"), Sockets: 1}),
				host("web-2", "10.1.0.6", "web-2.consul"),
			},
			check: func(t *testing.T, files, metrics *graph.Graph) {
				if files.Edges[0].To != "web" || metrics.Edges[0].To != "10.1.0.6" {
					t.Errorf("edge to %s (files) and %s (metrics); want web and the external 10.1.0.6", files.Edges[0].To, metrics.Edges[0].To)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rebuilt, _ := viaMetrics(t, tt.snaps)
			tt.check(t, mustMerge(t, tt.snaps, graph.MergeOptions{}), mustMerge(t, rebuilt, graph.MergeOptions{}))
		})
	}
}

func TestHelpers(t *testing.T) {
	tests := []struct{ got, want string }{
		{HostnameOf("web-1:9100"), "web-1"},
		{HostnameOf("web-1"), "web-1"},
		{HostnameOf("[::1]:9100"), "::1"},
		{promDuration(time.Hour), "3600s"},
		{promDuration(1500 * time.Millisecond), "1500ms"},
		{matchAny("instance", []string{"a.b:1"}), `instance="a.b:1"`},
		{matchAny("local_hostgroup", []string{"", "web", `a|b"`}), `local_hostgroup=~"|web|a\\|b\""`},
		{formatTime(time.Unix(1700000000, 250e6)), "1700000000.250"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %s, want %s", i, tt.got, tt.want)
		}
	}
	if a, b := nameAddr("x.consul"), nameAddr("y.consul"); a == b || !netip.MustParsePrefix("100::/64").Contains(a) {
		t.Errorf("nameAddr: %s %s", a, b)
	}
	for _, tt := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "", false},
		{`{job="node"}`, `job="node"`, false},
		{` {job="node", env=~"prod|stage",} `, `job="node", env=~"prod|stage"`, false},
		{`job="node"`, "", true},
		{`up{job="node"}`, "", true},
	} {
		got, err := parseSelector(tt.in, Options{}.name)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseSelector(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestWorkloadRoundTrip: the workload label comes back on each record, and
// two workloads running one program to one server stay two records.
func TestWorkloadRoundTrip(t *testing.T) {
	s := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: scanTime,
		Host:      snapshot.Host{Hostname: "docker-1", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
		Sources:   []snapshot.Source{{Name: snapshot.SourceSockets, OK: true}},
		Workloads: []snapshot.Workload{{Name: "docker/app"}, {Name: "docker/web"}, {Name: "worker.service"}},
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: 80, Process: "nginx", Sockets: 1, Workload: "docker/web"}},
	}
	for i, w := range []string{"docker/app", "worker.service"} {
		s.Connections = append(s.Connections, snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432,
			Process: "python3", RemoteIP: netip.MustParseAddr("10.0.0.9"), Sockets: i + 1, Workload: w})
	}
	rebuilt, _ := viaMetrics(t, []*snapshot.Snapshot{s})
	if len(rebuilt) != 1 {
		t.Fatalf("%d snapshots rebuilt", len(rebuilt))
	}
	r := rebuilt[0]
	var got []string
	for _, c := range r.Connections {
		got = append(got, fmt.Sprintf("%s %d", c.Workload, c.Sockets))
	}
	if strings.Join(got, ",") != "docker/app 1,worker.service 2" {
		t.Errorf("connections' workloads %q", got)
	}
	if len(r.Listeners) != 1 || r.Listeners[0].Workload != "docker/web" {
		t.Errorf("listeners %+v", r.Listeners)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("rebuilt snapshot invalid: %v", err)
	}
}

// TestRecordInvalidSeriesBesideValid: two series of one connection record
// (two jobs scraping the host, one exporting an invalid count) give the
// record from the valid one and a note naming the invalid one, which is
// why a record query asks for every series as is (family.record) and not
// for a server-side max by over them, where the invalid value would win
// and the record be lost.
func TestRecordInvalidSeriesBesideValid(t *testing.T) {
	labels := func(job string) map[string]string {
		return map[string]string{metrics.LabelInstance: "h1:9100", "job": job, metrics.LabelPort: "443", metrics.LabelProtocol: "tcp",
			metrics.LabelRemoteAddress: "10.0.0.9", metrics.LabelProcessName: "curl"}
	}
	value := func(v string) [2]json.RawMessage {
		return [2]json.RawMessage{json.RawMessage(`1`), json.RawMessage(`"` + v + `"`)}
	}
	for _, bad := range []string{"1e300", "3.5", "+Inf", "-1"} {
		for _, order := range []string{"valid first", "invalid first"} {
			r := newRebuilder()
			r.census = true
			in := []series{{Metric: labels("a"), Value: value("3")}, {Metric: labels("b"), Value: value(bad)}}
			if order == "invalid first" {
				in[0], in[1] = in[1], in[0]
			}
			var notes []string
			for _, s := range in {
				if why := r.add(metrics.Upstream.Name, s); why != "" {
					notes = append(notes, why)
				}
			}
			h := r.byInstance["h1:9100"]
			if h == nil || len(h.conns) != 1 {
				t.Errorf("%s, %s: want the valid series' record, got host %v", bad, order, h)
			}
			if len(notes) != 1 {
				t.Errorf("%s, %s: want one note for the invalid series, got %q", bad, order, notes)
			}
		}
		if q := recordFamilies[0].record(`planet_upstream{job="node"}[1h]`); strings.Contains(q, " by ") {
			t.Errorf("record query %q aggregates series on the server", q)
		}
	}
}
