package procfs

import (
	"encoding/binary"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FDSockets calls fn with the inode of every socket among the open file
// descriptors of process pid (the <pid>/fd/* links that read
// "socket:[<inode>]"), in directory order: a socket on two fds comes
// twice. buf is scratch space for one link (64 bytes hold any socket's;
// longer links are skipped). The error is the directory's: fs.ErrNotExist
// or ESRCH when the process has exited, fs.ErrPermission for another
// user's process when not root. Links that vanish mid-walk are skipped.
func (p FS) FDSockets(pid int, buf []byte, fn func(inode uint64)) error {
	dir := p.Path(strconv.Itoa(pid), "fd")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	fds, err := fdNumbers(fd, make([]byte, direntBuf), nil)
	if err != nil {
		return &os.PathError{Op: "getdents", Path: dir, Err: err}
	}
	var name [16]byte
	for _, n := range fds {
		if inode, ok := socketOfFD(fd, n, &name, buf); ok {
			fn(inode)
		}
	}
	return nil
}

// SocketInodes reads, for every process of pids, the inodes of the sockets
// among its open file descriptors, as FDSockets does: held[i] are those of
// pids[i], in no particular order (a socket on two fds comes twice). A
// process whose fd directory cannot be read (it exited, or another user's
// when not root) holds none here. One readlink per open fd is most of the
// cost, and the kernel serves them in parallel: the links are read on up
// to workers goroutines, a process with many fds split between them, while
// the next processes' directories are listed.
func (p FS) SocketInodes(pids []int, workers int) (held [][]uint64) {
	held = make([][]uint64, len(pids))
	work := make(chan *fdChunk, 64)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var name [16]byte
			buf := make([]byte, 64)
			for c := range work {
				for _, n := range c.fds {
					if inode, ok := socketOfFD(c.dir.fd, n, &name, buf); ok {
						c.inodes = append(c.inodes, inode)
					}
				}
				if c.dir.left.Add(-1) == 0 {
					unix.Close(c.dir.fd)
				}
			}
		}()
	}
	var chunks []*fdChunk
	dents := make([]byte, direntBuf)
	var fds []int32
	for i, pid := range pids {
		fd, err := unix.Open(p.Path(strconv.Itoa(pid), "fd"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		fds, err = fdNumbers(fd, dents, fds[:0])
		if err != nil || len(fds) == 0 {
			unix.Close(fd)
			continue
		}
		// The chunks keep their own copy: fds is reused for the next
		// process.
		all := append([]int32(nil), fds...)
		dir := &fdDir{fd: fd}
		n := (len(all) + fdChunkSize - 1) / fdChunkSize
		dir.left.Store(int32(n))
		for len(all) > 0 {
			k := min(len(all), fdChunkSize)
			c := &fdChunk{dir: dir, i: i, fds: all[:k:k]}
			all = all[k:]
			chunks = append(chunks, c)
			work <- c
		}
	}
	close(work)
	wg.Wait()
	for _, c := range chunks {
		held[c.i] = append(held[c.i], c.inodes...)
	}
	return held
}

// fdChunkSize is how many fds of one process a worker reads at a time.
const fdChunkSize = 256

// direntBuf is the getdents buffer: some 1,300 fd entries a call.
const direntBuf = 32 << 10

// fdDir is an open <pid>/fd directory, closed by the worker that finishes
// its last chunk.
type fdDir struct {
	fd   int
	left atomic.Int32 // chunks not yet read
}

// fdChunk is a run of one process's fds (pids[i]'s) and the socket inodes
// found among them.
type fdChunk struct {
	dir    *fdDir
	i      int
	fds    []int32
	inodes []uint64
}

// fdNumbers appends the fd numbers listed in the open fd directory dirfd
// to out (getdents into buf, no allocation per entry). Names that are not
// numbers ("." and ".." of a fixture tree) are skipped.
func fdNumbers(dirfd int, buf []byte, out []int32) ([]int32, error) {
	for {
		n, err := unix.Getdents(dirfd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if n <= 0 {
			return out, nil
		}
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
		// d_type u8, d_name NUL-terminated.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			if v, ok := fdName(b[19:reclen]); ok {
				out = append(out, v)
			}
			b = b[reclen:]
		}
	}
}

// fdName parses a NUL-terminated fd directory entry name as an fd number.
func fdName(name []byte) (int32, bool) {
	var v int64
	digits := 0
	for _, c := range name {
		if c == 0 {
			break
		}
		if c < '0' || c > '9' || digits == 10 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
		digits++
	}
	if digits == 0 || v > 1<<31-1 {
		return 0, false
	}
	return int32(v), true
}

// socketOfFD reads the link of fd n in the open fd directory dirfd into
// buf (name is scratch space for its NUL-terminated name) and parses it
// as a socket's. A link that vanished, or is longer than buf, is not one.
func socketOfFD(dirfd int, n int32, name *[16]byte, buf []byte) (uint64, bool) {
	s := strconv.AppendInt(name[:0], int64(n), 10)
	s = append(s, 0)
	// The raw call: unix.Readlinkat copies the name to a new C string each
	// time, one allocation per fd of every process.
	r, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(&s[0])),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 || int(r) >= len(buf) {
		return 0, false
	}
	return socketInode(buf[:r])
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
