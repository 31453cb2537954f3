package procfs

import "strconv"

// maxCgroupFile bounds what is read of <pid>/cgroup: one line per
// hierarchy, a few hundred bytes on any host.
const maxCgroupFile = 64 << 10

// Cgroup reads <pid>/cgroup, the process's control groups, one
// "hierarchy-ID:controllers:path" line per hierarchy (cgroup v2: the one
// line "0::/path"), at most 64 KiB of it. A process that has exited gives
// fs.ErrNotExist.
func (p FS) Cgroup(pid int) ([]byte, error) {
	return readBounded(p.Path(strconv.Itoa(pid), "cgroup"), maxCgroupFile)
}
