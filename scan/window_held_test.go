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

	"golang.org/x/sys/unix"

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

// TestWindowStateUnreadable: what is at the state file's path and cannot be
// a state (a FIFO, which a plain read would wait on forever; a file far
// larger than any state, which a plain read would take whole) costs the
// continuation, with a warning, not the scan.
func TestWindowStateUnreadable(t *testing.T) {
	tests := []struct {
		name, warning string
		make          func(path string) error
	}{
		{"fifo", "not a regular file", func(path string) error { return unix.Mkfifo(path, 0o600) }},
		{"huge", "larger than", func(path string) error {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			return errors.Join(f.Truncate(1<<40), f.Close()) // sparse: 1 TiB of zeros
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := heldEvents(t)
			defer held.Close()
			dir := t.TempDir()
			if err := tt.make(filepath.Join(dir, windowStateFile)); err != nil {
				t.Fatal(err)
			}
			type result struct {
				snap *snapshot.Snapshot
				err  error
			}
			done := make(chan result, 1)
			go func() {
				s, _, err := RunPending(context.Background(), Options{Window: 100 * time.Millisecond, WindowStateDir: dir, Namespaces: NamespacesOwn})
				done <- result{s, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the scan is stuck on the state file")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if w := strings.Join(r.snap.Warnings, "\n"); !strings.Contains(w, "hand-on state is unreadable") || !strings.Contains(w, tt.warning) {
				t.Errorf("warnings %q, want the state unreadable: %s", w, tt.warning)
			}
			if r.snap.Window.Continued {
				t.Error("continued from an unreadable state")
			}
		})
	}
}
