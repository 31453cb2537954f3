package scan

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/snapshot"
)

// fakeKernel stands in for sock_diag dumps: the test sets what the next
// dump returns.
type fakeKernel struct{ listen, conns []sockdiag.Sock }

func (k *fakeKernel) dump(_ context.Context, _ sockdiag.Namespace, states uint32, fn func(*sockdiag.Sock)) error {
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
	if errs := o.sweep(ctx, o.nss, o.now(), true, false, false); errs[0] != (sweepErr{}) {
		t.Fatal(errs)
	}
	ended := dsock(11, "10.0.0.1:40001", "10.0.0.9:443", 900, 95)
	o.destroyed(o.nss[0], &ended, false)
	began := dsock(13, "10.0.0.1:40002", "10.0.0.9:443", 300, 30) // began and ended between dumps
	o.destroyed(o.nss[0], &began, false)
	refused := dsock(14, "10.0.0.1:40003", "10.0.0.9:443", 0, 0) // SYN never answered
	o.destroyed(o.nss[0], &refused, false)
	reset := dsock(15, "0.0.0.0:40004", "10.0.0.9:0", 0, 0) // this host reset it
	o.destroyed(o.nss[0], &reset, false)
	k.conns = []sockdiag.Sock{
		dsock(10, "10.0.0.1:40000", "10.0.0.9:443", 1500, 5400),
		dsock(12, "10.0.0.1:5432", "10.0.0.7:50000", 150, 21_000),
		dsock(16, "10.0.0.1:5432", "10.0.0.8:50001", 10, 10), // began, alive at the end
	}
	if errs := o.sweep(ctx, o.nss, o.now(), false, true, false); errs[0] != (sweepErr{}) {
		t.Fatal(errs)
	}
	o.finish(o.nss[0], o.now(), false)
	o.settleResets()
	snap := &snapshot.Snapshot{}
	o.apply(snap)
	type fig struct {
		sent, recv     uint64
		opened, closed int
	}
	got := map[winKey]fig{}
	for _, c := range snap.Connections {
		got[winKey{dir: c.Direction, port: c.Port, process: c.Process, remote: c.RemoteIP}] = fig{c.Window.BytesSent, c.Window.BytesReceived, c.Window.Opened, c.Window.Closed}
	}
	want := map[winKey]fig{
		// 500+200+300 sent, 400+25+30 received; opened: 13 and the reset
		// one (on the one port used to 10.0.0.9, no bytes); closed: 11, 13
		// and the reset one.
		{dir: snapshot.Upstream, port: 443, remote: netip.MustParseAddr("10.0.0.9")}:    {1000, 455, 2, 3},
		{dir: snapshot.Downstream, port: 5432, remote: netip.MustParseAddr("10.0.0.7")}: {50, 1000, 0, 0},
		{dir: snapshot.Downstream, port: 5432, remote: netip.MustParseAddr("10.0.0.8")}: {10, 10, 1, 0},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%+v: got %+v, want %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("records %+v, want %d", got, len(want))
	}
	if w := snap.Window; w.Unattributed != 1 || w.ResetNoBytes != 1 || w.ResetUnknown != 0 || w.Opened != 3 || w.Closed != 3 {
		t.Errorf("window %+v, want 1 unattributed, 1 reset without bytes, 3 opened, 3 closed", w)
	}
	if c := snap.Connections[len(snap.Connections)-1]; c.Direction != snapshot.Upstream || c.Window.BytesSentPerSecond != 100 {
		t.Errorf("%+v: %v bytes/s sent, want 1000 over 10 s", c, c.Window.BytesSentPerSecond)
	}
}

