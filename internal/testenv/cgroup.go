package testenv

import (
	"os"
	"path/filepath"
	"slices"
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
