// Package procfs reads the files of a Linux proc filesystem that planet
// needs, one file of this package per file of /proc (net_tcp.go reads
// <root>/net/tcp and tcp6, pid_fd.go <root>/<pid>/fd, and so on). Every
// reader is rooted at FS.Root, so a test points it at a fixture tree and
// the scan of another network namespace at /proc/<pid>.
//
// The readers return the file's facts as the kernel prints them (decoded,
// not interpreted): which socket is a dependency, which route gives the
// host's identity, is the scan's business. File formats are those of
// Documentation/filesystems/proc.rst and the kernel sources each file
// names.
package procfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// FS is a proc filesystem rooted at Root: "/proc" for the live host, a
// fixture tree in tests, "/proc/<pid>" for the network files (net/*) of
// another process's network namespace.
type FS struct{ Root string }

// Path joins elem under the root.
func (p FS) Path(elem ...string) string {
	return filepath.Join(append([]string{p.Root}, elem...)...)
}

// PIDs lists the processes under the root (its numeric directories),
// ascending. A process may exit as soon as it is listed: readers of its
// files must expect fs.ErrNotExist.
func (p FS) PIDs() ([]int, error) {
	root, err := os.Open(p.Root)
	if err != nil {
		return nil, err
	}
	names, err := root.Readdirnames(-1)
	root.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Root, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// readBounded reads at most limit bytes of a /proc file: the size /proc
// reports (0) says nothing of how much a read returns.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