// TestWindowResetPairing: a client socket reset by this host keeps only
// its local port and its server's address; where the server's end is on
// this host too (another network namespace), its destroy event, before or
// after, gives the port and the bytes, the other way round. Without it, a
// reset client to a server it used on no other port is in no record.
func TestWindowResetPairing(t *testing.T) {
	client := dsock(20, "0.0.0.0:40010", "10.0.0.2:0", 0, 0)
	server := dsock(21, "10.0.0.2:5432", "10.0.0.1:40010", 7000, 300)
	elsewhere := dsock(22, "0.0.0.0:40011", "10.0.0.3:0", 0, 0)
	tests := []struct {
		name        string
		serverFirst bool
	}{{"client event first", false}, {"server event first", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testObserver(t, &fakeKernel{})
			clientNS := o.nss[0]
			clientNS.inode, clientNS.workload = 1001, "client.service"
			serverNS := &winNS{inode: 1002, binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}}
			o.nss = append(o.nss, serverNS)
			o.local[netip.MustParseAddr("10.0.0.1")] = []uint64{clientNS.inode}
			if tt.serverFirst {
				o.destroyed(serverNS, &server, false)
				o.destroyed(clientNS, &client, false)
			} else {
				o.destroyed(clientNS, &client, false)
				o.destroyed(serverNS, &server, false)
			}
			o.destroyed(clientNS, &elsewhere, false)
			o.settleResets()
			snap := &snapshot.Snapshot{}
			o.apply(snap)
			up := onlyUpstream(t, snap)
			if up == nil || up.Port != 5432 || up.Netns != 1001 || up.Workload != "client.service" || up.RemoteIP != netip.MustParseAddr("10.0.0.2") ||
				up.Window.BytesSent != 300 || up.Window.BytesReceived != 7000 || up.Window.Opened != 1 || up.Window.Closed != 1 {
				t.Errorf("upstream record %+v, want port 5432 from netns 1001 (client.service) with 300 bytes sent, 7000 received", up)
			}
			if w := snap.Window; w.ResetPaired != 1 || w.ResetUnknown != 1 || w.WorkloadUnknown != 0 {
				t.Errorf("window %+v, want 1 reset paired, 1 unknown", w)
			}
		})
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
		o.destroyed(o.nss[0], &s, false)
	}
	if len(o.deps) != 1 || len(o.nss[0].live) != 0 {
		t.Fatalf("%d records and %d live sockets after a million connections, want 1 and 0", len(o.deps), len(o.nss[0].live))
	}
	for _, d := range o.deps {
		if d.Opened != 1_000_000 || d.BytesSent != 1_001_000_000 {
			t.Errorf("%+v", d)
		}
	}
}

