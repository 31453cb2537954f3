package scan

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/snapshot"
)

// awaitWindow arranges for the next window to report its start, and
// returns a function that waits for it.
func awaitWindow(t *testing.T) func() {
	begun := make(chan struct{})
	windowBegun = func() { close(begun) }
	t.Cleanup(func() { windowBegun = nil })
	return func() {
		select {
		case <-begun:
		case <-time.After(30 * time.Second):
			t.Fatal("the window did not begin")
		}
	}
}

// awaitBegun reads a window scan child's stderr until it says "window
// begun", logging the lines before it, and reports whether it did; kill
// ends the child if that takes over a minute (the read then ends too).
func awaitBegun(t *testing.T, sc *bufio.Scanner, kill func()) bool {
	t.Helper()
	timer := time.AfterFunc(time.Minute, kill)
	defer timer.Stop()
	for sc.Scan() {
		if sc.Text() == "window begun" {
			return true
		}
		t.Logf("scan: %s", sc.Text())
	}
	return false
}

// sweepCounter counts the window's full intermediate dumps (windowSwept).
type sweepCounter struct {
	t *testing.T
	n atomic.Int64
}

func countSweeps(t *testing.T) *sweepCounter {
	c := &sweepCounter{t: t}
	windowSwept = func() { c.n.Add(1) }
	t.Cleanup(func() { windowSwept = nil })
	return c
}

// await returns once n more dumps have completed since it was called.
func (c *sweepCounter) await(n int64) {
	c.t.Helper()
	want := c.n.Load() + n
	for deadline := time.Now().Add(30 * time.Second); c.n.Load() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("the window completed %d of %d dumps in 30 s", c.n.Load()-want+n, n)
		}
	}
}

// windowSum adds up the window figures of every record of one dependency
// (direction and port; any process).
type windowSum struct {
	sent, received        uint64
	opened, closed, alive int
	processes, workloads  map[string]bool
}

func sumWindow(t *testing.T, snap *snapshot.Snapshot, dir snapshot.Direction, port uint16) windowSum {
	t.Helper()
	s := windowSum{processes: map[string]bool{}}
	for _, c := range snap.Connections {
		if c.Direction != dir || c.Port != port || c.Protocol != "tcp" {
			continue
		}
		s.alive += c.Sockets
		if c.Window == nil {
			continue // TIME_WAIT sockets of connections counted elsewhere
		}
		s.sent += c.Window.BytesSent
		s.received += c.Window.BytesReceived
		s.opened += c.Window.Opened
		s.closed += c.Window.Closed
		s.processes[c.Process] = true
	}
	return s
}

// within1pct: got is want to 1%.
func within1pct(got uint64, want int64) bool {
	d := int64(got) - want
	return d*100 <= want && -d*100 <= want
}

