package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() *Snapshot {
	return &Snapshot{
		Schema:        Schema,
		PlanetVersion: "test",
		ScannedAt:     time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Host:          Host{Hostname: "web-1", Addresses: []netip.Addr{netip.MustParseAddr("10.1.0.5")}, Hostgroup: "web"},
		Sources:       []Source{{Name: SourceSockets, OK: true, Detail: "netlink"}},
		Listeners:     []Listener{{Protocol: "tcp", Address: netip.MustParseAddr("::"), Port: 9100, Process: "node_exporter", Sockets: 1}},
		Connections: []Connection{{
			Direction: Upstream, Protocol: "tcp", Port: 5432, Process: "my app",
			RemoteIP: netip.MustParseAddr("10.3.0.9"), RemoteHostgroup: "db", Sockets: 2,
			States: map[string]int{"ESTABLISHED": 2}, BytesSent: 10, BytesReceived: 20,
		}},
		Traffic: &Traffic{Source: "http://127.0.0.1:667/hosts/?full=yes", Format: "html", Peers: []Peer{
			{RemoteIP: netip.MustParseAddr("10.3.0.9"), RemoteHostgroup: "db", IngressBytes: 5, EgressBytes: 6},
		}},
	}
}

func encode(t *testing.T, s *Snapshot) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	want := sample()
	got, err := Parse(encode(t, want), "sample.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the snapshot:\n got %+v\nwant %+v", got, want)
	}
}