// BenchmarkWindowDestroyed is the window's cost per destroy event: one
// connection's two ends (client and server) a loop. Side by side: a peer
// on this host, whose server end is remembered for reset pairing, and a
// peer elsewhere, whose is not.
func BenchmarkWindowDestroyed(b *testing.B) {
	for _, peer := range []struct {
		name  string
		local bool
	}{{"peer_on_host", true}, {"peer_elsewhere", false}} {
		b.Run(peer.name, func(b *testing.B) {
			o := testObserver(&testing.T{}, &fakeKernel{})
			if peer.local {
				o.local[netip.MustParseAddr("10.0.0.1")] = []uint64{0}
			}
			n := o.nss[0]
			client, server := dsock(0, "10.0.0.1:0", "10.0.0.2:5432", 101, 101), dsock(0, "10.0.0.2:5432", "10.0.0.1:0", 101, 101)
			for i := 0; b.Loop(); i++ {
				c, s := client, server
				c.Cookie, s.Cookie = uint64(2*i), uint64(2*i+1)
				c.Local = netip.AddrPortFrom(c.Local.Addr(), uint16(32768+i%20000))
				s.Remote = c.Local
				o.destroyed(n, &c, false)
				o.destroyed(n, &s, false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/event")
		})
	}
}

// TestWindowResetNotPairedWithStale: a reset client must be paired with its
// own server end, never with the end of an earlier, normally closed
// connection that used the same ephemeral port (on a busy host ports come
// round again within seconds). Every order of the four events.
func TestWindowResetNotPairedWithStale(t *testing.T) {
	normalClient := dsock(30, "10.0.0.1:40010", "10.0.0.2:5432", 500, 9000)
	normalServer := dsock(31, "10.0.0.2:5432", "10.0.0.1:40010", 9000, 500)
	resetClient := dsock(32, "0.0.0.0:40010", "10.0.0.2:0", 0, 0)
	resetServer := dsock(33, "10.0.0.2:5432", "10.0.0.1:40010", 7000, 300)
	tests := []struct {
		name              string
		normalServerFirst bool
		resetServerFirst  bool
	}{
		{"client ends first, reset client first", false, false},
		{"client ends first, reset server first", false, true},
		{"server ends first, reset client first", true, false},
		{"server ends first, reset server first", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testObserver(t, &fakeKernel{})
			n := o.nss[0]
			o.local[netip.MustParseAddr("10.0.0.1")] = []uint64{0}
			o.local[netip.MustParseAddr("10.0.0.2")] = []uint64{0}
			if tt.normalServerFirst {
				o.destroyed(n, &normalServer, false)
				o.destroyed(n, &normalClient, false)
			} else {
				o.destroyed(n, &normalClient, false)
				o.destroyed(n, &normalServer, false)
			}
			if tt.resetServerFirst {
				o.destroyed(n, &resetServer, false)
				o.destroyed(n, &resetClient, false)
			} else {
				o.destroyed(n, &resetClient, false)
				o.destroyed(n, &resetServer, false)
			}
			o.settleResets()
			snap := &snapshot.Snapshot{}
			o.apply(snap)
			up := onlyUpstream(t, snap)
			if up == nil || up.Port != 5432 || up.Window.Opened != 2 || up.Window.BytesSent != 800 || up.Window.BytesReceived != 16000 {
				t.Errorf("upstream record %+v, want port 5432, 2 connections, 800 bytes sent and 16000 received", up)
			}
			if w := snap.Window; w.ResetPaired != 1 || w.ResetUnknown != 0 || w.ResetNoBytes != 0 {
				t.Errorf("window %+v, want the reset client paired with its own server end", w)
			}
		})
	}
}

// TestWindowHandOnLost: a socket handed on that the end dump did not see
// is handed on once more, marked; when the next window neither sees it in
// a dump nor hears its end (its destroy event was lost), it is closed
// there and handed on no further. Neither window makes a record for it:
// it moved nothing in them.
func TestWindowHandOnLost(t *testing.T) {
	ctx := context.Background()
	alive := dsock(30, "10.0.0.1:40100", "10.0.0.9:443", 500, 50)
	lost := savedSock{Cookie: 31, Direction: snapshot.Upstream, Port: 5432, Remote: netip.MustParseAddr("10.0.0.8"), Sent: 900, Received: 90}
	st := &windowState{Sockets: []savedSock{
		{Cookie: 30, Direction: snapshot.Upstream, Port: 443, Remote: netip.MustParseAddr("10.0.0.9"), Sent: 400, Received: 40},
		lost,
	}}
	handed := make([][]savedSock, 0, 3)
	for run := range 3 {
		k := &fakeKernel{conns: []sockdiag.Sock{alive}}
		o := testObserver(t, k)
		n := o.nss[0]
		o.continueFrom(n, st)
		n.late = true
		if errs := o.sweep(ctx, o.nss, o.now(), true, false, false); errs[0] != (sweepErr{}) {
			t.Fatal(errs)
		}
		n.late = false
		if errs := o.sweep(ctx, o.nss, o.now(), false, true, false); errs[0] != (sweepErr{}) {
			t.Fatal(errs)
		}
		st = o.finish(n, o.now(), true)
		handed = append(handed, st.Sockets)
		snap := &snapshot.Snapshot{}
		o.apply(snap)
		for _, c := range snap.Connections {
			if c.Port == lost.Port {
				t.Errorf("run %d: a record %+v for the lost socket, which moved nothing", run, c.Window)
			}
		}
		if run == 1 && o.handedLost != 1 {
			t.Errorf("run %d: %d handed-on sockets closed unheard, want 1", run, o.handedLost)
		}
	}
	want := [][]savedSock{
		{{Cookie: 30, Direction: snapshot.Upstream, Port: 443, Remote: netip.MustParseAddr("10.0.0.9"), Sent: 500, Received: 50}, {Cookie: 31, Direction: snapshot.Upstream, Port: 5432, Remote: lost.Remote, Sent: 900, Received: 90, Unseen: true}},
		{{Cookie: 30, Direction: snapshot.Upstream, Port: 443, Remote: netip.MustParseAddr("10.0.0.9"), Sent: 500, Received: 50}},
		{{Cookie: 30, Direction: snapshot.Upstream, Port: 443, Remote: netip.MustParseAddr("10.0.0.9"), Sent: 500, Received: 50}},
	}
	for i := range want {
		slices.SortFunc(handed[i], func(a, b savedSock) int { return cmp.Compare(a.Cookie, b.Cookie) })
		if !slices.Equal(handed[i], want[i]) {
			t.Errorf("run %d handed on %+v, want %+v", i, handed[i], want[i])
		}
	}
}

// TestWindowResetNamespaces: A (netns 2) resets its connection from port
// 40000 to S:80 while B (netns 3) ends its own from port 40000 to S:443
// normally: A's reset client is paired with S:80's end only, and B's
// connection stays B's, in every order of the four events; a third
// namespace with A's address changes nothing.
func TestWindowResetNamespaces(t *testing.T) {
	s := "10.0.0.20"
	events := []struct {
		name string
		ns   int // index in the observer's namespaces: 0 A, 1 B, 2 S
		sock sockdiag.Sock
	}{
		{"A reset client", 0, dsock(40, "0.0.0.0:40000", s+":0", 0, 0)},
		{"S:80 end", 2, dsock(41, s+":80", "10.0.0.12:40000", 7000, 300)},
		{"B client", 1, dsock(42, "10.0.0.13:40000", s+":443", 500, 9000)},
		{"S:443 end", 2, dsock(43, s+":443", "10.0.0.13:40000", 9000, 500)},
	}
	var orders [][]int
	var permute func(done []int, rest []int)
	permute = func(done, rest []int) {
		if len(rest) == 0 {
			orders = append(orders, done)
			return
		}
		for i := range rest {
			permute(append(slices.Clone(done), rest[i]), append(slices.Clone(rest[:i]), rest[i+1:]...))
		}
	}
	permute(nil, []int{0, 1, 2, 3})
	for _, order := range orders {
		var names []string
		for _, i := range order {
			names = append(names, events[i].name)
		}
		t.Run(strings.Join(names, ", "), func(t *testing.T) {
			o := testObserver(t, &fakeKernel{})
			o.nss[0].inode = 2
			o.nss = append(o.nss, &winNS{inode: 3, binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}},
				&winNS{inode: 4, binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}})
			o.addLocal(2, []netip.Addr{netip.MustParseAddr("10.0.0.12"), netip.MustParseAddr("127.0.0.1")})
			o.addLocal(3, []netip.Addr{netip.MustParseAddr("10.0.0.13"), netip.MustParseAddr("127.0.0.1")})
			o.addLocal(4, []netip.Addr{netip.MustParseAddr(s), netip.MustParseAddr("127.0.0.1")})
			// Another namespace with A's private address: a candidate too.
			o.addLocal(5, []netip.Addr{netip.MustParseAddr("10.0.0.12")})
			for _, i := range order {
				e := events[i]
				o.destroyed(o.nss[e.ns], &e.sock, false)
			}
			o.settleResets()
			snap := &snapshot.Snapshot{}
			o.apply(snap)
			type fig struct {
				netns      uint64
				port       uint16
				sent, recv uint64
				opened     int
			}
			var got []fig
			for _, c := range snap.Connections {
				if c.Direction == snapshot.Upstream {
					got = append(got, fig{c.Netns, c.Port, c.Window.BytesSent, c.Window.BytesReceived, c.Window.Opened})
				}
			}
			slices.SortFunc(got, func(a, b fig) int { return cmp.Compare(a.netns, b.netns) })
			want := []fig{{2, 80, 300, 7000, 1}, {3, 443, 500, 9000, 1}}
			if !slices.Equal(got, want) {
				t.Errorf("upstream records %+v, want %+v", got, want)
			}
			if w := snap.Window; w.ResetPaired != 1 || w.ResetUnknown != 0 || w.ResetNoBytes != 0 {
				t.Errorf("window %+v, want A's reset client paired with S:80's end", w)
			}
		})
	}
}

