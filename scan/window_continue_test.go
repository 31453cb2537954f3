package scan

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/snapshot"
)

// heldSubscription makes what systemd's planet.socket holds between runs:
// a sock_diag netlink socket bound to the TCP destroy groups.
func heldSubscription(t *testing.T) *os.File {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1<<(unix.SKNLGRP_INET_TCP_DESTROY-1) | 1<<(unix.SKNLGRP_INET6_TCP_DESTROY-1)}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "planet.socket")
	t.Cleanup(func() { f.Close() })
	return f
}

// runHeldWindow runs one window scan in a child process that is passed
// held the way systemd passes a socket unit's descriptor, keeping its
// hand-on state in dir. between runs in the window, once it has begun.
func runHeldWindow(t *testing.T, held *os.File, dir string, between func()) *snapshot.Snapshot {
	t.Helper()
	out, err := os.Create(t.TempDir() + "/snap.json")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+windowScanMode, "PLANET_WINDOW=2s", "PLANET_WINDOW_STATE="+dir,
		"PLANET_WINDOW_NETNS="+NamespacesOwn, "PLANET_TEST_LISTEN_PID=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{held}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() && sc.Text() != "window begun" {
		log.WriteString(sc.Text() + "\n")
	}
	between()
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("window scan: %v\n%s", err, log.String())
	}
	f, err := os.Open(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, err := snapshot.Read(f, out.Name())
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	return snap
}

// TestWindowContinues: two runs that read one destroy-event subscription
// held between them (systemd's planet.socket), the first handing its
// sockets on through the state directory, cover the time between them too:
// what a long-lived connection moves between the runs, a connection that
// begins and ends between them, and one the first run saw that ends
// between them all count in the second window, and nothing counts twice.
// The second window starts where the first ended.
func TestWindowContinues(t *testing.T) {
	if testing.Short() {
		t.Skip("two 2 s windows")
	}
	srv := newReqServer(t)
	held, dir := heldSubscription(t), t.TempDir()
	dial := func() (net.Conn, error) { return net.Dial("tcp4", srv.ln.Addr().String()) }
	var pre, ta tally
	long, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	ending, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	// Before any window: not counted.
	if err := pre.request(long, 50_000, 50_000); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	first := runHeldWindow(t, held, dir, func() {
		must(ta.request(long, 10_000, 1_000))
		must(ta.request(ending, 20_000, 2_000))
	})
	// Between the runs: no window is open.
	must(ta.request(long, 30_000, 3_000))
	must(ta.request(ending, 40_000, 4_000))
	must(ending.Close())
	must(ta.shortConnWith(dial, 50_000, 5_000, false))
	second := runHeldWindow(t, held, dir, func() {
		must(ta.request(long, 60_000, 6_000))
	})

	port := srv.port()
	a, b := sumWindow(t, first, snapshot.Upstream, port), sumWindow(t, second, snapshot.Upstream, port)
	t.Logf("first %+v %+v\nsecond %+v %+v", a, first.Window, b, second.Window)
	if !within1pct(a.sent+b.sent, ta.sent.Load()) || !within1pct(a.received+b.received, ta.received.Load()) {
		t.Errorf("the two windows: sent %d+%d received %d+%d, want %d and %d in all (1%%)", a.sent, b.sent, a.received, b.received, ta.sent.Load(), ta.received.Load())
	}
	if b.opened != 1 || b.closed != 2 || a.closed != 0 {
		t.Errorf("closed %d then %d, opened in the second %d: want 0, 2 (the first run's ending one, the one between) and 1", a.closed, b.closed, b.opened)
	}
	w1, w2 := first.Window, second.Window
	if w1.Continued || !w2.Continued {
		t.Errorf("continued: first %v second %v, want false then true", w1.Continued, w2.Continued)
	}
	if end := w1.Start.Add(time.Duration(w1.Seconds * float64(time.Second))); w2.Start.Sub(end).Abs() > 2*time.Millisecond {
		t.Errorf("second window starts %v, want where the first ended (%v)", w2.Start, end)
	}
}