func TestListenerBind(t *testing.T) {
	for addr, want := range map[string]string{"0.0.0.0": "0.0.0.0:22", "::": ":::22", "fd00::1": "fd00::1:22", "127.0.0.1": "127.0.0.1:22", "::ffff:10.0.0.1": "10.0.0.1:22"} {
		if got := (Listener{Address: netip.MustParseAddr(addr), Port: 22}).Bind(); got != want {
			t.Errorf("Bind(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := string(encode(t, sample()))
	tests := []struct {
		name     string
		doc      string
		want     string // substring of the error
		wantLine int
		isSchema bool
	}{
		{name: "empty", doc: "", want: "sample.json: empty file"},
		{name: "whitespace", doc: " \n\t", want: "empty file"},
		{name: "truncated", doc: good[:len(good)/2], want: "sample.json", wantLine: 1 + strings.Count(good[:len(good)/2], "\n")},
		{name: "not json", doc: "hello", want: "sample.json: line 1"},
		{name: "array", doc: `[{"schema":"planet.snapshot/v1"}]`, want: "not a JSON object", isSchema: true},
		{name: "second schema", doc: strings.Replace(good, `"planet_version"`, `"schema": "planet.snapshot/v2", "planet_version"`, 1), want: `line 3 (byte 38): schema: duplicate member`, wantLine: 3},
		{name: "no schema", doc: `{"planet_version":"x"}`, want: `no "schema" member`, isSchema: true},
		{name: "graph instead", doc: `{"schema":"planet.graph/v1"}`, want: `unsupported schema "planet.graph/v1" (this planet reads planet.snapshot/v2)`, isSchema: true},
		{name: "future version", doc: `{"schema":"planet.snapshot/v3"}`, want: `"planet.snapshot/v3"`, isSchema: true},
		{name: "trailing data", doc: good + `{"more":1}`, want: "trailing data", wantLine: 1 + strings.Count(good, "\n")},
		{name: "unknown field", doc: strings.Replace(good, `"schema"`, `"surprise": 1, "schema"`, 1), want: `line 2 (byte 4): unknown field "surprise" in the document`, wantLine: 2},
		{name: "nested unknown field", doc: strings.Replace(good, `"hostgroup"`, `"surprise": 1, "hostgroup"`, 1), want: `unknown field "surprise" in /host`, wantLine: 1 + strings.Count(good[:strings.Index(good, `"hostgroup"`)], "\n")},
		{name: "fraction", doc: strings.Replace(good, `"sockets": 2`, `"sockets": 2.5`, 1), want: "/connections/0/sockets: cannot decode 2.5 into Go int"},
		{name: "bad time", doc: strings.Replace(good, `"2026-11-26T12:00:00Z"`, `"yesterday"`, 1), want: `line 4 (byte 80): /scanned_at: cannot decode a JSON string into Go time.Time`, wantLine: 4},
		{name: "wrong type", doc: strings.Replace(good, `"sockets": 2`, `"sockets": "two"`, 1), want: "sockets"},
		{name: "bad ip", doc: strings.Replace(good, `"remote_ip": "10.3.0.9"`, `"remote_ip": "10.3.0.999"`, 1), want: "/connections/0/remote_ip: cannot decode a JSON string into Go netip.Addr: ParseAddr(\"10.3.0.999\")"},
		{name: "bad direction", doc: strings.Replace(good, `"direction": "upstream"`, `"direction": "sideways"`, 1), want: `connections[0].direction: "sideways"`},
		// Counts are never negative (V2).
		{name: "negative unowned", doc: strings.Replace(good, `"unowned_sockets": 0`, `"unowned_sockets": -3`, 1), want: "unowned_sockets: negative (-3)"},
		{name: "negative listener sockets", doc: strings.Replace(good, `"sockets": 1`, `"sockets": -7`, 1), want: "listeners[0].sockets: negative (-7)"},
		{name: "negative connection sockets", doc: strings.Replace(good, `"sockets": 2`, `"sockets": -2`, 1), want: "connections[0].sockets: negative (-2)"},
		{name: "negative state", doc: strings.Replace(good, `"ESTABLISHED": 2`, `"ESTABLISHED": -100`, 1), want: "connections[0].states.ESTABLISHED: negative (-100)"},
		// A member named twice is an error wherever it is, however it is
		// spelled (encoding/json would keep the last one silently) (V3).
		{name: "second host", doc: strings.Replace(good, `"sources"`, `"host": {"hostname": "other", "addresses": []}, "sources"`, 1), want: "host: duplicate member", wantLine: 12},
		{name: "second host, other case", doc: strings.Replace(good, `"sources"`, `"HOST": {"hostname": "other", "addresses": []}, "sources"`, 1), want: "HOST: duplicate member"},
		{name: "second host, escaped", doc: strings.Replace(good, `"sources"`, `"h\u006fst": {"hostname": "other", "addresses": []}, "sources"`, 1), want: "host: duplicate member"},
		// Names match as encoding/json matches them: ignoring case only, not
		// '_' or '-' (go-json-experiment's default would take these).
		{name: "look-alike name", doc: strings.Replace(good, `"scanned_at"`, `"scanned-at"`, 1), want: `unknown field "scanned-at" in the document`},
		{name: "look-alike name, no delimiter", doc: strings.Replace(good, `"scanned_at"`, `"scannedat"`, 1), want: `unknown field "scannedat" in the document`},
		{name: "look-alike second member", doc: strings.Replace(good, `"hostgroup"`, `"host-name": "evil", "hostgroup"`, 1), want: `unknown field "host-name" in /host`},
		{name: "nested duplicate", doc: strings.Replace(good, `"sockets": 2`, `"sockets": 2, "Sockets": 900`, 1), want: "connections[0].Sockets: duplicate member"},
		// An object of more members than planet ever writes is refused
		// before decoding (a decoded map costs five times its text).
		{name: "crowded states", doc: strings.Replace(good, `"ESTABLISHED": 2`, `"ESTABLISHED": 2`+crowd(MaxMembers), 1), want: "connections[0].states.s31: more than 32 members in one object"},
		{name: "too many addresses", doc: strings.Replace(good, `"10.1.0.5"`, strings.Repeat(`"10.1.0.5", `, MaxAddresses)+`"10.1.0.5"`, 1), want: "host.addresses: 65537 addresses, more than 65536"},
		{name: "ended flows above flows", doc: strings.Replace(good, `"sockets": 2,`, `"sockets": 2, "flows": 1, "ended_flows": 2,`, 1), want: "connections[0].flows, ended_flows: 1, 2"},
		{name: "negative flows", doc: strings.Replace(good, `"sockets": 2,`, `"sockets": 2, "flows": -1,`, 1), want: "connections[0].flows"},
		{name: "missing time", doc: strings.Replace(good, `"scanned_at": "2026-11-26T12:00:00Z",`, ``, 1), want: "scanned_at: missing"},
		{name: "global address as link-local", doc: strings.Replace(good, `"hostgroup": "web"`, `"hostgroup": "web", "link_local": ["fe80::1%eth0", "2001:db8::1"]`, 1), want: "host.link_local[1]: 2001:db8::1 is not an IPv6 link-local address"},
		{name: "IPv4 link-local", doc: strings.Replace(good, `"hostgroup": "web"`, `"hostgroup": "web", "link_local": ["169.254.1.1"]`, 1), want: "host.link_local[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "sample.json")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sample.json") {
				t.Errorf("error %q does not start with the file name", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *snapshot.Error", err)
			}
			if tt.wantLine != 0 && e.Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%v)", e.Line, tt.wantLine, err)
			}
			if errors.Is(err, ErrSchema) != tt.isSchema {
				t.Errorf("errors.Is(err, ErrSchema) = %v, want %v", !tt.isSchema, tt.isSchema)
			}
		})
	}
}

