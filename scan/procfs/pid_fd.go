package procfs

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
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
		if inode, kind := linkOfFD(fd, n, &name, buf); kind == linkSocket {
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
// the next processes' directories are opened.
//
// names[i] is the command name of pids[i] (<pid>/comm, as Comm reads it)
// when it holds a socket that named accepts (nil: any), read right after
// its fd links, through its open fd directory: a process that exits later
// in the walk keeps its name, and one that exited (or whose PID was taken
// by another process) before it is read has "", never another's name.
//
// Listing a process's fd directory costs a third as much again as reading
// its links (the kernel looks every entry up to list it), so a process with
// many fds, whose fd numbers are nearly all taken from 0 up (the kernel
// hands out the lowest free one), is not listed: where the proc root is a
// proc filesystem whose fd directories report their number of open fds as
// their size (Linux 6.2 and later), the numbers from 0 up to a little more
// than that count are read, and the directory is listed only from the
// first number above that range on (a few entries, or none, in a dense
// table). A probe that misses too many numbers (a sparse table) stops, and
// a listing of the whole directory reads the rest.
func (p FS) SocketInodes(pids []int, workers int, named func(inode uint64) bool) (held [][]uint64, names []string) {
	held = make([][]uint64, len(pids))
	names = make([]string, len(pids))
	var sfs unix.Statfs_t
	probe := unix.Statfs(p.Root, &sfs) == nil && sfs.Type == unix.PROC_SUPER_MAGIC
	work := make(chan *fdChunk, 64)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var name [16]byte
			buf := make([]byte, 64)
			var dents []byte
			for c := range work {
				d := c.dir
				hits := 0
				read := func(n int32) {
					inode, kind := linkOfFD(d.fd, n, &name, buf)
					if kind != linkMissing {
						hits++
					}
					if kind == linkSocket {
						c.inodes = append(c.inodes, inode)
					}
				}
				switch {
				case c.fds != nil:
					for _, n := range c.fds {
						read(n)
					}
				case d.abort.Load():
					// The table is too sparse to probe: the listing
					// below reads this chunk's fds.
					d.skipped[c.lo/fdChunkSize].Store(true)
				default:
					for n := c.lo; n < c.hi; n++ {
						read(n)
					}
					if misses := d.misses.Add(int64(c.hi-c.lo) - int64(hits)); misses > d.open/maxMissShare+fdChunkSize {
						d.abort.Store(true)
					}
				}
				if !d.named.Load() && holdsNamed(c.inodes, named) {
					d.named.Store(true)
				}
				if d.left.Add(-1) != 0 {
					continue
				}
				// The last chunk of the directory: list it for the fds
				// above the probe's range, always (the count cannot tell
				// that none are there: fds opened during the probe take
				// free numbers inside the range and make up for one far
				// above it), and for those of the chunks it skipped. A
				// proc fd directory's entry for fd n is at offset n+2
				// (after "." and ".."), so the listing starts at the
				// first number not probed, unless chunks were skipped.
				if d.probed > 0 {
					if dents == nil {
						dents = make([]byte, direntBuf)
					}
					if !d.abort.Load() {
						if _, err := unix.Seek(d.fd, int64(d.probed)+2, 0); err != nil {
							unix.Seek(d.fd, 0, 0) // list it all: the check below keeps what is above the range
						}
					}
					fds, _ := fdNumbers(d.fd, dents, nil)
					for _, n := range fds {
						if n >= d.probed || d.skipped[n/fdChunkSize].Load() {
							if inode, kind := linkOfFD(d.fd, n, &name, buf); kind == linkSocket {
								d.rest = append(d.rest, inode)
							}
						}
					}
				}
				if d.named.Load() || holdsNamed(d.rest, named) {
					names[d.i] = commAt(d.fd, buf)
				}
				if testHookFDsRead != nil {
					testHookFDsRead(pids[d.i])
				}
				unix.Close(d.fd)
			}
		}()
	}
	var chunks []*fdChunk
	var dirs []*fdDir
	dents := make([]byte, direntBuf)
	var fds []int32
	for i, pid := range pids {
		fd, err := unix.Open(p.Path(strconv.Itoa(pid), "fd"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		dir := &fdDir{fd: fd, i: i}
		var st unix.Stat_t
		if probe && unix.Fstat(fd, &st) == nil && st.Size >= minProbe && st.Size < 1<<30 {
			dir.open = st.Size
			dir.probed = int32(st.Size + st.Size/32 + 16)
			if testHookProbe != nil {
				testHookProbe(pid)
			}
			n := (int(dir.probed) + fdChunkSize - 1) / fdChunkSize
			dir.left.Store(int32(n))
			dir.skipped = make([]atomic.Bool, n)
			dirs = append(dirs, dir)
			for lo := int32(0); lo < dir.probed; lo += fdChunkSize {
				c := &fdChunk{dir: dir, i: i, lo: lo, hi: min(lo+fdChunkSize, dir.probed)}
				chunks = append(chunks, c)
				work <- c
			}
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
	for _, d := range dirs {
		held[d.i] = append(held[d.i], d.rest...)
	}
	return held, names
}

// holdsNamed tells whether named (nil: any) accepts one of inodes.
func holdsNamed(inodes []uint64, named func(uint64) bool) bool {
	if named == nil {
		return len(inodes) > 0
	}
	for _, inode := range inodes {
		if named(inode) {
			return true
		}
	}
	return false
}

// commAt reads the comm file beside the open fd directory dirfd (its
// "../comm": the same process's, even once its PID is reused) into buf,
// and returns the name without its newline: "" when it cannot be read
// (the process exited).
func commAt(dirfd int, buf []byte) string {
	fd, err := unix.Openat(dirfd, "../comm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return strings.TrimSuffix(string(buf[:n]), "\n")
}

// testHookFDsRead, when set (by tests), is called by the worker that read
// the last fds of a process (and its name), with its PID.
var testHookFDsRead func(pid int)

// testHookProbe, when set (by tests), is called with the PID of each
// process whose fd numbers are probed, once its open fds are counted and
// before any is read.
var testHookProbe func(pid int)

// fdChunkSize is how many fds of one process a worker reads at a time.
const fdChunkSize = 256

// minProbe is the fewest open fds for which a process's fd numbers are
// probed rather than listed: below it, the probe's spare numbers cost about
// what the listing would.
const minProbe = 64

// direntBuf is the getdents buffer: some 1,300 fd entries a call.
const direntBuf = 32 << 10

// fdDir is an open <pid>/fd directory (pids[i]'s), closed by the worker
// that finishes its last chunk.
type fdDir struct {
	fd   int
	i    int
	left atomic.Int32 // chunks not yet read
	// named: a chunk found a socket SocketInodes' named accepts.
	named atomic.Bool
	// A probed directory: open is the number of open fds its size gave,
	// probed the fd numbers read (0 to probed-1), misses the numbers among
	// them not open, rest the sockets the listing found above them or in
	// the skipped chunks. Once the misses pass open/maxMissShare (and a
	// chunk), abort: the chunks not yet read are skipped, and left to the
	// listing.
	open    int64
	probed  int32
	misses  atomic.Int64
	abort   atomic.Bool
	skipped []atomic.Bool // by chunk (number / fdChunkSize)
	rest    []uint64
}

// maxMissShare: a probe stops once more than 1/maxMissShare of the open
// fds' count has been missed: the table is sparse, and listing it costs
// less.
const maxMissShare = 8

// fdChunk is a run of one process's fds (pids[i]'s): the listed fds, or
// (fds nil) the numbers lo to hi-1; inodes are the sockets found among
// them.
type fdChunk struct {
	dir    *fdDir
	i      int
	fds    []int32
	lo, hi int32
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

// What linkOfFD found.
const (
	linkMissing = iota // no such fd (closed, never open), or unreadable
	linkOther          // an fd that is not a socket (or a link too long for the buffer)
	linkSocket
)

// linkOfFD reads the link of fd n in the open fd directory dirfd into buf
// (name is scratch space for its NUL-terminated name) and parses it as a
// socket's.
func linkOfFD(dirfd int, n int32, name *[16]byte, buf []byte) (uint64, int) {
	s := strconv.AppendInt(name[:0], int64(n), 10)
	s = append(s, 0)
	// The raw call: unix.Readlinkat copies the name to a new C string each
	// time, one allocation per fd of every process.
	r, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(&s[0])),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, linkMissing
	}
	if int(r) >= len(buf) {
		return 0, linkOther
	}
	if inode, ok := socketInode(buf[:r]); ok {
		return inode, linkSocket
	}
	return 0, linkOther
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
