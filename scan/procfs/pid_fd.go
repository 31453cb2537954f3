package procfs

import (
	"errors"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// FDSockets calls fn with the inode of every socket among the open file
// descriptors of process pid (the <pid>/fd/* links that read
// "socket:[<inode>]"), in directory order: a socket on two fds comes
// twice. buf is scratch space for one link (64 bytes hold any socket's;
// longer links are skipped), so that a walk over every process allocates
// once. The error is the directory's: fs.ErrNotExist or ESRCH when the
// process has exited, fs.ErrPermission for another user's process when
// not root. Links that vanish mid-walk are skipped.
func (p FS) FDSockets(pid int, buf []byte, fn func(inode uint64)) error {
	dir := p.Path(strconv.Itoa(pid), "fd")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	for {
		fds, err := f.Readdirnames(1024)
		for _, n := range fds {
			l, err := unix.Readlinkat(fd, n, buf)
			if err != nil || l >= len(buf) {
				continue
			}
			if inode, ok := socketInode(buf[:l]); ok {
				fn(inode)
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(fds) == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// socketInode parses a "socket:[12345]" fd link.
func socketInode(link []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(link) < len(prefix)+2 || string(link[:len(prefix)]) != prefix || link[len(link)-1] != ']' {
		return 0, false
	}
	var n uint64
	for _, c := range link[len(prefix) : len(link)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