// crowd is n more members for an object: "s0": 1, "s1": 1...
func crowd(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `, "s%d": 1`, i)
	}
	return b.String()
}

func TestReadSizeLimit(t *testing.T) {
	defer func(old int) { maxSize = old }(maxSize)
	maxSize = 1000
	big := bytes.Repeat([]byte(" "), maxSize+10)
	_, err := Read(bytes.NewReader(big), "big.json")
	if err == nil || !strings.Contains(err.Error(), "big.json: larger than") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadStream(t *testing.T) {
	defer func(old int) { maxSize = old }(maxSize)
	maxSize = 5000
	one := encode(t, sample())
	s2 := sample()
	s2.Host.Hostname = "web-2"
	two := encode(t, s2)
	compact := bytes.Join([][]byte{bytes.ReplaceAll(one, []byte("\n"), nil), bytes.ReplaceAll(two, []byte("\n"), nil)}, []byte("\n"))
	tests := []struct {
		name  string
		in    string
		hosts []string
		err   string
	}{
		{name: "back to back", in: string(one) + string(two), hosts: []string{"web-1", "web-2"}},
		{name: "one per line", in: string(compact) + "\n", hosts: []string{"web-1", "web-2"}},
		{name: "no separator", in: strings.TrimSpace(string(one)) + strings.TrimSpace(string(two)), hosts: []string{"web-1", "web-2"}},
		{name: "braces in strings", in: strings.Replace(string(one), `"my app"`, `"}{ \"]"`, 1), hosts: []string{"web-1"}},
		{name: "empty", in: "", err: "-: no snapshot in input"},
		{name: "truncated second", in: string(one) + string(two[:40]), hosts: []string{"web-1"}, err: "document 2"},
		{name: "garbage between", in: string(one) + "oops" + string(two), hosts: []string{"web-1"}, err: "unexpected 'o'"},
		{name: "bad second", in: string(one) + `{"schema":"planet.snapshot/v9"}`, hosts: []string{"web-1"}, err: "document 2, from byte"},
		{name: "endless document", in: "{" + strings.Repeat(`"aaaaaaaaa",`, 500), err: "larger than 5000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hosts []string
			err := ReadStream(strings.NewReader(tt.in), "-", func(s *Snapshot) error {
				hosts = append(hosts, s.Host.Hostname)
				return nil
			})
			if tt.err == "" && err != nil {
				t.Fatal(err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if !reflect.DeepEqual(hosts, tt.hosts) {
				t.Errorf("hosts = %v, want %v", hosts, tt.hosts)
			}
		})
	}
}

func TestHostLabel(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1")}
	tests := []struct {
		h    Host
		want string
	}{
		{Host{Hostname: "h", Addresses: addrs, Domain: "h.consul"}, "h.consul"},
		{Host{Hostname: "h", Addresses: addrs}, "10.0.0.1"},
		{Host{Hostname: "h"}, "h"},
	}
	for _, tt := range tests {
		if got := tt.h.Label(); got != tt.want {
			t.Errorf("%+v.Label() = %q, want %q", tt.h, got, tt.want)
		}
	}
}

// FuzzParse: whatever the input, Parse never panics, and what it accepts
// survives a write and a second read unchanged.
func FuzzParse(f *testing.F) {
	good := encodeF(f, sample())
	f.Add(good)
	f.Add([]byte(`{"schema":"planet.snapshot/v1"}`))
	f.Add([]byte(`{"schema":"planet.snapshot/v1","scanned_at":"2026-01-01T00:00:00Z","host":{"hostname":"x","addresses":[]},"sources":[],"listeners":[],"connections":[],"unowned_sockets":0}`))
	f.Add(good[:len(good)/3])
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := Parse(doc, "fuzz")
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b.Bytes(), "rewritten")
		if err != nil {
			t.Fatalf("a snapshot we wrote does not read back: %v\n%s", err, b.Bytes())
		}
		var b2 bytes.Buffer
		if err := Write(&b2, back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), b2.Bytes()) {
			t.Fatalf("second write differs:\n%s\n%s", b.Bytes(), b2.Bytes())
		}
	})
}

