package metrics

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

func textfileFor(t *testing.T, s *snapshot.Snapshot) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Textfile(&buf, s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTextfileGolden(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			golden(t, fx.Name+".prom.golden", textfileFor(t, fx.Snap()))
		})
	}
}

// promtool check metrics parses the file and lints it; any output at all is
// a problem (lint findings are printed, and only some change the exit code).
func TestTextfilePromtool(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "prometheus")
	check := func(in []byte) ([]byte, error) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(in)
		return cmd.CombinedOutput()
	}
	// Control: the check must notice the old exporter's mistake (a counter
	// without _total, a family without HELP), or passing proves nothing.
	if out, err := check([]byte("# TYPE planet_traffic_bytes counter\nplanet_traffic_bytes 1\n")); err == nil || len(out) == 0 {
		t.Fatalf("promtool accepted a lint problem (err %v, output %q)", err, out)
	}
	for _, fx := range fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			if out, err := check(textfileFor(t, fx.Snap())); err != nil || len(out) > 0 {
				t.Fatalf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}

// TestTextfileStructure checks, without any Prometheus library, the rules a
// reader relies on: HELP then TYPE for every family, families sorted, no
// family twice, no series twice, series sorted, no timestamps.
func TestTextfileStructure(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			out := string(textfileFor(t, fx.Snap()))
			if !strings.HasSuffix(out, "\n") {
				t.Fatal("output does not end in a newline")
			}
			var families, series []string
			seen := map[string]bool{}
			current := ""
			for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				switch {
				case strings.HasPrefix(line, "# HELP "):
					current = strings.Fields(line)[2]
					families = append(families, current)
					if !slices.IsSorted(series) {
						t.Errorf("series of the family before %s are not sorted", current)
					}
					series = nil
				case strings.HasPrefix(line, "# TYPE "):
					if f := strings.Fields(line); len(f) != 4 || f[2] != current {
						t.Errorf("line %d: TYPE does not follow HELP of %s: %q", i+1, current, line)
					}
				case strings.HasPrefix(line, "#"):
					t.Errorf("line %d: unexpected comment %q", i+1, line)
				default:
					if !strings.HasPrefix(line, current+"{") && !strings.HasPrefix(line, current+" ") {
						t.Errorf("line %d: sample outside its family %s: %q", i+1, current, line)
					}
					// The value is the last field; a timestamp would add one
					// after the closing brace.
					rest := strings.TrimPrefix(line, current)
					if strings.HasPrefix(rest, "{") {
						rest = rest[strings.LastIndex(rest, "}")+1:]
					}
					if len(strings.Fields(rest)) != 1 {
						t.Errorf("line %d: want exactly one value after the labels: %q", i+1, line)
					}
					key := line[:strings.LastIndex(line, " ")]
					if seen[key] {
						t.Errorf("line %d: duplicate series %s", i+1, key)
					}
					seen[key] = true
					series = append(series, key)
				}
			}
			if !slices.IsSorted(families) || len(slices.Compact(slices.Clone(families))) != len(families) {
				t.Errorf("families not sorted or repeated: %v", families)
			}
		})
	}
}