// TestWindowOneOwnersPass: a sweep of every watched namespace reads /proc
// for the owners of their new listeners and sockets in one pass, not one
// or two per namespace: a pass walks every process's descriptors.
func TestWindowOneOwnersPass(t *testing.T) {
	ctx := context.Background()
	k := &fakeKernel{listen: []sockdiag.Sock{dsock(1, "0.0.0.0:5432", "0.0.0.0:0", 0, 0)}}
	o := testObserver(t, k)
	for ns := range uint64(3) {
		o.nss = append(o.nss, &winNS{inode: 10 + ns, binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}})
	}
	var passes []int
	o.owners = func(want map[uint64]struct{}) (map[uint64]Process, error) {
		passes = append(passes, len(want))
		return nil, nil
	}
	sock := func(cookie, inode uint64) sockdiag.Sock {
		s := dsock(cookie, "10.0.0.1:40000", "10.0.0.9:443", 1, 1)
		s.Inode = inode
		return s
	}
	k.listen[0].Inode = 100
	k.conns = []sockdiag.Sock{sock(10, 110), sock(11, 111)}
	o.sweep(ctx, o.nss, o.now(), true, false, false)
	k.conns = append(k.conns, sock(12, 112))
	o.sweep(ctx, o.nss, o.now(), false, true, false)
	// The start: the listener and two sockets; the end: the one new socket.
	if !slices.Equal(passes, []int{3, 1}) {
		t.Errorf("owner passes of %v inodes, want one of 3 at the start and one of 1 at the end", passes)
	}
}

