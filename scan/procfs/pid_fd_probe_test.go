package procfs

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSocketInodesTableChanges: on the live /proc, sockets this process
// holds throughout a walk are all found while its fd table changes between
// the count of its open fds and the probe of their numbers (testHookProbe):
// above all a socket far above the probe's range (a long-lived connection
// at fd 5000 in a server whose table peaked and shrank), which the fds
// opened meanwhile, taking free numbers inside the range, must not hide.
func TestSocketInodesTableChanges(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err != nil || st.Size == 0 {
		t.Skipf("/proc/self/fd does not report its open fds as its size (Linux 6.2 and later): %v", err)
	}
	self := os.Getpid()
	var held, files []int // closed at the end
	t.Cleanup(func() {
		for _, fd := range slices.Concat(held, files) {
			unix.Close(fd)
		}
	})
	open := func() int {
		t.Helper()
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	socket := func(at int) (fd int, inode uint64) {
		t.Helper()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if at > 0 {
			if err := unix.Dup3(fd, at, unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			fd = at
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		return fd, st.Ino
	}
	// A dense table of 200 files with a socket every 20th fd, and sockets
	// at 3000 and 5000.
	var want []uint64
	for i := range 200 {
		if i%20 == 0 {
			fd, inode := socket(0)
			held = append(held, fd)
			want = append(want, inode)
		}
		files = append(files, open())
	}
	for _, at := range []int{3000, 5000} {
		fd, inode := socket(at)
		held = append(held, fd)
		want = append(want, inode)
	}

	for _, tc := range []struct {
		name string
		// setup runs before the walk and returns what it opened,
		// during between the count and the probe, after once the walk
		// is done.
		setup, during func() []int
		after         func()
	}{
		{name: "quiet"},
		{name: "grows", during: func() []int {
			var fds []int
			for range 100 {
				fds = append(fds, open())
			}
			return fds
		}},
		{name: "grows by fewer than are above", during: func() []int { return []int{open()} }},
		{name: "shrinks", during: func() []int {
			for _, fd := range files[:40] {
				unix.Close(fd)
			}
			return nil
		}, after: func() {
			for i := range files[:40] {
				files[i] = open()
			}
		}},
		{name: "sparse, grows", setup: func() []int {
			// 1,800 more fds, two thirds of them closed: the probe
			// misses too many, and leaves its unread chunks to the
			// listing.
			var kept []int
			for i := range 1800 {
				fd := open()
				if i%3 != 0 {
					defer unix.Close(fd)
					continue
				}
				kept = append(kept, fd)
			}
			return kept
		}, during: func() []int {
			var fds []int
			for range 300 {
				fds = append(fds, open())
			}
			return fds
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []int
			defer func() {
				for _, fd := range extra {
					unix.Close(fd)
				}
			}()
			if tc.setup != nil {
				extra = append(extra, tc.setup()...)
			}
			ran := false
			testHookProbe = func(pid int) {
				if pid == self && tc.during != nil && !ran {
					ran = true
					extra = append(extra, tc.during()...)
				}
			}
			defer func() { testHookProbe = nil }()
			held, _ := FS{Root: "/proc"}.SocketInodes([]int{self}, 2, nil)
			got := held[0]
			if tc.after != nil {
				tc.after()
			}
			if tc.during != nil && !ran {
				t.Fatal("the fd numbers were not probed")
			}
			slices.Sort(got)
			for _, inode := range want {
				if _, ok := slices.BinarySearch(got, inode); !ok {
					t.Errorf("socket %d, open throughout the walk, not found", inode)
				}
			}
		})
	}
}
