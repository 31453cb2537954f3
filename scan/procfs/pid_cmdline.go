package procfs

import "strconv"

// Cmdline reads <pid>/cmdline, the process's arguments each ended by a
// NUL byte, at most limit bytes of it (a longer command line comes cut
// at limit). A kernel thread's is empty; a process that has exited gives
// fs.ErrNotExist.
func (p FS) Cmdline(pid int, limit int64) ([]byte, error) {
	return readBounded(p.Path(strconv.Itoa(pid), "cmdline"), limit)
}