func encodeF(f *testing.F, s *Snapshot) []byte {
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

// Link-local addresses keep their interface through a write and a read.
func TestRoundTripLinkLocal(t *testing.T) {
	want := sample()
	want.Host.LinkLocal = []netip.Addr{netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2%ens3")}
	doc := encode(t, want)
	if !bytes.Contains(doc, []byte(`"fe80::1%eth0"`)) {
		t.Fatalf("zone not written:\n%s", doc)
	}
	got, err := Parse(doc, "sample.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the snapshot:\n got %+v\nwant %+v", got.Host, want.Host)
	}
}

// The connection-tracking fields round-trip, and a snapshot written before
// them (no conntrack, no flows, no NAT addresses) reads as before.
func TestConntrackFields(t *testing.T) {
	want := sample()
	want.Sources = append(want.Sources, Source{Name: SourceConntrack, OK: true, Detail: "netlink ctnetlink"})
	want.Connections = append(want.Connections,
		Connection{Direction: Downstream, Protocol: "tcp", Port: 8080, RemoteIP: netip.MustParseAddr("10.9.0.50"), Flows: 3, EndedFlows: 1,
			BackendIP: netip.MustParseAddr("172.17.0.2"), BackendPort: 80},
		Connection{Direction: Upstream, Protocol: "tcp", Port: 8000, Process: "caller", RemoteIP: netip.MustParseAddr("10.3.0.4"), Sockets: 1,
			DialledIP: netip.MustParseAddr("10.96.0.10"), DialledPort: 80},
		Connection{Direction: Upstream, Protocol: "tcp", Port: 5432, RemoteIP: netip.MustParseAddr("10.3.0.9"), Flows: 1,
			OriginIP: netip.MustParseAddr("172.17.0.3")})
	want.Conntrack = &Conntrack{Source: "netlink ctnetlink", Entries: 9, FlowsAdded: 4, EndedFlows: 1, SocketsRedirected: 1, Shown: 2, Foreign: 2, ByteCounters: true}
	doc := encode(t, want)
	got, err := Parse(doc, "new.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the snapshot:\n got %+v\nwant %+v", got, want)
	}

	old := `{"schema": "planet.snapshot/v1", "planet_version": "v0.1.0", "scanned_at": "2026-11-26T12:00:00Z",
  "host": {"hostname": "web-1", "addresses": ["10.1.0.5"]},
  "sources": [{"name": "sockets", "ok": true, "detail": "netlink"}],
  "listeners": [],
  "connections": [{"direction": "upstream", "protocol": "tcp", "port": 5432, "process": "app", "remote_ip": "10.3.0.9", "sockets": 1}],
  "unowned_sockets": 0}`
	s, err := Parse([]byte(old), "old.json")
	if err != nil {
		t.Fatalf("a snapshot without the conntrack fields: %v", err)
	}
	if s.Conntrack != nil || s.Connections[0].Flows != 0 || s.Connections[0].DialledIP.IsValid() {
		t.Errorf("old snapshot read with conntrack data: %+v", s)
	}
	if _, ok := s.Source(SourceConntrack); ok {
		t.Error("old snapshot has a conntrack source")
	}
	if bytes.Contains(encode(t, s), []byte("flows")) {
		t.Error("an old snapshot written back gains conntrack fields")
	}
}

