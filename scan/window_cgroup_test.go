package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/scan/sockdiag"
)

// TestCgroupIndex: cgroup ids (directory inodes under the cgroup2 mount
// that mountinfo names) map to paths relative to the mount; an id not
// found makes the next refreshIfMissed walk again, which finds a cgroup
// made since.
func TestCgroupIndex(t *testing.T) {
	root := t.TempDir()
	mi := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(mi, []byte("30 1 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"+
		"35 30 0:30 / "+root+" rw,relatime - cgroup2 cgroup2 rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := mountinfo
	mountinfo = mi
	t.Cleanup(func() { mountinfo = old })
	inode := func(p string) uint64 {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	svc := filepath.Join(root, "system.slice", "db.service")
	if err := os.MkdirAll(svc, 0o755); err != nil {
		t.Fatal(err)
	}
	var c cgroupIndex
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.refresh(start)
	tests := []struct {
		id   uint64
		want string
		ok   bool
	}{
		{inode(root), "/", true},
		{inode(svc), "/system.slice/db.service", true},
		{inode(mi), "", false}, // not a cgroup
	}
	for _, tt := range tests {
		if got, ok := c.path(tt.id); got != tt.want || ok != tt.ok {
			t.Errorf("path(%d) = %q, %v; want %q, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
	later := filepath.Join(root, "system.slice", "late.service")
	if err := os.Mkdir(later, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.path(inode(later)); ok {
		t.Fatal("a cgroup made after the walk was found before another")
	}
	c.refreshIfMissed(start.Add(cgroupRewalk))
	if got, ok := c.path(inode(later)); !ok || got != "/system.slice/late.service" {
		t.Errorf("after a miss and refreshIfMissed: %q, %v", got, ok)
	}
	// An id no walk finds (a cgroup removed, or none) is looked for once:
	// looking it up again does not walk again. A new miss walks again, but
	// not sooner than cgroupRewalk after the last walk.
	walks := c.walks
	for i := range 3 {
		c.path(inode(mi))
		c.refreshIfMissed(start.Add(time.Duration(i+2) * cgroupRewalk))
	}
	if c.walks != walks {
		t.Errorf("%d walks for an id known not to be found, want none", c.walks-walks)
	}
	again := filepath.Join(root, "system.slice", "again.service")
	if err := os.Mkdir(again, 0o755); err != nil {
		t.Fatal(err)
	}
	c.path(inode(again))
	c.refreshIfMissed(start.Add(cgroupRewalk + time.Second))
	if c.walks != walks {
		t.Error("walked again sooner than cgroupRewalk after the last walk")
	}
	c.refreshIfMissed(start.Add(2 * cgroupRewalk))
	if got, ok := c.path(inode(again)); !ok || got != "/system.slice/again.service" || c.walks != walks+1 {
		t.Errorf("%d walks later: %q, %v, want one walk that finds the new cgroup", c.walks-walks, got, ok)
	}
}

// TestWindowNamespaceRefused: where another network namespace's destroy
// events cannot be had (entering it refused, as under the packaged unit),
// the window goes on without them and the snapshot counts the namespace
// as unwatched and says why. Needs root (a namespace to refuse).
func TestWindowNamespaceRefused(t *testing.T) {
	lab := testnet.New(t)
	other := lab.Host("other")
	anchorIn(t, other)
	refused := errors.New("setns refused for the test")
	subscribeIn = func(sockdiag.Namespace, int) (*sockdiag.Events, error) { return nil, refused }
	t.Cleanup(func() { subscribeIn = sockdiag.SubscribeIn })
	snap, err := Run(context.Background(), Options{Window: 500 * time.Millisecond, Namespaces: NamespacesAll})
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}
	w := snap.Window
	if w.NamespacesUnwatched < 1 || w.Namespaces != 1 || !strings.Contains(w.Detail, refused.Error()) {
		t.Errorf("window %+v: want its own namespace heard, at least one unwatched, and why", w)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+other.Name, &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Detail, strconv.FormatUint(st.Ino, 10)) {
		t.Errorf("window detail %q does not name the unwatched namespace %d", w.Detail, st.Ino)
	}
	warned := false
	for _, s := range snap.Warnings {
		warned = warned || strings.Contains(s, "cannot be had")
	}
	if !warned {
		t.Errorf("warnings %q do not say another namespace's events cannot be had", snap.Warnings)
	}
}