// BenchmarkWindowUnpairedReset is the cost of settling one reset client
// whose server is elsewhere, on a window with 10,000 upstream records:
// the index of upstream records by namespace, server and workload (what
// unpairedReset does), side by side with a walk of every record (what it
// did before).
func BenchmarkWindowUnpairedReset(b *testing.B) {
	o := testObserver(&testing.T{}, &fakeKernel{})
	server := netip.MustParseAddr("10.0.0.9")
	t0 := o.now()
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		o.dep(winKey{dir: snapshot.Upstream, port: 443, remote: a}, t0)
	}
	o.dep(winKey{dir: snapshot.Upstream, port: 5432, remote: server}, t0)
	k, r := resetKey{server: server, client: 40000}, pendingReset{t: t0}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			o.unpairedReset(k, r)
		}
	})
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			var found *winKey
			for dk := range o.deps {
				if dk.dir != snapshot.Upstream || dk.netns != r.netns || dk.remote != k.server || dk.workload != r.workload {
					continue
				}
				if found != nil && found.port != dk.port {
					found = nil
					break
				}
				found = &dk
			}
			if found == nil {
				b.Fatal("no port found")
			}
			o.dep(winKey{dir: snapshot.Upstream, port: found.port, remote: k.server}, r.t).Opened++
		}
	})
	if o.res.ResetNoBytes == 0 {
		b.Fatal("the reset clients were not put on their one port")
	}
}

