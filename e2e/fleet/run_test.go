//go:build e2e

package fleet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/scan/darkstat"
	"github.com/planetdeps/planet/snapshot"
)

// fleet is the lab plus what the test needs to drive it.
type fleet struct {
	t       *testing.T
	lab     *testnet.Lab
	hosts   map[string]*testnet.Host
	ports   map[string]testnet.Port
	self    string // this test binary, re-executed as the fleet's programs
	planet  string // the planet binary under test
	config  string // an empty planet config, so no machine config is read
	invURL  string
	darkURL string
	darkPID int // darkstat's, in db
}

func (f *fleet) ip4(host string) string { return f.ports[host].IPv4.Addr().String() }

// addr is host's IPv4 address with port, as a dial target.
func (f *fleet) addr(host string, port int) string {
	return netip.AddrPortFrom(f.ports[host].IPv4.Addr(), uint16(port)).String()
}

// service starts one of the fleet's programs in host and waits until it
// says it is ready (listening, and every dial has sent and received its
// bytes). It is stopped by PID when the test ends, or earlier by Stop.
func (f *fleet) service(host, comm string, greet int, listen []string, dials ...dial) *testnet.Proc {
	f.t.Helper()
	args := []string{"-comm", comm, "-greet", strconv.Itoa(greet)}
	for _, a := range listen {
		args = append(args, "-listen", a)
	}
	for _, d := range dials {
		args = append(args, "-dial", d.String())
	}
	h := f.hosts[host]
	return startService(f.t, h, h.Command(f.self, args...), fmt.Sprintf("%s %q in %s", comm, args, host))
}

// startService starts cmd, this test binary run as a service (runService),
// with h.Start, and waits for its "ready". what names it in errors, with
// what it wrote on stderr.
func startService(t *testing.T, h *testnet.Host, cmd *exec.Cmd, what string) *testnet.Proc {
	t.Helper()
	cmd.Env = append(cleanEnv(), helperEnv+"="+modeService)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a buffer: exec then copies nothing in a goroutine, and
	// the test reads it when the service fails or the test does.
	stderr, err := os.CreateTemp(t.TempDir(), "service.stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	errOut := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }
	t.Cleanup(func() {
		if t.Failed() {
			if out := errOut(); out != "" {
				t.Logf("stderr of %s:\n%s", what, out)
			}
		}
	})
	p := h.Start(cmd)
	stderr.Close()
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			p.Stop()
			t.Fatalf("%s did not start: %s", what, errOut())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30s: %s", what, errOut())
	}
	return p
}

// scan runs `planet scan` in host, as ansible would on that machine, with
// the host's name as its hostname, and writes DIR/HOST/snapshot.json.
func (f *fleet) scan(dir, host string, extra ...string) *snapshot.Snapshot {
	f.t.Helper()
	out := filepath.Join(dir, host, "snapshot.json")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		f.t.Fatal(err)
	}
	// The fleet's hosts are namespaces of the test's PID namespace, whose
	// PID 1 is in another: by default (--netns auto) each scans its own.
	args := append([]string{host, f.planet, "scan", "--config", f.config,
		"--inventory", f.invURL, "--timeout", "5s", "-o", out,
		"--state-dir", filepath.Join(filepath.Dir(dir), ".state", host)}, extra...)
	cmd := f.hosts[host].Command(f.self, args...)
	cmd.Env = append(cleanEnv(), helperEnv+"="+modeAsHost)
	if b, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("planet scan in %s: %v\n%s", host, err, b)
	}
	s, err := snapshot.Read(mustOpen(f.t, out), out)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// merge runs `planet merge DIR -o DIR/graph.json` and reads the graph.
func (f *fleet) merge(dir string) (*graph.Graph, string) {
	f.t.Helper()
	out := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".graph.json")
	f.run("merge", dir, "-o", out)
	b, err := os.ReadFile(out)
	if err != nil {
		f.t.Fatal(err)
	}
	g, err := graph.Parse(b, out)
	if err != nil {
		f.t.Fatal(err)
	}
	return g, out
}

// run runs planet in the test's own namespace (merge and render touch no
// network) and returns its standard output.
func (f *fleet) run(args ...string) []byte {
	f.t.Helper()
	b, err := f.runErr(args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fleet) runErr(args ...string) ([]byte, error) {
	cmd := exec.Command(f.planet, append([]string{"--config", f.config}, args...)...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("planet %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// cleanEnv is the environment without PLANET_* settings (the test's own
// PLANET_TEST_STRICT included): planet must run with its defaults.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLANET_") {
			env = append(env, kv)
		}
	}
	return env
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}

// buildPlanet builds planet and, when its package exists, planet-svg next
// to it (render finds planet-svg beside the planet binary).
func buildPlanet(t *testing.T, dir string) string {
	t.Helper()
	gobin := testenv.NeedCommand(t, "go", "golang-go")
	pkgs := []string{"planet"}
	if m, _ := filepath.Glob("../../cmd/planet-svg/*.go"); len(m) > 0 {
		pkgs = append(pkgs, "planet-svg")
	}
	for _, p := range pkgs {
		cmd := exec.Command(gobin, "build", "-o", filepath.Join(dir, p), "github.com/planetdeps/planet/cmd/"+p)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, b)
		}
	}
	return filepath.Join(dir, "planet")
}

