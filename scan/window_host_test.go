package scan

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/scan/procfs"
	"github.com/planetdeps/planet/snapshot"
)

// windowClientMode is helperEnv's value for the client workload of
// TestWindowScriptedHost: a child process in the client's network
// namespace and cgroup that makes the four shapes of traffic.
const windowClientMode = "window-client"

func init() { plainHelpers[windowClientMode] = windowClient }

// The four shapes, by name; PLANET_WC_<NAME> is each one's server address.
var windowShapes = []string{"periodic", "reset", "bulk", "pool"}

// Sizes of what the client workload sends (up) and asks back (down).
const (
	wcPoolConns             = 3
	wcBulkConns, wcBulkPar  = 100, 5
	wcBulkUp, wcBulkDown    = 40_000, 200_000
	wcResetEvery            = 30 * time.Second
	wcPoolEvery             = 5 * time.Second
	wcPeriodicUp, wcPeriodD = 1000, 500
	wcResetUp, wcResetDown  = 3000, 2000
	wcPoolUp, wcPoolDown    = 10_000, 5_000
)

// wcTally is what the client workload reports of one shape.
type wcTally struct{ Sent, Received, Conns int64 }

// windowClient is the client workload. Told "start" on stdin (once it is in
// its cgroup: a socket belongs to the cgroup its creator was in), it opens
// the pool and uses it once, so that the pool has a history before the
// window, and says "pooled"; told "go", it makes PLANET_WC_SECONDS of
// traffic and prints each shape's tally as JSON; it keeps the pool open
// until stdin ends.
func windowClient() int {
	in := bufio.NewScanner(os.Stdin)
	fail := func(err error) int { fmt.Println("error", err); return 1 }
	if !in.Scan() || in.Text() != "start" {
		return fail(fmt.Errorf("want start, got %q", in.Text()))
	}
	secs, err := strconv.Atoi(os.Getenv("PLANET_WC_SECONDS"))
	if err != nil {
		return fail(err)
	}
	dial := func(shape string) func() (net.Conn, error) {
		addr := os.Getenv("PLANET_WC_" + strings.ToUpper(shape))
		return func() (net.Conn, error) { return net.Dial("tcp4", addr) }
	}
	var before tally
	var pool []net.Conn
	for range wcPoolConns {
		c, err := dial("pool")()
		if err != nil {
			return fail(err)
		}
		if err := before.request(c, 50_000, 50_000); err != nil {
			return fail(err)
		}
		pool = append(pool, c)
	}
	fmt.Println("pooled")
	if !in.Scan() || in.Text() != "go" {
		return fail(fmt.Errorf("want go, got %q", in.Text()))
	}
	tallies := map[string]*tally{}
	for _, s := range windowShapes {
		tallies[s] = &tally{}
	}
	d := time.Duration(secs) * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	every := func(n int, gap time.Duration, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if i > 0 {
					time.Sleep(gap)
				}
				if err := f(); err != nil {
					errs <- err
				}
			}
		}()
	}
	every(secs, time.Second, func() error {
		return tallies["periodic"].shortConnWith(dial("periodic"), wcPeriodicUp, wcPeriodD, false)
	})
	every(int(d/wcResetEvery)+1, wcResetEvery, func() error {
		return tallies["reset"].shortConnWith(dial("reset"), wcResetUp, wcResetDown, true)
	})
	for range wcBulkPar {
		every(wcBulkConns/wcBulkPar, 0, func() error {
			return tallies["bulk"].shortConnWith(dial("bulk"), wcBulkUp, wcBulkDown, false)
		})
	}
	for _, c := range pool {
		every(int(d/wcPoolEvery), wcPoolEvery, func() error { return tallies["pool"].request(c, wcPoolUp, wcPoolDown) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return fail(err)
	}
	out := map[string]wcTally{}
	for s, ta := range tallies {
		out[s] = wcTally{ta.sent.Load(), ta.received.Load(), ta.conns.Load()}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	for in.Scan() {
	}
	for _, c := range pool {
		c.Close()
	}
	return 0
}

// TestWindowScriptedHost is the "done when", on one host scanned
// whole: a client workload in its own network namespace and its own cgroup
// (a systemd-unit-shaped one, planet-client.service), joined by a veth pair
// to a server namespace, makes a short connection a second, a connection
// every 30 s closed with a reset (SO_LINGER 0), a bulk transfer of a known
// size over 100 short connections, and uses a pool of 3 long-lived
// connections opened (and used) before the window. The window, watching
// every namespace, must show each shape from both ends: downstream in the
// server's namespace, upstream in the client's, with the client's workload,
// the pool with its process (it lived through the dumps), and bytes within
// 1% of what the client sent and received, both ways; the reset
// connections' client ends get their port and bytes from their server ends.
//
// The issue asks for a 60 s window; to keep the test under a minute it is
// 40 s with 36 s of traffic: every shape is kept, and the reset shape still
// resets twice, 30 s apart. Needs root (namespaces, cgroups).
func TestWindowScriptedHost(t *testing.T) {
	if testing.Short() {
		t.Skip("40 s window")
	}
	const window, traffic = 40 * time.Second, 36
	lab := testnet.New(t)
	client, server := lab.Host("client"), lab.Host("server")
	_, ps := lab.Link(client, server)
	// Namespaces are found through their processes: one to hold the
	// server's.
	serverNS := netnsOf(t, anchorIn(t, server))

	ports := map[string]uint16{}
	env := []string{helperEnv + "=" + windowClientMode, "PLANET_WC_SECONDS=" + strconv.Itoa(traffic)}
	for _, s := range windowShapes {
		ln, err := server.Listen("tcp4", netip.AddrPortFrom(ps.IPv4.Addr(), 0).String())
		if err != nil {
			t.Fatal(err)
		}
		srv := serveReqs(t, ln)
		ports[s] = srv.port()
		env = append(env, "PLANET_WC_"+strings.ToUpper(s)+"="+netip.AddrPortFrom(ps.IPv4.Addr(), srv.port()).String())
	}

	root := cgroup2Root()
	if root == "" {
		testenv.Unavailable(t, "cgroup2 is not mounted")
	}
	base := filepath.Join(root, "planet-window-"+strconv.Itoa(os.Getpid()))
	unit := filepath.Join(base, "planet-client.service")
	if err := os.MkdirAll(unit, 0o755); err != nil {
		testenv.Unavailable(t, "cannot create a cgroup: %v", err)
	}
	t.Cleanup(func() { testenv.RemoveCgroups(t, base) }) // after the client stops

	cmd := client.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	proc := client.Start(cmd)
	if err := os.WriteFile(filepath.Join(unit, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move the client into %s: %v", unit, err)
	}
	out := bufio.NewScanner(stdout)
	fmt.Fprintln(stdin, "start")
	if !out.Scan() || out.Text() != "pooled" {
		t.Fatalf("client: %q", out.Text())
	}
	// Other tests on this machine may use the same addresses in their own
	// namespaces: the two ends are told by their namespaces' inodes, read
	// once each process is known to be inside.
	clientNS := netnsOf(t, cmd.Process.Pid)

	wait := awaitWindow(t)
	done := make(chan *snapshot.Snapshot, 1)
	go func() {
		s, err := Run(context.Background(), Options{Window: window, Namespaces: NamespacesAll})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	wait()
	fmt.Fprintln(stdin, "go")
	if !out.Scan() {
		t.Fatalf("client ended without its tallies: %v", out.Err())
	}
	var sent map[string]wcTally
	if err := json.Unmarshal(out.Bytes(), &sent); err != nil {
		t.Fatalf("client: %q: %v", out.Text(), err)
	}
	t.Logf("client sent %+v", sent)
	snap := <-done
	stdin.Close()
	proc.Stop()
	if snap == nil {
		t.FailNow()
	}
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}

	t.Logf("window %+v", snap.Window)
	const wl = "planet-client.service"
	me := selfComm(t)
	for _, shape := range windowShapes {
		want := sent[shape]
		down := sumNS(snap, snapshot.Downstream, ports[shape], serverNS)
		up := sumNS(snap, snapshot.Upstream, ports[shape], clientNS)
		t.Logf("%s: %+v; server %+v; client %+v", shape, want, down, up)
		if !within1pct(down.received, want.Sent) || !within1pct(down.sent, want.Received) {
			t.Errorf("%s, server's end: received %d sent %d, want %d and %d (1%%)", shape, down.received, down.sent, want.Sent, want.Received)
		}
		if !within1pct(up.sent, want.Sent) || !within1pct(up.received, want.Received) {
			t.Errorf("%s, client's end: sent %d received %d, want %d and %d (1%%)", shape, up.sent, up.received, want.Sent, want.Received)
		}
		opened := int(want.Conns)
		if shape == "pool" {
			opened = 0 // opened before the window, alive after
		}
		for _, s := range []windowSum{down, up} {
			if s.opened != opened || s.closed != opened {
				t.Errorf("%s: opened %d closed %d, want %d", shape, s.opened, s.closed, opened)
			}
		}
		if len(up.workloads) != 1 || !up.workloads[wl] {
			t.Errorf("%s, client's end: workloads %v, want only %q", shape, up.workloads, wl)
		}
		if !down.processes[me] {
			t.Errorf("%s, server's end: processes %v, want the listener's %q", shape, down.processes, me)
		}
		if shape == "pool" && (len(up.processes) != 1 || !up.processes[me]) {
			t.Errorf("pool, client's end: processes %v, want the client's %q", up.processes, me)
		}
	}
	if w := snap.Window; w.ResetPaired < int(sent["reset"].Conns) || w.Namespaces < 3 {
		t.Errorf("window %+v: want the %d reset client ends paired with their server ends, and at least 3 namespaces heard", w, sent["reset"].Conns)
	}
}

// sumNS is sumWindow for one network namespace, with the workloads.
func sumNS(snap *snapshot.Snapshot, dir snapshot.Direction, port uint16, netns uint64) windowSum {
	s := windowSum{processes: map[string]bool{}, workloads: map[string]bool{}}
	for _, c := range snap.Connections {
		if c.Direction != dir || c.Port != port || c.Protocol != "tcp" || c.Netns != netns || c.Window == nil {
			continue
		}
		s.sent += c.Window.BytesSent
		s.received += c.Window.BytesReceived
		s.opened += c.Window.Opened
		s.closed += c.Window.Closed
		s.processes[c.Process] = true
		s.workloads[c.Workload] = true
	}
	return s
}

// anchorIn starts a process in h's network namespace, so that scans find
// the namespace, and returns its PID once it is inside: ip netns exec
// enters the namespace, then execs the shell, which then speaks.
func anchorIn(t *testing.T, h *testnet.Host) int {
	t.Helper()
	cmd := h.Command("sh", "-c", "echo in; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := h.Start(cmd)
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "in\n" {
		t.Fatalf("anchor process in %s: %q, %v", h.Label, line, err)
	}
	return p.Cmd.Process.Pid
}

// netnsOf is the inode of pid's network namespace.
func netnsOf(t *testing.T, pid int) uint64 {
	t.Helper()
	n, err := procfs.FS{Root: "/proc"}.NetNSOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
