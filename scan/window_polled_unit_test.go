package scan

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/snapshot"
)

// procNS is a fixture /proc/PID directory of a namespace the window reads
// through net/tcp: set writes the table a read finds.
type procNS struct {
	t     *testing.T
	dir   string
	inode uint64
}

func newProcNS(t *testing.T, dir string) *procNS {
	for _, d := range []string{"net", "ns"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// ns/net stands for the namespace link: its inode is the namespace's.
	if err := os.WriteFile(filepath.Join(dir, "ns", "net"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "ns", "net"), &st); err != nil {
		t.Fatal(err)
	}
	p := &procNS{t: t, dir: dir, inode: st.Ino}
	p.set()
	return p
}

// psock is one net/tcp row: IPv4 addresses, the state in hex, the inode.
type psock struct {
	local, remote, state string
	inode                uint64
}

func hexAddr(t *testing.T, ap string) string {
	a := netip.MustParseAddrPort(ap)
	b := a.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], a.Port())
}

func (p *procNS) set(rows ...psock) {
	var b strings.Builder
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i, r := range rows {
		fmt.Fprintf(&b, "%4d: %s %s %s 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 30 10 -1\n",
			i, hexAddr(p.t, r.local), hexAddr(p.t, r.remote), r.state, r.inode)
	}
	for name, text := range map[string]string{"tcp": b.String(), "tcp6": "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"} {
		if err := os.WriteFile(filepath.Join(p.dir, "net", name), []byte(text), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// TestWindowPolledNamespace: a namespace read through /proc (entering it
// refused) counts connections by their appearing and disappearing between
// reads: a socket present at the start is not opened; one that appears is;
// one that disappears is closed; a 4-tuple reused with another inode is
// two connections; an upstream socket new while the owners pass is not due
// waits for it (keeping its first sighting), or, if it ends first, counts
// without a process; downstream ones take the listener's process. Every
// record has unknown bytes, none claimed.
func TestWindowPolledNamespace(t *testing.T) {
	ctx := context.Background()
	o := testObserver(t, &fakeKernel{})
	p := newProcNS(t, filepath.Join(o.proc.Root, "42"))
	if n := o.pollThrough(netNS{inode: p.inode + 1, pids: []int{42}}, false); n != nil {
		t.Fatal("pollThrough took a process of another namespace")
	}
	n := o.pollThrough(netNS{inode: p.inode, pids: []int{41, 42}}, false)
	if n == nil || n.procDir != p.dir || n.pid != 42 {
		t.Fatalf("pollThrough: %+v, want the namespace read through process 42", n)
	}
	o.polled[p.inode] = true
	o.nss = []*winNS{n} // the namespace alone: the scanner's own is no part of this
	names := map[uint64]string{100: "server", 200: "client", 201: "client", 202: "client", 210: "client"}
	o.owners = func(want map[uint64]struct{}) (map[uint64]Process, error) {
		out := map[uint64]Process{}
		for ino := range want {
			if name, ok := names[ino]; ok {
				out[ino] = Process{Name: name}
			}
		}
		return out, nil
	}
	const est, listen = "01", "0A"
	lsn := psock{"0.0.0.0:5432", "0.0.0.0:0", listen, 100}
	a := psock{"10.0.0.1:40000", "10.0.0.9:443", est, 200}
	sweep := func(start, final bool, rows ...psock) time.Time {
		t.Helper()
		p.set(rows...)
		now := o.now()
		if errs := o.sweep(ctx, o.nss, now, start, final, false); errs[0] != (sweepErr{}) {
			t.Fatal(errs)
		}
		return now
	}
	sweep(true, false, lsn, a)
	o.nextOwners = time.Now().Add(time.Hour) // the owners pass not due
	b := psock{"10.0.0.1:40001", "10.0.0.9:443", est, 201}
	c := psock{"10.0.0.1:5432", "10.0.0.7:50000", est, 300}
	sweep(false, false, lsn, a, b, c)
	d := psock{"10.0.0.1:40002", "10.0.0.8:443", est, 202}
	a2 := a
	a2.inode = 210
	dSeen := sweep(false, false, lsn, a2, c, d) // b ended unowned; a's 4-tuple reused
	o.nextOwners = time.Time{}
	sweep(false, false, lsn, a2, d) // owners found for d and a2; c ended
	end := sweep(false, true, lsn, a2, d)
	o.finish(n, end, false)
	snap := &snapshot.Snapshot{}
	o.apply(snap)

	type got struct{ opened, closed int }
	recs := map[string]got{}
	for _, c := range snap.Connections {
		w := c.Window
		if w == nil {
			continue
		}
		if !w.BytesUnknown || w.BytesSent != 0 || w.BytesReceived != 0 {
			t.Errorf("%s %d %q: bytes_unknown %v, sent %d, received %d", c.Direction, c.Port, c.Process, w.BytesUnknown, w.BytesSent, w.BytesReceived)
		}
		if c.Netns != p.inode {
			t.Errorf("%s %d %q: netns %d, want %d", c.Direction, c.Port, c.Process, c.Netns, p.inode)
		}
		recs[fmt.Sprintf("%s %d %s %q", c.Direction, c.Port, c.RemoteIP, c.Process)] = got{w.Opened, w.Closed}
		if c.RemoteIP == netip.MustParseAddr("10.0.0.8") && !w.FirstSeen.Equal(dSeen.UTC().Truncate(time.Millisecond)) {
			t.Errorf("d's record first seen %v, want %v (d's first sighting, before its owner was known)", w.FirstSeen, dSeen)
		}
	}
	want := map[string]got{
		`upstream 443 10.0.0.9 "client"`:    {1, 1}, // a closed by the reuse, a2 opened
		`upstream 443 10.0.0.8 "client"`:    {1, 0}, // d, alive at the end
		`upstream 443 10.0.0.9 ""`:          {1, 1}, // b, ended before its owner was known
		`downstream 5432 10.0.0.7 "server"`: {1, 1}, // c
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", recs, want)
	}
	if o.res.Unattributed != 1 {
		t.Errorf("unattributed %d, want 1 (b)", o.res.Unattributed)
	}
}

// sharedProcNS is a second process of p's namespace at dir: its ns/net
// reads as the namespace's link ("net:[inode]") and stats as its inode.
func sharedProcNS(t *testing.T, p *procNS, dir string) *procNS {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := fmt.Sprintf("net:[%d]", p.inode)
	src := filepath.Join(p.dir, "ns", link) // p made by sharedProcNS
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join(p.dir, "ns", "net") // p made by newProcNS
	}
	if err := os.Link(src, filepath.Join(dir, "ns", link)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(dir, "ns", "net")); err != nil {
		t.Fatal(err)
	}
	q := &procNS{t: t, dir: dir, inode: p.inode}
	q.set()
	return q
}

// exit makes p's process leave its namespace: its ns/net is another's.
func (p *procNS) exit() {
	path := filepath.Join(p.dir, "ns", "net")
	if err := os.Remove(path); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// TestWindowPolledNamespaceRehomes: when the process a polled namespace is
// read through exits, the window reads it through another still in it, so
// a connection that ends afterwards is seen to end; with none left, the
// reads fail and the namespace is marked lost (procLost) for the detail.
func TestWindowPolledNamespaceRehomes(t *testing.T) {
	ctx := context.Background()
	o := testObserver(t, &fakeKernel{})
	p := newProcNS(t, filepath.Join(o.proc.Root, "42"))
	q := sharedProcNS(t, p, filepath.Join(o.proc.Root, "43"))
	n := o.pollThrough(netNS{inode: p.inode, pids: []int{42, 43}}, false)
	if n == nil || n.pid != 42 {
		t.Fatalf("pollThrough: %+v, want the namespace read through process 42", n)
	}
	o.polled[p.inode] = true
	o.nss = []*winNS{n}
	o.owners = func(map[uint64]struct{}) (map[uint64]Process, error) { return nil, nil }
	a := psock{"10.0.0.1:40000", "10.0.0.9:443", "01", 200}
	sweep := func(start, final bool, rows ...psock) (time.Time, sweepErr) {
		t.Helper()
		p.set(rows...)
		q.set(rows...)
		now := o.now()
		return now, o.sweep(ctx, o.nss, now, start, final, false)[0]
	}
	if _, err := sweep(true, false, a); err != (sweepErr{}) {
		t.Fatal(err)
	}
	p.exit()
	if _, err := sweep(false, false); err != (sweepErr{}) {
		t.Fatalf("the read after process 42 exited: %v, want it read through 43", err)
	}
	if n.pid != 43 || n.procDir != q.dir || !n.procLost.IsZero() {
		t.Errorf("namespace read through %d (%s), lost %v; want process 43", n.pid, n.procDir, n.procLost)
	}
	end, _ := sweep(false, true)
	o.finish(n, end, false)
	snap := &snapshot.Snapshot{}
	o.apply(snap)
	if len(snap.Connections) != 1 || snap.Connections[0].Window == nil || snap.Connections[0].Window.Closed != 1 {
		t.Errorf("records %+v, want a's, closed within the window", snap.Connections)
	}

	q.exit()
	if _, err := sweep(false, false); err == (sweepErr{}) {
		t.Error("a read with no process left in the namespace succeeded")
	}
	if n.procLost.IsZero() {
		t.Error("a namespace with no process left to read it through is not marked lost")
	}
	// The next look for a process waits rehomeEvery: one that joined
	// meanwhile is found only then.
	tried := n.procTried
	r := sharedProcNS(t, q, filepath.Join(o.proc.Root, "44"))
	if _, err := sweep(false, false); err == (sweepErr{}) || n.procTried != tried {
		t.Errorf("looked for a process again at once (err %v): every read would walk /proc", err)
	}
	now := o.now
	o.now = func() time.Time { return now().Add(rehomeEvery) }
	if _, err := sweep(false, false); err != (sweepErr{}) || n.procDir != r.dir || !n.procLost.IsZero() {
		t.Errorf("after %v: err %v, read through %s, lost %v; want process 44", rehomeEvery, err, n.procDir, n.procLost)
	}
}

// TestWindowEndReadError: a failed read of the events that arrived during
// the end dump is kept for the window's warning and detail, not dropped.
func TestWindowEndReadError(t *testing.T) {
	ev, err := sockdiag.Subscribe(0)
	if err != nil {
		t.Skipf("destroy events: %v", err)
	}
	ev.Close() // every read of it now fails
	o := testObserver(t, &fakeKernel{})
	n := &winNS{inode: 7, ev: ev, pending: map[uint64]*pendingSock{}, binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}}
	o.nss = []*winNS{n}
	o.finish(n, o.now(), false)
	if o.endReadErr == nil || !strings.Contains(o.endReadErr.Error(), "netns 7") {
		t.Errorf("endReadErr %v, want the failed read of netns 7", o.endReadErr)
	}
}
