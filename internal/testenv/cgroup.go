package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RemoveCgroups removes the cgroup directory base and every cgroup below
// it, deepest first, retrying each for up to two seconds: rmdir of a cgroup
// fails with EBUSY while a process is still in it, and a killed test
// process leaves it only once the kernel has reaped it.
func RemoveCgroups(t testing.TB, base string) {
	t.Helper()
	var dirs []string
	_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, d := range dirs {
		var err error
		for range 100 {
			if err = os.Remove(d); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("remove cgroup %s: %v", d, err)
		}
	}
}

// Cgroups is a test-owned subtree of the cgroup v2 hierarchy
// (<cgroup2 mount>/planet-test-<pid>), removed with RemoveCgroups when the
// test ends: register it before the processes placed in it, so that their
// clean-ups (which run first) have ended them by then.
type Cgroups struct {
	t    testing.TB
	Base string // the subtree's directory
}

// NewCgroups creates the subtree; it skips t (fails it when strict) where
// cgroup v2 is not mounted or a cgroup cannot be created.
func NewCgroups(t testing.TB) *Cgroups {
	t.Helper()
	mount := ""
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// id parent major:minor root mountpoint opts... - fstype source superopts
			pre, post, ok := strings.Cut(line, " - ")
			if f := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
				mount = f[4]
				break
			}
		}
	}
	if mount == "" {
		Unavailable(t, "cgroup2 is not mounted")
	}
	c := &Cgroups{t: t, Base: filepath.Join(mount, "planet-test-"+strconv.Itoa(os.Getpid()))}
	if err := os.Mkdir(c.Base, 0o755); err != nil {
		Unavailable(t, "cannot create a cgroup: %v", err)
	}
	t.Cleanup(func() { RemoveCgroups(t, c.Base) })
	return c
}

// Dir creates the cgroup rel (a path below Base, e.g.
// "system.slice/x.service") and returns its directory.
func (c *Cgroups) Dir(rel string) string {
	c.t.Helper()
	d := filepath.Join(c.Base, rel)
	if err := os.MkdirAll(d, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return d
}

// Into makes cmd, not yet started, start in the cgroup rel (clone3 with
// CLONE_INTO_CGROUP): it and its children are there from their first
// instruction.
func (c *Cgroups) Into(cmd *exec.Cmd, rel string) {
	c.t.Helper()
	fd, err := syscall.Open(c.Dir(rel), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { syscall.Close(fd) })
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
}