// TestWindowResetKnownClientNotStale: a reset client that a dump saw alive
// knows its server port from the dump, though its destroy event no longer
// has it. When its event comes before its server end's, that server end is
// still its own, and must not be kept for a later reset client that reuses
// the ephemeral port: the later one is paired with its own server end.
// Every order of the four events.
func TestWindowResetKnownClientNotStale(t *testing.T) {
	knownClient := dsock(40, "10.0.0.1:40010", "10.0.0.2:5432", 100, 50)
	knownServer := dsock(41, "10.0.0.2:5432", "10.0.0.1:40010", 50, 100)
	knownClientEnd := dsock(40, "0.0.0.0:40010", "10.0.0.2:0", 0, 0) // counters cleared by the reset
	knownServerEnd := dsock(41, "10.0.0.2:5432", "10.0.0.1:40010", 7000, 300)
	laterClient := dsock(42, "0.0.0.0:40010", "10.0.0.2:0", 0, 0)
	laterServer := dsock(43, "10.0.0.2:5432", "10.0.0.1:40010", 9000, 400)
	for _, knownServerFirst := range []bool{false, true} {
		for _, laterServerFirst := range []bool{false, true} {
			name := fmt.Sprintf("known server first %v, later server first %v", knownServerFirst, laterServerFirst)
			t.Run(name, func(t *testing.T) {
				k := &fakeKernel{listen: []sockdiag.Sock{dsock(1, "10.0.0.2:5432", "0.0.0.0:0", 0, 0)},
					conns: []sockdiag.Sock{knownClient, knownServer}}
				o := testObserver(t, k)
				n := o.nss[0]
				o.local[netip.MustParseAddr("10.0.0.1")] = []uint64{0}
				o.local[netip.MustParseAddr("10.0.0.2")] = []uint64{0}
				if errs := o.sweep(context.Background(), o.nss, o.now(), true, false, false); errs[0] != (sweepErr{}) {
					t.Fatal(errs)
				}
				pair := func(client, server sockdiag.Sock, serverFirst bool) {
					if serverFirst {
						o.destroyed(n, &server, false)
						o.destroyed(n, &client, false)
					} else {
						o.destroyed(n, &client, false)
						o.destroyed(n, &server, false)
					}
				}
				pair(knownClientEnd, knownServerEnd, knownServerFirst)
				pair(laterClient, laterServer, laterServerFirst)
				o.settleResets()
				snap := &snapshot.Snapshot{}
				o.apply(snap)
				up := onlyUpstream(t, snap)
				// The known client moved nothing more than its dump saw;
				// the later one what its server end received and sent.
				if up == nil || up.Port != 5432 || up.Window.Opened != 1 || up.Window.Closed != 2 || up.Window.BytesSent != 400 || up.Window.BytesReceived != 9000 {
					t.Errorf("upstream record %+v, want port 5432, 1 opened, 2 closed, 400 bytes sent and 9000 received", up)
				}
				if w := snap.Window; w.ResetPaired != 1 || w.ResetUnknown != 0 || w.ResetNoBytes != 0 {
					t.Errorf("window %+v, want the later reset client paired with its own server end", w)
				}
			})
		}
	}
}