// sampleV2 is sample with a container namespace and workloads.
func sampleV2() *Snapshot {
	s := sample()
	s.Namespaces = []Namespace{
		{Inode: 4026531840, Host: true, PID: 1, Addresses: []netip.Addr{netip.MustParseAddr("10.1.0.5")}, Source: "netlink", Sockets: 3},
		{Inode: 4026532300, PID: 812, Addresses: []netip.Addr{netip.MustParseAddr("172.17.0.2")}, Source: "proc", Sockets: 2},
	}
	s.Workloads = []Workload{{Name: "docker/web", Runtime: "docker", ContainerID: strings.Repeat("ab", 32), ContainerName: "web",
		Processes: []Process{{Name: "nginx", Command: "nginx: master process", PIDs: 1}}}}
	s.Listeners[0].Netns, s.Listeners[0].Workload = 4026532300, "docker/web"
	s.Connections[0].Netns = 4026531840
	return s
}

func TestSchemaVersions(t *testing.T) {
	v2 := sampleV2()
	got, err := Parse(encode(t, v2), "v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v2) {
		t.Errorf("round trip changed the v2 snapshot:\n got %+v\nwant %+v", got, v2)
	}
	if p := got.PrivateAddresses(); len(p) != 1 || p[0] != netip.MustParseAddr("172.17.0.2") {
		t.Errorf("PrivateAddresses = %v, want [172.17.0.2]", p)
	}

	v1 := sample()
	v1.Schema = SchemaV1
	if _, err := Parse(encode(t, v1), "v1.json"); err != nil {
		t.Errorf("a v1 snapshot does not read: %v", err)
	}
	// v1 as written before v2, with the fields v1 gained along the way
	// (link-local addresses, conntrack's summary and record fields): read,
	// and the same v2 documents carry them all.
	v1.Host.LinkLocal = []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}
	v1.Conntrack = &Conntrack{Source: "/proc/net/nf_conntrack", Entries: 2, FlowsAdded: 1}
	v1.Connections = append(v1.Connections, Connection{Direction: Downstream, Protocol: "tcp", Port: 8080,
		RemoteIP: netip.MustParseAddr("10.9.0.50"), Flows: 1, BackendIP: netip.MustParseAddr("172.17.0.2"), BackendPort: 80})
	if got, err := Parse(encode(t, v1), "v1-conntrack.json"); err != nil || !reflect.DeepEqual(got, v1) {
		t.Errorf("a v1 snapshot with link_local and conntrack fields: err %v, changed %v", err, err == nil)
	}
	both := sampleV2()
	both.Host.LinkLocal, both.Conntrack = v1.Host.LinkLocal, v1.Conntrack
	both.Connections = append(both.Connections, v1.Connections[len(v1.Connections)-1])
	both.Connections[len(both.Connections)-1].Workload, both.Connections[len(both.Connections)-1].Netns = "docker/web", 4026532300
	if got, err := Parse(encode(t, both), "v2-conntrack.json"); err != nil || !reflect.DeepEqual(got, both) {
		t.Errorf("a v2 snapshot with conntrack fields and workloads: err %v, changed %v", err, err == nil)
	}

	for _, tc := range []struct {
		name string
		edit func(*Snapshot)
		want string
	}{
		{"v1 with namespaces", func(s *Snapshot) { s.Schema = SchemaV1 }, "not members of planet.snapshot/v1"},
		{"v1 with a record's workload", func(s *Snapshot) { s.Schema, s.Namespaces, s.Workloads, s.Connections[0].Netns = SchemaV1, nil, nil, 0 }, "listeners[0]: netns/workload"},
		{"unknown netns", func(s *Snapshot) { s.Connections[0].Netns = 7 }, "connections[0].netns: 7 is not in namespaces"},
		{"unknown workload", func(s *Snapshot) { s.Listeners[0].Workload = "x.service" }, `listeners[0].workload: "x.service" is not in workloads`},
		{"namespace twice", func(s *Snapshot) { s.Namespaces[1].Inode = s.Namespaces[0].Inode }, "namespaces[1].inode"},
		{"workload without a name", func(s *Snapshot) { s.Workloads[0].Name = "" }, "workloads[0].name: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sampleV2()
			tc.edit(s)
			_, err := Parse(encode(t, s), "bad.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
