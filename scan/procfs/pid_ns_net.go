package procfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotNetNS is wrapped when a <pid>/ns/net link does not read
// "net:[<inode>]".
var ErrNotNetNS = errors.New("not a network namespace link")

// NetNSPath is the path of the <process>/ns/net link, process being a PID
// ("1234"), "self" or "thread-self": what setns(2) opens to enter the
// namespace.
func (p FS) NetNSPath(process string) string { return p.Path(process, "ns", "net") }

// NetNS reads the <process>/ns/net link (see NetNSPath): the inode that
// identifies the process's network namespace. A process that has exited
// gives fs.ErrNotExist; another user's, without CAP_SYS_PTRACE,
// fs.ErrPermission; a link of another form wraps ErrNotNetNS.
func (p FS) NetNS(process string) (uint64, error) {
	return p.netNS(process, make([]byte, 64))
}

// netNS is NetNS with buf as scratch space for the link, so that a walk
// over every process allocates once.
func (p FS) netNS(process string, buf []byte) (uint64, error) {
	path := p.NetNSPath(process)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return 0, fmt.Errorf("readlink %s: %w", path, err)
	}
	if n >= len(buf) {
		return 0, fmt.Errorf("%s: %w", path, ErrNotNetNS)
	}
	inode, ok := ParseNetNSLink(string(buf[:n]))
	if !ok {
		return 0, fmt.Errorf("%s: %q: %w", path, buf[:n], ErrNotNetNS)
	}
	return inode, nil
}

// NetNSOf is NetNS of a process by PID.
func (p FS) NetNSOf(pid int) (uint64, error) { return p.NetNS(strconv.Itoa(pid)) }

// NetNSAll reads the ns/net link of every process in pids, in order: fn
// gets each PID with its namespace's inode, or the error NetNS gives.
// It allocates one buffer for all the links.
func (p FS) NetNSAll(pids []int, fn func(pid int, inode uint64, err error)) {
	buf := make([]byte, 64)
	for _, pid := range pids {
		inode, err := p.netNS(strconv.Itoa(pid), buf)
		fn(pid, inode, err)
	}
}

// ParseNetNSLink parses an ns link, "net:[4026531840]", to its inode;
// ok is false for anything else, inode 0 included.
func ParseNetNSLink(link string) (inode uint64, ok bool) {
	s, ok := strings.CutPrefix(link, "net:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n != 0
}