// TestTextfileLabels pins the label mapping decisions one at a time.
func TestTextfileLabels(t *testing.T) {
	host := snapshot.Host{Hostname: "h1", Addresses: []netip.Addr{ip("127.0.0.1"), ip("10.0.0.1")}, Hostgroup: "app", Domain: "h1.consul"}
	conn := func(mod func(*snapshot.Connection)) snapshot.Connection {
		c := snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "curl", RemoteIP: ip("10.1.1.1"), Sockets: 1}
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		mod  func(*snapshot.Snapshot)
		want []string // each must be within one line
		not  []string // substrings that must be absent
	}{
		{
			name: "domain wins over IP",
			mod: func(s *snapshot.Snapshot) {
				s.Connections = []snapshot.Connection{conn(func(c *snapshot.Connection) { c.RemoteDomain, c.RemoteHostgroup = "db.consul", "db" })}
			},
			want: []string{`planet_upstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="db.consul",remote_hostgroup="db"} 1`},
		},
		{
			// Two workloads running the same program to the same server
			// are two series, told apart by the one label planet adds.
			name: "workload label",
			mod: func(s *snapshot.Snapshot) {
				s.Workloads = []snapshot.Workload{{Name: "docker/web"}, {Name: "nginx.service"}}
				s.Connections = []snapshot.Connection{
					conn(func(c *snapshot.Connection) { c.Workload = "docker/web" }),
					conn(func(c *snapshot.Connection) { c.Workload = "nginx.service"; c.Sockets = 2 }),
				}
				s.Listeners = []snapshot.Listener{{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 80, Process: "nginx", Sockets: 1, Workload: "docker/web"}}
			},
			want: []string{
				`planet_upstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="10.1.1.1",remote_hostgroup="",workload="docker/web"} 1`,
				`planet_upstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="10.1.1.1",remote_hostgroup="",workload="nginx.service"} 2`,
				`planet_server_process{bind="0.0.0.0:80",local_hostgroup="app",port="80",process_name="nginx",protocol="tcp",workload="docker/web"} 1`,
			},
		},
		{
			name: "IP without inventory",
			mod:  func(s *snapshot.Snapshot) { s.Connections = []snapshot.Connection{conn(func(*snapshot.Connection) {})} },
			want: []string{`planet_upstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="10.1.1.1",remote_hostgroup=""} 1`},
		},
		{
			name: "host without domain is its first non-loopback address",
			mod: func(s *snapshot.Snapshot) {
				s.Host.Domain = ""
				s.Connections = []snapshot.Connection{conn(func(*snapshot.Connection) {})}
			},
			want: []string{`planet_upstream{local_address="10.0.0.1",`},
		},
		{
			name: "loopback keeps its IP and is localhost",
			mod: func(s *snapshot.Snapshot) {
				s.Connections = []snapshot.Connection{conn(func(c *snapshot.Connection) {
					c.Direction, c.RemoteIP, c.RemoteDomain, c.RemoteHostgroup = snapshot.Downstream, ip("127.0.0.53"), "h1.consul", ""
				})}
			},
			want: []string{`planet_downstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="127.0.0.53",remote_hostgroup="localhost"} 1`},
		},
		{
			name: "IPv4-mapped IPv6 is plain IPv4",
			mod: func(s *snapshot.Snapshot) {
				s.Connections = []snapshot.Connection{conn(func(c *snapshot.Connection) { c.RemoteIP = ip("::ffff:10.1.1.1") })}
			},
			want: []string{`remote_address="10.1.1.1"`},
			not:  []string{"ffff"},
		},
		{
			name: "records with one label set are summed",
			mod: func(s *snapshot.Snapshot) {
				s.Connections = []snapshot.Connection{
					conn(func(c *snapshot.Connection) { c.RemoteDomain, c.Sockets = "db.consul", 2 }),
					conn(func(c *snapshot.Connection) { c.RemoteDomain, c.RemoteIP, c.Sockets = "db.consul", ip("10.1.1.2"), 5 }),
					conn(func(c *snapshot.Connection) {
						c.Direction, c.RemoteDomain, c.Sockets = snapshot.Downstream, "db.consul", 1
					}),
				}
			},
			want: []string{
				`planet_upstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="db.consul",remote_hostgroup=""} 7`,
				`planet_downstream{local_address="h1.consul",local_hostgroup="app",port="80",process_name="curl",protocol="tcp",remote_address="db.consul",remote_hostgroup=""} 1`,
			},
		},
		{
			name: "server process is 1 whatever its sockets",
			mod: func(s *snapshot.Snapshot) {
				l := snapshot.Listener{Protocol: "tcp", Address: ip("::"), Port: 9100, Process: "node_exporter", Sockets: 8}
				s.Listeners = []snapshot.Listener{l, l}
			},
			want: []string{`planet_server_process{bind=":::9100",local_hostgroup="app",port="9100",process_name="node_exporter",protocol="tcp"} 1`},
		},
		{
			name: "scan success per used source",
			mod: func(s *snapshot.Snapshot) {
				s.Sources = []snapshot.Source{{Name: "sockets", OK: true}, {Name: "darkstat", OK: false, Error: "refused"}}
			},
			want: []string{`planet_scan_success{source="darkstat"} 0`, `planet_scan_success{source="sockets"} 1`},
			not:  []string{`source="inventory"`},
		},
		{
			name: "a source reported twice succeeds only if both did",
			mod: func(s *snapshot.Snapshot) {
				s.Sources = []snapshot.Source{{Name: "sockets", OK: true}, {Name: "sockets", OK: false}}
			},
			want: []string{`planet_scan_success{source="sockets"} 0`},
		},
		{
			name: "timestamp and unowned sockets",
			mod: func(s *snapshot.Snapshot) {
				s.ScannedAt = time.Unix(1700000000, 250_000_000)
				s.UnownedSockets = 17
			},
			want: []string{`planet_scan_timestamp_seconds 1.70000000025e+09`, `planet_scan_unowned_sockets 17`},
		},
		{
			name: "traffic both directions with local labels",
			mod: func(s *snapshot.Snapshot) {
				s.Traffic = &snapshot.Traffic{Peers: []snapshot.Peer{{RemoteIP: ip("10.1.1.1"), RemoteDomain: "db.consul", RemoteHostgroup: "db", IngressBytes: 126014316, EgressBytes: 0}}}
			},
			want: []string{
				"# TYPE planet_traffic_bytes_total counter",
				`planet_traffic_bytes_total{direction="egress",local_domain="h1.consul",local_hostgroup="app",remote_domain="db.consul",remote_hostgroup="db",remote_ip="10.1.1.1"} 0`,
				`planet_traffic_bytes_total{direction="ingress",local_domain="h1.consul",local_hostgroup="app",remote_domain="db.consul",remote_hostgroup="db",remote_ip="10.1.1.1"} 1.26014316e+08`,
			},
		},
		{
			name: "no traffic without darkstat, no empty families",
			mod:  func(s *snapshot.Snapshot) {},
			not:  []string{"planet_traffic_bytes_total", "planet_upstream", "planet_server_process", "planet_scan_success"},
		},
		{
			name: "escaping and invalid UTF-8",
			mod: func(s *snapshot.Snapshot) {
				s.Connections = []snapshot.Connection{conn(func(c *snapshot.Connection) { c.Process = "a\\b\"c\nd\xff" })}
			},
			want: []string{`process_name="a\\b\"c\nd` + "\uFFFD" + `"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &snapshot.Snapshot{Schema: snapshot.Schema, ScannedAt: time.Unix(1, 0), Host: host}
			tc.mod(s)
			out := string(textfileFor(t, s))
			lines := strings.Split(out, "\n")
			for _, w := range tc.want {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, w) }) {
					t.Errorf("no line holds %s\nin:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("unexpected %s\nin:\n%s", n, out)
				}
			}
		})
	}
}

func TestTextfileRejectsInvalidSnapshot(t *testing.T) {
	bad := realistic()
	bad.Connections[0].RemoteIP = netip.Addr{}
	for name, s := range map[string]*snapshot.Snapshot{"nil": nil, "no remote IP": bad} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Textfile(&buf, s); err == nil {
				t.Fatal("no error")
			}
			if buf.Len() > 0 {
				t.Errorf("wrote %d bytes despite the error", buf.Len())
			}
			dir := t.TempDir()
			if err := WriteTextfileDir(dir, s); err == nil {
				t.Fatal("WriteTextfileDir: no error")
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("WriteTextfileDir left %v", entries)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTextfileWriteError(t *testing.T) {
	if err := Textfile(failingWriter{}, realistic()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

// proms lists the *.prom names in dir: what node_exporter would read.
func proms(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".prom") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestWriteTextfileDirAtomic pauses a write half way and looks at the
// directory as node_exporter would: only the old complete planet.prom is
// visible, and the temp file being written does not end in .prom.
func TestWriteTextfileDirAtomic(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTextfileDir(dir, minimal()); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, TextfileName))
	if err != nil {
		t.Fatal(err)
	}
	if want := textfileFor(t, minimal()); !bytes.Equal(old, want) {
		t.Fatalf("planet.prom holds\n%s\nwant\n%s", old, want)
	}
	if info, _ := os.Stat(filepath.Join(dir, TextfileName)); info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 so node_exporter's user can read it", info.Mode().Perm())
	}

	next := textfileFor(t, realistic())
	halfway, resume, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- writeTextfileDir(dir, func(w io.Writer) error {
			if _, err := w.Write(next[:len(next)/2]); err != nil {
				return err
			}
			close(halfway)
			<-resume
			_, err := w.Write(next[len(next)/2:])
			return err
		})
	}()
	<-halfway
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var temps []string
	for _, e := range entries {
		if e.Name() != TextfileName {
			temps = append(temps, e.Name())
		}
	}
	if len(temps) != 1 {
		t.Errorf("mid-write the directory holds %v besides planet.prom, want one temp file", temps)
	}
	if got := proms(t, dir); !slices.Equal(got, []string{TextfileName}) {
		t.Errorf("mid-write node_exporter would read %v, want only %s", got, TextfileName)
	}
	if cur, _ := os.ReadFile(filepath.Join(dir, TextfileName)); !bytes.Equal(cur, old) {
		t.Errorf("planet.prom changed before the write finished:\n%s", cur)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if cur, _ := os.ReadFile(filepath.Join(dir, TextfileName)); !bytes.Equal(cur, next) {
		t.Errorf("planet.prom not replaced:\n%s", cur)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp file left behind: %v", entries)
	}
}

// A write that fails half way leaves the previous file and no temp file.
func TestWriteTextfileDirFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTextfileDir(dir, realistic()); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(dir, TextfileName))
	err := writeTextfileDir(dir, func(w io.Writer) error {
		_, _ = w.Write([]byte("planet_upstream{"))
		return errors.New("interrupted")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if cur, _ := os.ReadFile(filepath.Join(dir, TextfileName)); !bytes.Equal(cur, old) {
		t.Errorf("planet.prom changed by a failed write")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed write left %v", entries)
	}
}

// Many rewrites while a reader polls like node_exporter: every read sees a
// whole file, and only planet.prom ever ends in .prom.
func TestWriteTextfileDirConcurrentReader(t *testing.T) {
	dir := t.TempDir()
	versions := [][]byte{textfileFor(t, realistic()), textfileFor(t, hostile())}
	if err := WriteTextfileDir(dir, realistic()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	problems := make(chan string, 100)
	go func() {
		defer close(problems)
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				problems <- err.Error()
				return
			}
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".prom") && e.Name() != TextfileName {
					problems <- "visible temp file " + e.Name()
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, TextfileName))
			if err != nil {
				problems <- err.Error()
			} else if !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]) {
				problems <- "partial file read"
			}
		}
	}()
	for i := range 40 {
		s := realistic()
		if i%2 == 0 {
			s = hostile()
		}
		if err := WriteTextfileDir(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for p := range problems {
		t.Error(p)
	}
}

// A record made from connection-tracking flows (a published port) has no
// socket on the host; its gauge counts the flows.
func TestTextfileCountsFlows(t *testing.T) {
	s := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Host: snapshot.Host{Hostname: "docker-1", Addresses: []netip.Addr{netip.MustParseAddr("10.1.0.5")}},
		Connections: []snapshot.Connection{
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8080, RemoteIP: netip.MustParseAddr("10.9.0.50"),
				Flows: 3, BackendIP: netip.MustParseAddr("172.17.0.2"), BackendPort: 80},
			{Direction: snapshot.Upstream, Protocol: "udp", Port: 8125, Process: "statsc", RemoteIP: netip.MustParseAddr("10.9.0.7"),
				Sockets: 1, Flows: 2},
		},
	}
	out := string(textfileFor(t, s))
	for _, want := range []string{
		`planet_downstream{local_address="10.1.0.5",local_hostgroup="",port="8080",process_name="",protocol="tcp",remote_address="10.9.0.50",remote_hostgroup=""} 3`,
		`planet_upstream{local_address="10.1.0.5",local_hostgroup="",port="8125",process_name="statsc",protocol="udp",remote_address="10.9.0.7",remote_hostgroup=""} 3`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("textfile lacks\n%s\n in:\n%s", want, out)
		}
	}
}
