package scan

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/snapshot"
)

// heldEvents stands in for the subscription a service manager passes: a
// destroy-event subscription of this process's own, opened now, so that
// events queue in it before the window.
func heldEvents(t *testing.T) *sockdiag.Events {
	t.Helper()
	ev, err := sockdiag.Subscribe(0)
	if err != nil {
		t.Skipf("TCP destroy events refused here: %v", err)
	}
	prev := inherited
	inherited = func() *sockdiag.Events { return ev }
	t.Cleanup(func() { inherited = prev })
	return ev
}

// awaitDestroyed reads witness (a second subscription, which the kernel
// sends every event that it sends the held one) until both ends of the
// connection between a and b are reported destroyed.
func awaitDestroyed(t *testing.T, witness *sockdiag.Events, a, b netip.AddrPort) {
	t.Helper()
	seen := map[netip.AddrPort]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for !seen[a] || !seen[b] {
		if time.Now().After(deadline) {
			t.Fatalf("no destroy events for %v and %v", a, b)
		}
		if err := witness.Read(100*time.Millisecond, func(s *sockdiag.Sock) {
			if (s.Local == a && s.Remote == b) || (s.Local == b && s.Remote == a) {
				seen[s.Local] = true
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWindowHeldWithoutState: a held subscription with no previous state
// to continue from (first run, state lost) has queued the events of
// sockets that ended before this window: they are discarded, not counted
// as connections of a window that starts now, and the window says how many.
func TestWindowHeldWithoutState(t *testing.T) {
	srv := newReqServer(t)
	held := heldEvents(t)
	defer held.Close()
	witness, err := sockdiag.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer witness.Close()
	c, err := net.Dial("tcp4", srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var before tally
	if err := before.request(c, 5000, 500); err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	awaitDestroyed(t, witness, local, netip.MustParseAddrPort(srv.ln.Addr().String()))

	snap, err := Run(context.Background(), Options{Window: 300 * time.Millisecond, WindowStateDir: t.TempDir(), Namespaces: NamespacesOwn})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []snapshot.Direction{snapshot.Upstream, snapshot.Downstream} {
		if s := sumWindow(t, snap, dir, srv.port()); s.opened != 0 || s.closed != 0 || s.sent != 0 || s.received != 0 {
			t.Errorf("%s: %+v, want nothing: the connection ended before the window", dir, s)
		}
	}
	if w := snap.Window; w.Continued || !strings.Contains(w.Detail, "destroy events queued before the window discarded") {
		t.Errorf("window %+v, want not continued, and the discarded events in its detail", w)
	}
}

// TestWindowStateCommittedAfter: the state a window hands on is not saved
// by the scan but by commit, once its snapshot is written: a window whose
// snapshot was lost must not be continued from.
func TestWindowStateCommittedAfter(t *testing.T) {
	held := heldEvents(t)
	defer held.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, windowStateFile)
	snap, commit, err := RunPending(context.Background(), Options{Window: 200 * time.Millisecond, WindowStateDir: dir, Namespaces: NamespacesOwn})
	if err != nil || snap == nil {
		t.Fatal(snap, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s before commit: %v, want none", path, err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s after commit: %v", path, err)
	}
}