// serveInventory serves the inventory from control, the unscanned control
// node. The server closes each connection first (no Content-Length: the
// body runs to the close), so the TIME_WAIT of each fetch stays on control
// and no earlier scan's fetch lingers in a scanned host. What remains is
// planet's side of the fetch during its own scan; checkOwnSockets says it
// must not be reported.
func (f *fleet) serveInventory(body []byte) {
	f.t.Helper()
	ln, err := f.hosts["control"].Listen("tcp", f.addr("control", 80))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n%s", body)
			}()
		}
	}()
	f.invURL = "http://" + f.addr("control", 80) + "/inventory.json"
}

// inventory maps both addresses of every scanned host to its hostgroup and
// domain, and the range of cache's docker bridge to "containers". outside
// and control are not in it.
func (f *fleet) inventory() []byte {
	type entry struct {
		IP        string `json:"ip_address"`
		Domain    string `json:"domain"`
		Hostgroup string `json:"hostgroup"`
	}
	var entries []entry
	for _, h := range scanned {
		p := f.ports[h.name]
		for _, a := range []netip.Addr{p.IPv4.Addr(), p.IPv6.Addr()} {
			entries = append(entries, entry{a.String(), h.name + ".service.consul", h.hostgroup})
		}
	}
	entries = append(entries, entry{containers.String(), "", "containers"})
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// startDarkstat runs darkstat in db on db's interface, its web interface on
// db's loopback. Readiness is read from /proc/PID/net/tcp (the listener on
// 127.0.0.1:667 in darkstat's namespace) rather than by connecting: a probe
// connection would be a socket in db that planet rightly reports.
func (f *fleet) startDarkstat(bin string) {
	f.t.Helper()
	db := f.hosts["db"]
	// Only the fleet's traffic: the control node's answers to db's
	// inventory fetches arrive while darkstat runs, and how many of them it
	// has counted when planet reads it depends on timing.
	c := f.ports["control"]
	filter := fmt.Sprintf("not host %s and not host %s", c.IPv4.Addr(), c.IPv6.Addr())
	p := db.Start(db.Command(bin, "--no-daemon", "--no-dns", "-i", f.ports["db"].Dev,
		"-b", "127.0.0.1", "-p", "667", "-f", filter))
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", p.Cmd.Process.Pid))
		if listening(b, "0100007F:029B") {
			break
		}
		if exited, err := p.Exited(); exited || time.Now().After(deadline) {
			f.t.Fatalf("darkstat did not listen on 127.0.0.1:667 (exited %v: %v):\n%s", exited, err, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.darkURL, f.darkPID = "http://127.0.0.1:667/", p.Cmd.Process.Pid
}

// waitCounted polls db's darkstat, through db's loopback as planet reads
// it, until it has counted each pair of want at least at the low end of
// trafficTolerance: darkstat takes captured packets from its buffer every
// 500 ms. darkstat's host table is per address; want is per hostgroup.
// Each read ends with a reset (SO_LINGER 0), so that neither end of it is
// left in db for planet to find, and waitCounted returns once none is.
func (f *fleet) waitCounted(want []wantTraffic) {
	f.t.Helper()
	group := map[netip.Addr]string{}
	for _, h := range scanned {
		p := f.ports[h.name]
		group[p.IPv4.Addr()], group[p.IPv6.Addr()] = h.hostgroup, h.hostgroup
	}
	db := f.ports["db"]
	isLocal := func(ip netip.Addr) bool { return ip == db.IPv4.Addr() || ip == db.IPv6.Addr() }
	var probes []string // the reads' client ports, hex as /proc/net/tcp has them
	client := f.hosts["db"].HTTPClient()
	client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := f.hosts["db"].DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			probes = append(probes, fmt.Sprintf("%04X", tc.LocalAddr().(*net.TCPAddr).Port))
			err = tc.SetLinger(0)
		}
		return c, err
	}
	opts := fetch.Options{Client: client, Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := darkstat.Read(context.Background(), f.darkURL, opts)
		if err != nil {
			f.t.Fatalf("read darkstat in db: %v", err)
		}
		from, to := map[string]uint64{}, map[string]uint64{} // bytes db received from, sent to a hostgroup
		for _, p := range res.Peers(isLocal) {
			from[group[p.RemoteIP]] += p.IngressBytes
			to[group[p.RemoteIP]] += p.EgressBytes
		}
		var short []string
		for _, w := range want {
			var got uint64
			switch {
			case w.To == "db":
				got = from[w.From]
			case w.From == "db":
				got = to[w.To]
			default:
				f.t.Fatalf("traffic %s -> %s: darkstat runs in db only", w.From, w.To)
			}
			if lo, _ := trafficTolerance(w.Payload); got < lo {
				short = append(short, fmt.Sprintf("%s -> %s %d of %d bytes", w.From, w.To, got, lo))
			}
		}
		if len(short) == 0 {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("darkstat has not counted the traffic after 20 s: %s", strings.Join(short, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
	table := fmt.Sprintf("/proc/%d/net/tcp", f.darkPID)
	for {
		b, err := os.ReadFile(table)
		if err != nil {
			f.t.Fatal(err)
		}
		n := connections(b, "029B", probes)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d sockets of the reads of darkstat (client ports %v) left in db after 20 s:\n%s", n, probes, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connections counts the sockets of a /proc/net/tcp table between port
// and one of clients, at either end (ports in hex, as the kernel prints
// them).
func connections(table []byte, port string, clients []string) int {
	var n int
	for line := range strings.Lines(string(table)) {
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		_, local, _ := strings.Cut(fields[1], ":")
		_, remote, _ := strings.Cut(fields[2], ":")
		if local == port && slices.Contains(clients, remote) || remote == port && slices.Contains(clients, local) {
			n++
		}
	}
	return n
}

// listening reports whether a /proc/net/tcp table has local address local
// (hex, as the kernel prints it) in state LISTEN (0A).
func listening(table []byte, local string) bool {
	for line := range strings.Lines(string(table)) {
		fields := strings.Fields(line)
		if len(fields) > 3 && fields[1] == local && fields[3] == "0A" {
			return true
		}
	}
	return false
}

// checkEdges compares the graph's edges with want, exactly.
func checkEdges(t *testing.T, g *graph.Graph, want []wantEdge) {
	t.Helper()
	got := make(map[string]*graph.Edge)
	for _, e := range g.Edges {
		got[e.String()] = e
	}
	for _, w := range want {
		key := w.From + " -> " + w.To + " tcp/" + strconv.Itoa(int(w.Port))
		e, ok := got[key]
		if !ok {
			t.Errorf("missing edge %s", key)
			continue
		}
		delete(got, key)
		check := func(what string, got, want any) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s = %v, want %v", key, what, got, want)
			}
		}
		check("seen_from", e.SeenFrom, w.SeenFrom)
		check("client_processes", e.Names().ClientProcesses, w.Client)
		check("server_processes", e.Names().ServerProcesses, w.Server)
		check("client_hosts", e.ClientHosts, w.ClientHosts)
		check("server_hosts", e.ServerHosts, w.Servers)
		check("sockets", e.Sockets, w.Sockets)
		// tcpi_bytes_acked / tcpi_bytes_received count payload bytes, and
		// every payload was sent and read before the scan: exact, but see
		// the SYN below.
		// One byte per connection more to the server: on the connecting
		// end tcpi_bytes_acked also counts the SYN, which takes one
		// sequence number (the accepting end's count starts after it).
		check("port_bytes_to_server", e.Bytes().PortBytesToServer, w.ToServer+uint64(w.Sockets))
		check("port_bytes_to_client", e.Bytes().PortBytesToClient, w.ToClient)
	}
	for key, e := range got {
		t.Errorf("unexpected edge %s: %+v", key, *e)
	}
}

func checkNodes(t *testing.T, g *graph.Graph, want []wantNode) {
	t.Helper()
	var got, exp []string
	for _, n := range g.Nodes {
		got = append(got, fmt.Sprintf("%s %s %d %v", n.ID, n.Kind, n.HostCount, n.Hosts))
	}
	for _, n := range want {
		exp = append(exp, fmt.Sprintf("%s %s %d %v", n.ID, n.Kind, n.HostCount, n.Hosts))
	}
	if !slices.Equal(got, exp) {
		t.Errorf("nodes (id kind host_count hosts):\n got %q\nwant %q", got, exp)
	}
}

// trafficTolerance: darkstat counts whole IP packets, so at least the
// payload; above it IP and TCP headers (under 5% at 8 KiB writes) and the
// ACKs answering the other direction, the handshakes and IPv6 neighbour
// discovery: 10% of the payload plus a fixed 128 KiB.
func trafficTolerance(payload uint64) (lo, hi uint64) {
	return payload, payload + payload/10 + 128<<10
}

func trafficOf(g *graph.Graph, from, to string) *graph.Traffic {
	for _, tr := range g.Traffic {
		if tr.From == from && tr.To == to {
			return tr
		}
	}
	return nil
}