// TestWindowLive runs a real window over loopback traffic of four shapes
// (the scripted host, with 60 s shortened to 8 s): a client making
// one short connection a second; one connecting every two seconds and
// closing with a reset; a bulk transfer of a known size over 200 short
// connections; and a pool of three long-lived connections, busy before the
// window and lightly used in it. Every one is in the snapshot, from both
// ends (client and server live on this host), with bytes within 1% of what
// was sent each way, the pool counted for the window only. No root needed.
func TestWindowLive(t *testing.T) {
	if testing.Short() {
		t.Skip("8 s of loopback traffic")
	}
	periodic, resets, bulk, pool := newReqServer(t), newReqServer(t), newReqServer(t), newReqServer(t)
	var tp, tr, tb, tpool tally

	var poolConns []net.Conn
	var before tally
	for range 3 {
		c, err := net.Dial("tcp4", pool.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := before.request(c, 1<<20, 100<<10); err != nil { // not the window's
			t.Fatal(err)
		}
		poolConns = append(poolConns, c)
	}

	const window = 8 * time.Second
	type result struct {
		snap *snapshot.Snapshot
		err  error
	}
	done := make(chan result, 1)
	wait := awaitWindow(t)
	go func() {
		s, err := Run(context.Background(), Options{Window: window, WindowPoll: time.Second})
		done <- result{s, err}
	}()
	wait()
	loadStart := time.Now()

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
	every(5, time.Second, func() error { return tp.shortConn(periodic.port(), 1000, 500, false) })
	every(3, 2*time.Second, func() error { return tr.shortConn(resets.port(), 3000, 2000, true) })
	for range 8 {
		every(25, 0, func() error { return tb.shortConn(bulk.port(), 50_000, 1000, false) })
	}
	for _, c := range poolConns {
		every(2, 2*time.Second, func() error { return tpool.request(c, 10_000, 5_000) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := time.Since(loadStart); d > window-time.Second {
		t.Fatalf("load took %v, too close to the window's end", d)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	snap := res.snap
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}
	w := snap.Window
	if w == nil || w.Method != snapshot.WindowEvents || w.CutShort || w.Seconds < window.Seconds() || w.Seconds > window.Seconds()+1 {
		t.Fatalf("window %+v, want %v of destroy events, not cut short", w, window)
	}
	if w.Start.After(loadStart) {
		t.Fatalf("window started %v, after the load (%v)", w.Start, loadStart)
	}
	me := selfComm(t)
	check := func(name string, port uint16, ta *tally, conns int, upstreamBytes bool) {
		t.Helper()
		up, down := sumWindow(t, snap, snapshot.Upstream, port), sumWindow(t, snap, snapshot.Downstream, port)
		t.Logf("%s: client sent %d received %d over %d connections; upstream %+v; downstream %+v", name, ta.sent.Load(), ta.received.Load(), conns, up, down)
		if !within1pct(down.received, ta.sent.Load()) || !within1pct(down.sent, ta.received.Load()) {
			t.Errorf("%s downstream: received %d sent %d, want %d and %d (1%%)", name, down.received, down.sent, ta.sent.Load(), ta.received.Load())
		}
		if down.opened != conns || down.closed != conns {
			t.Errorf("%s downstream: opened %d closed %d, want %d", name, down.opened, down.closed, conns)
		}
		if len(down.processes) != 1 || !down.processes[me] {
			t.Errorf("%s downstream processes %v, want the listener's, %q", name, down.processes, me)
		}
		if !upstreamBytes {
			return
		}
		if !within1pct(up.sent, ta.sent.Load()) || !within1pct(up.received, ta.received.Load()) {
			t.Errorf("%s upstream: sent %d received %d, want %d and %d (1%%)", name, up.sent, up.received, ta.sent.Load(), ta.received.Load())
		}
		if up.opened != conns || up.closed != conns {
			t.Errorf("%s upstream: opened %d closed %d, want %d", name, up.opened, up.closed, conns)
		}
	}
	check("one a second", periodic.port(), &tp, 5, true)
	check("bulk", bulk.port(), &tb, 200, true)
	check("pool", pool.port(), &tpool, 0, true)
	// The resetting client's own socket: the kernel clears its peer port
	// and counters before reporting it, so what a dump did not see alive
	// is only counted.
	check("reset", resets.port(), &tr, 3, false)
	if up := sumWindow(t, snap, snapshot.Upstream, resets.port()); up.opened+w.ResetUnknown < 3 {
		t.Errorf("reset upstream: %d seen + %d reset_unknown, want at least 3", up.opened, w.ResetUnknown)
	}
	if p := sumWindow(t, snap, snapshot.Upstream, pool.port()); p.alive != 3 || !p.processes[me] {
		t.Errorf("pool upstream: %d alive, processes %v; want 3 held by %q", p.alive, p.processes, me)
	}
}

// TestWindowPolling: where destroy events are refused, the window says so
// and still counts connections that live through a dump, each way.
func TestWindowPolling(t *testing.T) {
	if testing.Short() {
		t.Skip("4 s of loopback traffic")
	}
	refused := errors.New("refused for the test")
	subscribe = func(int) (*sockdiag.Events, error) { return nil, refused }
	t.Cleanup(func() { subscribe = sockdiag.Subscribe })
	srv := newReqServer(t)
	var ta tally
	done := make(chan *snapshot.Snapshot, 1)
	wait := awaitWindow(t)
	sweeps := countSweeps(t)
	// The window ends when the test says (a cancel after the last close),
	// not after a fixed time that a loaded machine can outrun.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		s, err := Run(ctx, Options{Window: time.Hour, WindowPoll: 100 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	wait()
	for range 4 {
		c, err := net.Dial("tcp4", srv.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ta.conns.Add(1)
		if err := ta.request(c, 20_000, 3_000); err != nil {
			t.Fatal(err)
		}
		// The connection lives through a dump that began after its traffic.
		sweeps.await(2)
		closeAndWaitGone(t, c.(*net.TCPConn), srv.port())
	}
	cancel()
	snap := <-done
	if snap == nil {
		t.FailNow()
	}
	w := snap.Window
	if w.Method != snapshot.WindowPolling || !strings.Contains(w.Detail, refused.Error()) {
		t.Errorf("window method %q detail %q, want polling saying why", w.Method, w.Detail)
	}
	if !slices.ContainsFunc(snap.Warnings, func(s string) bool { return strings.Contains(s, "repeated dumps") }) {
		t.Errorf("warnings %q do not say the window fell back to dumps", snap.Warnings)
	}
	for _, dir := range []snapshot.Direction{snapshot.Upstream, snapshot.Downstream} {
		s := sumWindow(t, snap, dir, srv.port())
		sent, recv := s.sent, s.received
		if dir == snapshot.Downstream {
			sent, recv = recv, sent
		}
		if !within1pct(sent, ta.sent.Load()) || !within1pct(recv, ta.received.Load()) || s.opened != 4 || s.closed != 4 {
			t.Errorf("%s: %+v, want 4 connections, %d bytes up and %d down", dir, s, ta.sent.Load(), ta.received.Load())
		}
	}
}

// TestWindowCutShort: a cancelled context ends the window early; the
// snapshot is whole for the shorter window and says it was cut short.
func TestWindowCutShort(t *testing.T) {
	srv := newReqServer(t)
	var ta tally
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *snapshot.Snapshot, 1)
	wait := awaitWindow(t)
	go func() {
		s, err := Run(ctx, Options{Window: time.Hour})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	wait()
	witness, err := sockdiag.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer witness.Close()
	var local, remote netip.AddrPort
	if err := ta.shortConnWith(func() (net.Conn, error) {
		c, err := net.DialTCP("tcp4", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(srv.port())})
		if err == nil {
			local, remote = c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
		}
		return c, err
	}, 5000, 100, false); err != nil {
		t.Fatal(err)
	}
	// The kernel sends destroy events from a work queue: cancel once both
	// ends' have reached a listener (and so the window's too).
	awaitDestroyed(t, witness, netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()))
	cancel()
	var snap *snapshot.Snapshot
	select {
	case snap = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled window did not end")
	}
	if snap == nil {
		t.FailNow()
	}
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}
	if w := snap.Window; !w.CutShort || w.Seconds > 5 || w.Requested != 3600 {
		t.Errorf("window %+v, want cut short after well under 5 s of 3600", w)
	}
	if s := sumWindow(t, snap, snapshot.Downstream, srv.port()); s.closed != 1 || !within1pct(s.received, ta.sent.Load()) {
		t.Errorf("downstream %+v, want the one connection with %d bytes", s, ta.sent.Load())
	}
}

// TestWindowProcRefused: /proc/net has no cookies or counters: a window
// there is refused with ErrWindowSource, saying what is missing (the
// command line names the flag that gets past it).
func TestWindowProcRefused(t *testing.T) {
	_, err := Run(context.Background(), Options{Window: time.Second, SocketSource: SourceProc})
	if !errors.Is(err, ErrWindowSource) || !strings.Contains(err.Error(), "/proc/net has neither") {
		t.Fatalf("error %v, want ErrWindowSource saying /proc/net has neither", err)
	}
}

// closeAndWaitGone closes c cleanly (its write side, then the server's
// close seen as EOF) and waits until no socket of the connection to port
// is left in the kernel's table but TIME_WAIT: both ends have ended, so a
// dump can no longer see them alive.
func closeAndWaitGone(t *testing.T, c *net.TCPConn, port uint16) {
	t.Helper()
	local := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := false
		err := sockdiag.DumpAll(context.Background(), sockdiag.StatesConnected, func(s *sockdiag.Sock) {
			ports := [2]uint16{s.Local.Port(), s.Remote.Port()}
			if ports == [2]uint16{local, port} || ports == [2]uint16{port, local} {
				alive = true
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection from port %d to %d is still in the socket table after 10 s", local, port)
		}
		time.Sleep(5 * time.Millisecond) // poll the kernel's table
	}
}

func TestGatherFor(t *testing.T) {
	for _, c := range []struct {
		name     string
		got      int
		since    time.Duration
		capacity int
		want     time.Duration
	}{
		{"nothing read: no wait", 0, time.Second, 13_107, 0},
		{"a quarter of the buffer or more: read again at once", 3_277, time.Second, 13_107, 0},
		{"root's buffer at 20,000 events a second: the most", 200, 10 * time.Millisecond, 13_107, maxGather},
		{"until a quarter of the buffer, between the bounds", 800, 20 * time.Millisecond, 8_000, 50 * time.Millisecond},
		{"no longer than a burst at the peak rate fills a quarter", 100, 20 * time.Millisecond, 2_000, 25 * time.Millisecond},
		{"after a quiet spell, Debian's default buffer: the least", 1, time.Second, 332, minGather},
		{"after a quiet spell, root's buffer: the most", 1, time.Second, 13_107, maxGather},
		{"after a quiet spell, a middling buffer: what a peak burst allows", 3, 200 * time.Millisecond, 2_000, 25 * time.Millisecond},
		{"Debian's default buffer at 20,000 a second: the least", 80, 4 * time.Millisecond, 332, minGather},
		{"first read, no interval known", 5, 0, 13_107, minGather},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := gatherFor(c.got, c.since, c.capacity); got != c.want {
				t.Errorf("gatherFor(%d, %v, %d) = %v, want %v", c.got, c.since, c.capacity, got, c.want)
			}
		})
	}
}

func TestUnwatched(t *testing.T) {
	many := map[uint64]string{}
	for i := range uint64(unwatchedShown + 3) {
		many[4026532000+i] = "enter network namespace (setns): operation not permitted"
	}
	for _, c := range []struct {
		name    string
		refused map[uint64]string
		want    string
	}{
		{"one reason", map[uint64]string{4026532401: "setns: EPERM", 4026532315: "setns: EPERM"}, "netns 4026532315, 4026532401: setns: EPERM"},
		{"two reasons, each with its namespaces", map[uint64]string{9: "b", 7: "a", 8: "b"}, "netns 7: a; netns 8, 9: b"},
		{"more than shown", many, "netns 4026532000, 4026532001, 4026532002, 4026532003, 4026532004, 4026532005, 4026532006, 4026532007, 4026532008, 4026532009, " +
			"4026532010, 4026532011, 4026532012, 4026532013, 4026532014, 4026532015, 4026532016, 4026532017, 4026532018, 4026532019 and 3 more: " +
			"enter network namespace (setns): operation not permitted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := unwatched(c.refused); got != c.want {
				t.Errorf("unwatched() = %q\nwant %q", got, c.want)
			}
		})
	}
}
