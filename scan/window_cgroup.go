package scan

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cgroupIndex maps cgroup v2 ids to paths. The kernel reports a socket's
// cgroup by id (INET_DIAG_CGROUP_ID, in dumps from Linux 5.7; destroy events
// do not carry it), which on 64-bit hosts is the inode number of the
// cgroup's directory under the cgroup2 mount; the path relative to that
// mount is what /proc/<pid>/cgroup's "0::" line says, and what
// workload.Resolver.OfPath takes.
type cgroupIndex struct {
	root   string // the cgroup2 mount; "" when none was found
	found  bool   // root looked for
	byID   map[uint64]string
	missed bool // an id not met before was looked up and not found since the last walk
	// absent: ids the last walk did not find (a cgroup removed since, or
	// not a cgroup), up to maxAbsent: looking one up again does not make
	// another walk.
	absent map[uint64]struct{}
	walked time.Time // the last walk
	walks  int
}

// cgroupRewalk is the least time between two walks of the cgroup tree for
// ids not found (a cgroup made since the last): a walk reads every cgroup
// directory on the host. maxAbsent bounds the ids remembered as not found.
const (
	cgroupRewalk = 10 * time.Second
	maxAbsent    = 4096
)

// mountinfo is where the cgroup2 mount is looked up.
var mountinfo = "/proc/self/mountinfo"

// cgroup2Root finds the cgroup2 mount point: /sys/fs/cgroup on a unified
// host, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Root() string {
	f, err := os.Open(mountinfo)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if fields := strings.Fields(pre); len(fields) >= 5 {
			return fields[4]
		}
	}
	return ""
}

// refresh walks the cgroup2 tree again, at now. Directories that vanish
// mid-walk are skipped.
func (c *cgroupIndex) refresh(now time.Time) {
	if !c.found {
		c.root, c.found = cgroup2Root(), true
	}
	c.missed, c.walked = false, now
	if c.root == "" {
		return
	}
	by := make(map[uint64]string, len(c.byID))
	_ = filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, _ := filepath.Rel(c.root, p)
		by[st.Ino] = filepath.Clean("/" + rel)
		return nil
	})
	c.byID = by
	c.walks++
	for id := range c.absent {
		if _, ok := by[id]; ok {
			delete(c.absent, id)
		}
	}
}

// refreshIfMissed walks again, at now, when an id not met before was not
// found since the last walk (a cgroup made within the window), and the
// last walk is cgroupRewalk old.
func (c *cgroupIndex) refreshIfMissed(now time.Time) {
	if c.missed && now.Sub(c.walked) >= cgroupRewalk {
		c.refresh(now)
	}
}

// path is the cgroup path of id, relative to the cgroup2 mount.
func (c *cgroupIndex) path(id uint64) (string, bool) {
	p, ok := c.byID[id]
	if ok || c.root == "" {
		return p, ok
	}
	if _, known := c.absent[id]; known {
		return "", false
	}
	c.missed = true
	if len(c.absent) < maxAbsent {
		if c.absent == nil {
			c.absent = map[uint64]struct{}{}
		}
		c.absent[id] = struct{}{}
	}
	return "", false
}
