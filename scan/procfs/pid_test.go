package procfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// pidTree makes a proc root with processes 1, 7 and 12: their fd links,
// ns/net links and comm files as the kernel shows them.
func pidTree(t *testing.T) FS {
	t.Helper()
	root := t.TempDir()
	link := func(target string, elem ...string) {
		p := filepath.Join(append([]string{root}, elem...)...)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link("net:[4026531840]", "1", "ns", "net")
	link("socket:[100]", "1", "fd", "3")
	link("/dev/null", "1", "fd", "0")
	link("net:[4026532999]", "7", "ns", "net")
	link("socket:[200]", "7", "fd", "4")
	link("socket:[200]", "7", "fd", "5")
	link("pipe:[300]", "7", "fd", "6")
	link("mnt:[4026531841]", "12", "ns", "net")
	link("7", "self")
	if err := os.WriteFile(filepath.Join(root, "7", "comm"), []byte("nginx: worker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"sys", "12x", "0"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return FS{Root: root}
}

func TestPIDs(t *testing.T) {
	p := pidTree(t)
	got, err := p.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 7, 12}; !slices.Equal(got, want) {
		t.Errorf("PIDs = %v, want %v", got, want)
	}
	if _, err := (FS{Root: filepath.Join(p.Root, "missing")}).PIDs(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("PIDs of a missing root: %v, want fs.ErrNotExist", err)
	}
}

func TestFDSockets(t *testing.T) {
	p := pidTree(t)
	buf := make([]byte, 64)
	for _, tt := range []struct {
		pid     int
		want    []uint64
		wantErr error
	}{
		{pid: 1, want: []uint64{100}},
		{pid: 7, want: []uint64{200, 200}}, // one socket on two fds
		{pid: 12, wantErr: fs.ErrNotExist}, // no fd directory
		{pid: 99, wantErr: fs.ErrNotExist}, // exited
	} {
		var got []uint64
		err := p.FDSockets(tt.pid, buf, func(inode uint64) { got = append(got, inode) })
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("pid %d: err = %v, want %v", tt.pid, err, tt.wantErr)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("pid %d: sockets %v, want %v", tt.pid, got, tt.want)
		}
	}
}

// TestSocketInodes: the parallel walk finds what FDSockets finds, process
// by process, with one process's fds split between the workers (more than
// fdChunkSize of them) and processes without an fd directory or exited.
func TestSocketInodes(t *testing.T) {
	p := pidTree(t)
	big := filepath.Join(p.Root, "30", "fd")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	var want30 []uint64
	for fd := range 3*fdChunkSize + 7 {
		target := "pipe:[1]"
		if fd%3 != 0 {
			target = fmt.Sprintf("socket:[%d]", 5000+fd)
			want30 = append(want30, uint64(5000+fd))
		}
		if err := os.Symlink(target, filepath.Join(big, strconv.Itoa(fd))); err != nil {
			t.Fatal(err)
		}
	}
	pids := []int{1, 7, 12, 30, 99}
	want := [][]uint64{{100}, {200, 200}, nil, want30, nil}
	for _, workers := range []int{1, 2, 8} {
		got, _ := p.SocketInodes(pids, workers, nil)
		if len(got) != len(pids) {
			t.Fatalf("workers=%d: %d results for %d processes", workers, len(got), len(pids))
		}
		for i := range pids {
			slices.Sort(got[i])
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("workers=%d: pid %d: %d sockets %v, want %d", workers, pids[i], len(got[i]), got[i][:min(len(got[i]), 5)], len(want[i]))
			}
		}
	}
}

func TestNetNS(t *testing.T) {
	p := pidTree(t)
	for _, tt := range []struct {
		process string
		want    uint64
		wantErr error
	}{
		{process: "1", want: 4026531840},
		{process: "self", want: 4026532999},
		{process: "12", wantErr: ErrNotNetNS},
		{process: "99", wantErr: fs.ErrNotExist},
	} {
		got, err := p.NetNS(tt.process)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("NetNS(%s) = %d, %v; want %d, %v", tt.process, got, err, tt.want, tt.wantErr)
		}
	}
	got := map[int]uint64{}
	p.NetNSAll([]int{1, 7, 12, 99}, func(pid int, inode uint64, err error) {
		if err == nil {
			got[pid] = inode
		}
	})
	if want := map[int]uint64{1: 4026531840, 7: 4026532999}; !maps.Equal(got, want) {
		t.Errorf("NetNSAll = %v, want %v", got, want)
	}
	for link, want := range map[string]uint64{"net:[4026531840]": 4026531840, "net:[0]": 0, "net:[x]": 0, "mnt:[1]": 0, "net:[1": 0} {
		if got, ok := ParseNetNSLink(link); got != want || ok != (want != 0) {
			t.Errorf("ParseNetNSLink(%q) = %d, %v", link, got, ok)
		}
	}
}

