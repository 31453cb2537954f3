package scan

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// windowScanMode is helperEnv's value for a child that scans with a window
// (PLANET_WINDOW) in the namespace it was started in and writes the
// snapshot to stdout; it says "window begun" on stderr once it has begun,
// and with PLANET_TEST_TOOK set, "took NETNS LOCAL REMOTE PROCESS" for each
// socket the window counts (windowTook). SIGINT ends the window early
// (cut short).
const windowScanMode = "window-scan"

func windowScan() {
	d, err := time.ParseDuration(os.Getenv("PLANET_WINDOW"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error", err)
		os.Exit(1)
	}
	windowBegun = func() { fmt.Fprintln(os.Stderr, "window begun") }
	if os.Getenv("PLANET_TEST_TOOK") != "" {
		windowTook = func(netns uint64, local, remote netip.AddrPort, process string) {
			fmt.Fprintf(os.Stderr, "took %d %s %s %s\n", netns, local, remote, process)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if os.Getenv("PLANET_TEST_LISTEN_PID") != "" {
		// What systemd sets to the PID it starts: unknown to the parent.
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	snap, err := Run(ctx, Options{Window: d, WindowPoll: time.Second,
		WindowStateDir: os.Getenv("PLANET_WINDOW_STATE"), Namespaces: cmp.Or(os.Getenv("PLANET_WINDOW_NETNS"), NamespacesAuto)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error", err)
		os.Exit(1)
	}
	if err := snapshot.Write(os.Stdout, snap); err != nil {
		fmt.Fprintln(os.Stderr, "error", err)
		os.Exit(1)
	}
}

// TestWindowTwoHosts is the scripted host with its two ends on
// different hosts (network namespaces joined by a veth pair), each scanned
// with its own 6 s window: a client making one short connection a second,
// one connecting every two seconds and closing with a reset, a bulk
// transfer over 50 short connections and a pool of two long-lived
// connections. The server's snapshot has every one downstream, the client's
// every one upstream but the reset ones (whose counters the kernel clears
// on the resetting side), with bytes within 1% both ways; the pool, which
// lived through the dumps, has the client's process. Needs root.
func TestWindowTwoHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("6 s of traffic between two namespaces")
	}
	lab := testnet.New(t)
	client, server := lab.Host("client"), lab.Host("server")
	_, ps := lab.Link(client, server)
	srvAddr := netip.AddrPortFrom(ps.IPv4.Addr(), 0)
	ln, err := server.Listen("tcp4", srvAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	srv := serveReqs(t, ln)
	target := netip.AddrPortFrom(ps.IPv4.Addr(), srv.port()).String()
	dial := func() (net.Conn, error) { return client.DialContext(context.Background(), "tcp4", target) }

	var pool []net.Conn
	for range 2 {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pool = append(pool, c)
	}

	// A window scan in each namespace.
	scans := map[string]*os.File{}
	procs := map[string]*testnet.Proc{}
	var begun sync.WaitGroup
	for _, h := range []*testnet.Host{client, server} {
		out, err := os.Create(t.TempDir() + "/snap.json")
		if err != nil {
			t.Fatal(err)
		}
		cmd := h.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+windowScanMode, "PLANET_WINDOW=6s")
		cmd.Stdout = out
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := h.Start(cmd)
		scans[h.Label] = out
		begun.Add(1)
		go func() {
			defer begun.Done()
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if sc.Text() == "window begun" {
					go func() {
						for sc.Scan() {
							t.Logf("%s scan: %s", h.Label, sc.Text())
						}
					}()
					return
				}
				t.Logf("%s scan: %s", h.Label, sc.Text())
			}
		}()
		procs[h.Label] = p
	}
	begun.Wait()

	var tp, tr, tb, tpool tally
	var wg sync.WaitGroup
	errs := make(chan error, 200)
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
	// Every shape on its own server port would need four listeners; one
	// port and four tallies are told apart by sizes instead: the checks
	// below add them up.
	every(5, time.Second, func() error { return tp.shortConnWith(dial, 1000, 500, false) })
	every(3, 2*time.Second, func() error { return tr.shortConnWith(dial, 3000, 2000, true) })
	for range 5 {
		every(10, 0, func() error { return tb.shortConnWith(dial, 20_000, 1000, false) })
	}
	for _, c := range pool {
		every(2, 2*time.Second, func() error { return tpool.request(c, 10_000, 5_000) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Log("load done; waiting for the windows to end")
	read := func(label string) *snapshot.Snapshot {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			done, err := procs[label].Exited()
			if done && err != nil {
				t.Fatalf("%s scan: %v", label, err)
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s scan did not end", label)
			}
		}
		f, err := os.Open(scans[label].Name())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s, err := snapshot.Read(f, label)
		if err != nil {
			t.Fatalf("%s snapshot: %v", label, err)
		}
		return s
	}
	cs, ss := read("client"), read("server")
	port := srv.port()
	sent := tp.sent.Load() + tr.sent.Load() + tb.sent.Load() + tpool.sent.Load()
	recv := tp.received.Load() + tr.received.Load() + tb.received.Load() + tpool.received.Load()

	down := sumWindow(t, ss, snapshot.Downstream, port)
	t.Logf("server: downstream %+v; window %+v", down, ss.Window)
	if !within1pct(down.received, sent) || !within1pct(down.sent, recv) {
		t.Errorf("server downstream: received %d sent %d, want %d and %d (1%%)", down.received, down.sent, sent, recv)
	}
	if want := 5 + 3 + 50; down.opened != want || down.closed != want {
		t.Errorf("server downstream: opened %d closed %d, want %d", down.opened, down.closed, want)
	}
	me := selfComm(t)
	if len(down.processes) != 1 || !down.processes[me] {
		t.Errorf("server downstream processes %v, want the listener's %q", down.processes, me)
	}

	up := sumWindow(t, cs, snapshot.Upstream, port)
	t.Logf("client: upstream %+v; window %+v", up, cs.Window)
	// The reset connections' client sockets lose their counters unless a
	// dump saw them alive.
	noReset, noResetRecv := sent-tr.sent.Load(), recv-tr.received.Load()
	if up.sent < uint64(noReset)*99/100 || up.sent > uint64(sent)*101/100 || up.received < uint64(noResetRecv)*99/100 || up.received > uint64(recv)*101/100 {
		t.Errorf("client upstream: sent %d received %d, want %d-%d and %d-%d", up.sent, up.received, noReset, sent, noResetRecv, recv)
	}
	if up.opened+cs.Window.ResetUnknown < 58 || up.opened > 58 {
		t.Errorf("client upstream: %d opened + %d reset_unknown, want 58", up.opened, cs.Window.ResetUnknown)
	}
	var pooled bool
	for _, c := range cs.Connections {
		if c.Direction == snapshot.Upstream && c.Port == port && c.Process == me && c.States["ESTABLISHED"] == 2 && c.Window != nil && c.Window.BytesSent >= 40_000 {
			pooled = true
		}
	}
	if !pooled {
		// The record may hold the TIME_WAIT sockets of the other clients
		// too: Classify gives a closing socket the one process with live
		// sockets to the same server endpoint.
		t.Errorf("client: no upstream record of the pool's 2 established sockets held by %q with its 40,000 bytes in the window", me)
	}
}
