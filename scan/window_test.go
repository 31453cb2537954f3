package scan

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// windowSum adds up the window figures of every record of one dependency
// (direction and port; any process).
type windowSum struct {
	sent, received        uint64
	opened, closed, alive int
	processes             map[string]bool
}

func sumWindow(t *testing.T, snap *snapshot.Snapshot, dir snapshot.Direction, port uint16) windowSum {
	t.Helper()
	s := windowSum{processes: map[string]bool{}}
	for _, c := range snap.Connections {
		if c.Direction != dir || c.Port != port || c.Protocol != "tcp" {
			continue
		}
		if c.Window == nil {
			t.Errorf("%s %d %q: no window figures", dir, port, c.Process)
			continue
		}
		s.sent += c.Window.BytesSent
		s.received += c.Window.BytesReceived
		s.opened += c.Window.Opened
		s.closed += c.Window.Closed
		s.alive += c.Sockets
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
// (the scripted host, with 60 s shortened to 6 s): a client making
// one short connection a second; one connecting every two seconds and
// closing with a reset; a bulk transfer of a known size over 200 short
// connections; and a pool of three long-lived connections, busy before the
// window and lightly used in it. Every one is in the snapshot, from both
// ends (client and server live on this host), with bytes within 1% of what
// was sent each way, the pool counted for the window only. No root needed.
func TestWindowLive(t *testing.T) {
	if testing.Short() {
		t.Skip("6 s of loopback traffic")
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

	const window = 6 * time.Second
	type result struct {
		snap *snapshot.Snapshot
		err  error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Run(context.Background(), Options{Window: window, WindowPoll: time.Second})
		done <- result{s, err}
	}()
	time.Sleep(500 * time.Millisecond) // the start dump takes milliseconds
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
	if !w.Start.Before(loadStart) {
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