func TestComm(t *testing.T) {
	p := pidTree(t)
	if got, err := p.Comm(7); got != "nginx: worker" || err != nil {
		t.Errorf("Comm(7) = %q, %v; want the name without its newline", got, err)
	}
	if _, err := p.Comm(99); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Comm of an exited process: %v, want fs.ErrNotExist", err)
	}
}

func TestCgroupAndCmdline(t *testing.T) {
	p := pidTree(t)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(p.Root, "7", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cgroup", "0::/system.slice/nginx.service\n")
	write("cmdline", "nginx: worker process\x00\x00")
	if got, err := p.Cgroup(7); string(got) != "0::/system.slice/nginx.service\n" || err != nil {
		t.Errorf("Cgroup(7) = %q, %v", got, err)
	}
	if got, err := p.Cmdline(7, 64); string(got) != "nginx: worker process\x00\x00" || err != nil {
		t.Errorf("Cmdline(7, 64) = %q, %v", got, err)
	}
	if got, err := p.Cmdline(7, 5); string(got) != "nginx" || err != nil {
		t.Errorf("Cmdline(7, 5) = %q, %v; want it cut at 5 bytes", got, err)
	}
	if _, err := p.Cgroup(99); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Cgroup of an exited process: %v, want fs.ErrNotExist", err)
	}
}

// TestSocketInodesLive: on the live /proc, where fd numbers are probed
// rather than listed (a process with more than minProbe fds), this
// process's sockets are all found: with holes in its fd table, and with a
// socket far above the others, which the probe misses and the listing
// that follows it finds.
func TestSocketInodesLive(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err != nil || st.Size == 0 {
		t.Skipf("/proc/self/fd does not report its open fds as its size (Linux 6.2 and later): %v", err)
	}
	self := os.Getpid()
	want := map[uint64]bool{}
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for i := range 200 {
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, pair[0], pair[1])
		if i%7 == 0 { // a hole in the fd table
			unix.Close(pair[1])
			fds = fds[:len(fds)-1]
		}
	}
	inode := func(fd int) uint64 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	for _, fd := range fds {
		want[inode(fd)] = true
	}
	check := func(name string) {
		t.Helper()
		held, _ := FS{Root: "/proc"}.SocketInodes([]int{self}, 2, nil)
		got := held[0]
		var listed []uint64
		if err := (FS{Root: "/proc"}).FDSockets(self, make([]byte, 64), func(i uint64) { listed = append(listed, i) }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		slices.Sort(listed)
		if !slices.Equal(got, listed) {
			t.Errorf("%s: SocketInodes found %d sockets, the listing %d", name, len(got), len(listed))
		}
		for i := range want {
			if _, ok := slices.BinarySearch(got, i); !ok {
				t.Errorf("%s: socket %d not found", name, i)
			}
		}
	}
	check("holes")
	high, err := unix.FcntlInt(uintptr(fds[0]), unix.F_DUPFD_CLOEXEC, 5000)
	if err != nil {
		t.Fatal(err)
	}
	fds = append(fds, high)
	delete(want, inode(fds[1]))
	unix.Close(fds[1]) // and one closed, so the count is not made up by the high one
	fds = slices.Delete(fds, 1, 2)
	check("far above")
	// A sparse table: two thirds of 1,800 more fds closed, so that the
	// probe misses too many, gives up, and leaves its unread chunks to
	// the listing.
	var more []int
	for range 900 {
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		more = append(more, pair[0], pair[1])
	}
	for i, fd := range more {
		if i%3 != 0 {
			unix.Close(fd)
			continue
		}
		fds = append(fds, fd)
		want[inode(fd)] = true
	}
	check("sparse")
}