// TestWindowApplyNAT: a dependency the window counts by its sockets' key
// goes on the record connection tracking renamed it to (a published port's,
// an upstream's actual destination), not on a record of its own beside it.
func TestWindowApplyNAT(t *testing.T) {
	client, vip, server := netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.0.1.5")
	backend := netip.MustParseAddr("172.17.0.2")
	published := snapshot.Connection{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8080, Process: "nginx", RemoteIP: client,
		BackendIP: backend, BackendPort: 80, Netns: 7, Sockets: 1}
	direct := snapshot.Connection{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: client, Netns: 7, Sockets: 1}
	viaVIP := snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 8000, Process: "app", RemoteIP: server,
		DialledIP: vip, DialledPort: 80, Netns: 1, Flows: 2}
	other := published
	other.BackendIP, other.Port, other.Process = netip.MustParseAddr("172.17.0.3"), 9090, "other"
	down := func(process string) winKey { return winKey{snapshot.Downstream, 80, process, "", client, 7} }
	tests := []struct {
		name    string
		records []snapshot.Connection
		keys    []winKey
		// want: per record (by port), the connections opened in its window;
		// and how many records the snapshot ends with.
		want map[uint16]int
		n    int
	}{
		{"published port, same owner", []snapshot.Connection{published}, []winKey{down("nginx")}, map[uint16]int{8080: 1}, 1},
		{"published port, owner named otherwise", []snapshot.Connection{published}, []winKey{down("nginx"), down("")}, map[uint16]int{8080: 2}, 1},
		{"a record of the sockets' own key comes first", []snapshot.Connection{published, direct}, []winKey{down("nginx")}, map[uint16]int{80: 1}, 2},
		{"upstream through a VIP", []snapshot.Connection{viaVIP}, []winKey{{snapshot.Upstream, 80, "app", "", vip, 1}}, map[uint16]int{8000: 1}, 1},
		{"two published records for one container port: the owner decides", []snapshot.Connection{published, other}, []winKey{down("nginx")}, map[uint16]int{8080: 1}, 2},
		{"nothing renamed: a record of its own", []snapshot.Connection{viaVIP}, []winKey{down("nginx")}, map[uint16]int{80: 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testObserver(t, &fakeKernel{})
			for _, k := range tt.keys {
				d := o.dep(k, time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC))
				d.Opened++
				d.Closed++
			}
			snap := &snapshot.Snapshot{Connections: slices.Clone(tt.records)}
			o.apply(snap)
			if len(snap.Connections) != tt.n {
				t.Errorf("%d records, want %d: %+v", len(snap.Connections), tt.n, snap.Connections)
			}
			got := map[uint16]int{}
			for _, c := range snap.Connections {
				if c.Window != nil {
					got[c.Port] += c.Window.Opened
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("opened by record port %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWindowResetAtTheEnd: a reset connection that ends as the window
// does, its two ends heard on either side of the end dump. Its reset
// client is paired with its server end either way:
//   - the server end's event before the end dump, the reset client's
//     after it (read while the window finishes, when only sockets it saw
//     alive count, but a reset client whose server end ended in the window
//     is the window's too);
//   - the reset client's event before the end dump, its server end still
//     alive in that dump (the reset not yet taken): the server end as the
//     dump saw it is the one the client reset.
func TestWindowResetAtTheEnd(t *testing.T) {
	resetClient := dsock(50, "0.0.0.0:40010", "10.0.0.2:0", 0, 0)
	server := dsock(51, "10.0.0.2:5432", "10.0.0.1:40010", 7000, 300)
	for _, serverFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("server end first %v", serverFirst), func(t *testing.T) {
			k := &fakeKernel{listen: []sockdiag.Sock{dsock(1, "10.0.0.2:5432", "0.0.0.0:0", 0, 0)}}
			o := testObserver(t, k)
			n := o.nss[0]
			o.local[netip.MustParseAddr("10.0.0.1")] = []uint64{0}
			o.local[netip.MustParseAddr("10.0.0.2")] = []uint64{0}
			ctx := context.Background()
			if errs := o.sweep(ctx, o.nss, o.now(), true, false, false); errs[0] != (sweepErr{}) {
				t.Fatal(errs)
			}
			if serverFirst {
				o.destroyed(n, &server, false)
			} else {
				o.destroyed(n, &resetClient, false)
				k.conns = []sockdiag.Sock{server} // alive at the end dump
			}
			end := o.now()
			if errs := o.sweep(ctx, o.nss, end, false, true, false); errs[0] != (sweepErr{}) {
				t.Fatal(errs)
			}
			if serverFirst {
				o.destroyed(n, &resetClient, true) // read while finishing
			}
			o.finish(n, end, false)
			o.settleResets()
			snap := &snapshot.Snapshot{}
			o.apply(snap)
			up := onlyUpstream(t, snap)
			if up == nil || up.Port != 5432 || up.Window.Opened != 1 || up.Window.BytesSent != 300 || up.Window.BytesReceived != 7000 {
				t.Errorf("upstream record %+v, want port 5432, 1 opened, 300 bytes sent and 7000 received", up)
			}
			if w := snap.Window; w.ResetPaired != 1 || w.ResetUnknown != 0 || w.ResetNoBytes != 0 {
				t.Errorf("window %+v, want the reset client paired with its server end", w)
			}
		})
	}
}

// onlyUpstream is snap's one upstream record (nil when it has none); a
// second one fails the test.
func onlyUpstream(t *testing.T, snap *snapshot.Snapshot) *snapshot.Connection {
	t.Helper()
	var up *snapshot.Connection
	for i, c := range snap.Connections {
		if c.Direction == snapshot.Upstream {
			if up != nil {
				t.Fatalf("two upstream records: %+v and %+v", *up, c)
			}
			up = &snap.Connections[i]
		}
	}
	return up
}
