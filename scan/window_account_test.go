package scan

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/snapshot"
)

// fakeKernel stands in for sock_diag dumps: the test sets what the next
// dump returns.
type fakeKernel struct{ listen, conns []sockdiag.Sock }

func (k *fakeKernel) dump(_ context.Context, states uint32, fn func(*sockdiag.Sock)) error {
	src := k.conns
	if states == sockdiag.StatesListen {
		src = k.listen
	}
	for i := range src {
		s := src[i]
		fn(&s)
	}
	return nil
}

func dsock(cookie uint64, local, remote string, sent, recv uint64) sockdiag.Sock {
	return sockdiag.Sock{Cookie: cookie, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
		BytesAcked: sent, BytesReceived: recv, HasBytes: true, State: sockdiag.StateEstablished}
}

func testObserver(t *testing.T, k *fakeKernel) *observer {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := newObserver(ProcFS{Root: t.TempDir()}, PortRange{32768, 60999}, func() time.Time { clock = clock.Add(time.Second); return clock })
	o.dump = k.dump
	o.res.Seconds = 10
	return o
}

// TestWindowAccounting: the three rules of what a socket moved within the
// window (alive at both ends: the difference; ended: final minus what the
// start saw; began: all of it), and what a reset and a failed connect count.
func TestWindowAccounting(t *testing.T) {
	ctx := context.Background()
	k := &fakeKernel{listen: []sockdiag.Sock{dsock(1, "0.0.0.0:5432", "0.0.0.0:0", 0, 0)}}
	k.conns = []sockdiag.Sock{
		dsock(10, "10.0.0.1:40000", "10.0.0.9:443", 1000, 5000),   // upstream, alive throughout
		dsock(11, "10.0.0.1:40001", "10.0.0.9:443", 700, 70),      // upstream, ends in the window
		dsock(12, "10.0.0.1:5432", "10.0.0.7:50000", 100, 20_000), // downstream, alive throughout
	}
	o := testObserver(t, k)
	if err := o.refreshListeners(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := o.poll(ctx, o.now(), true, false, false); err != nil {
		t.Fatal(err)
	}
	ended := dsock(11, "10.0.0.1:40001", "10.0.0.9:443", 900, 95)
	o.destroyed(&ended, false)
	began := dsock(13, "10.0.0.1:40002", "10.0.0.9:443", 300, 30) // began and ended between dumps
	o.destroyed(&began, false)
	refused := dsock(14, "10.0.0.1:40003", "10.0.0.9:443", 0, 0) // SYN never answered
	o.destroyed(&refused, false)
	reset := dsock(15, "0.0.0.0:40004", "10.0.0.9:0", 0, 0) // this host reset it
	o.destroyed(&reset, false)
	k.conns = []sockdiag.Sock{
		dsock(10, "10.0.0.1:40000", "10.0.0.9:443", 1500, 5400),
		dsock(12, "10.0.0.1:5432", "10.0.0.7:50000", 150, 21_000),
		dsock(16, "10.0.0.1:5432", "10.0.0.8:50001", 10, 10), // began, alive at the end
	}
	if err := o.finish(ctx, o.now(), nil); err != nil {
		t.Fatal(err)
	}
	snap := &snapshot.Snapshot{}
	o.apply(snap)
	type fig struct {
		sent, recv     uint64
		opened, closed int
	}
	got := map[winKey]fig{}
	for _, c := range snap.Connections {
		got[winKey{c.Direction, c.Port, c.Process, c.RemoteIP}] = fig{c.Window.BytesSent, c.Window.BytesReceived, c.Window.Opened, c.Window.Closed}
	}
	want := map[winKey]fig{
		// 500+200+300 sent, 400+25+30 received; opened: 13; closed: 11, 13.
		{snapshot.Upstream, 443, "", netip.MustParseAddr("10.0.0.9")}:    {1000, 455, 1, 2},
		{snapshot.Downstream, 5432, "", netip.MustParseAddr("10.0.0.7")}: {50, 1000, 0, 0},
		{snapshot.Downstream, 5432, "", netip.MustParseAddr("10.0.0.8")}: {10, 10, 1, 0},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%+v: got %+v, want %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("records %+v, want %d", got, len(want))
	}
	if w := snap.Window; w.Unattributed != 1 || w.ResetUnknown != 1 || w.Opened != 2 || w.Closed != 2 {
		t.Errorf("window %+v, want 1 unattributed, 1 reset, 2 opened, 2 closed", w)
	}
	if c := snap.Connections[len(snap.Connections)-1]; c.Direction != snapshot.Upstream || c.Window.BytesSentPerSecond != 100 {
		t.Errorf("%+v: %v bytes/s sent, want 1000 over 10 s", c, c.Window.BytesSentPerSecond)
	}
}

// TestWindowMemoryBounded: a window's memory is one record per dependency
// and one entry per socket a dump saw alive, not one per connection: a
// million short connections to one server leave one record and nothing
// else behind.
func TestWindowMemoryBounded(t *testing.T) {
	o := testObserver(t, &fakeKernel{})
	for i := range uint64(1_000_000) {
		s := dsock(100+i, "10.0.0.1:40000", "10.0.0.9:443", 1001, 2001)
		s.Local = netip.AddrPortFrom(s.Local.Addr(), uint16(32768+i%20000))
		o.destroyed(&s, false)
	}
	if len(o.deps) != 1 || len(o.live) != 0 {
		t.Fatalf("%d records and %d live sockets after a million connections, want 1 and 0", len(o.deps), len(o.live))
	}
	for _, d := range o.deps {
		if d.Opened != 1_000_000 || d.BytesSent != 1_001_000_000 {
			t.Errorf("%+v", d)
		}
	}
}
