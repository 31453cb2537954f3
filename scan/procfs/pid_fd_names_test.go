package procfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSocketInodesNames: SocketInodes names each process holding a
// (wanted) socket right after its fd links, so that one that exits while
// later processes are walked keeps its name, and one that exits before
// its turn has none. One worker walks the processes in order; the hook,
// once a process's fds are read, removes another's directory or comm (it
// exits).
func TestSocketInodesNames(t *testing.T) {
	pids := []int{1, 7, 12, 20, 21}
	for _, tc := range []struct {
		name  string
		named func(uint64) bool
		// exits: once the fds of the first PID are read, the second
		// process's directory (all) or comm file is removed.
		exits [2]int
		all   bool
		want  []string
	}{
		{name: "one exits after its turn", exits: [2]int{20, 7}, all: true,
			want: []string{"", "nginx: worker", "", "late", ""}},
		{name: "one exits before its turn", exits: [2]int{7, 20},
			want: []string{"", "nginx: worker", "", "", ""}},
		{name: "only wanted sockets named", exits: [2]int{20, 7}, all: true,
			named: func(inode uint64) bool { return inode == 400 },
			want:  []string{"", "", "", "late", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pidTree(t)
			// write makes a symlink to target, or with data a file.
			write := func(target, data string, elem ...string) {
				path := filepath.Join(append([]string{p.Root}, elem...)...)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				var err error
				if data == "" {
					err = os.Symlink(target, path)
				} else {
					err = os.WriteFile(path, []byte(data), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			write("socket:[400]", "", "20", "fd", "3")
			write("", "late\n", "20", "comm")
			write("pipe:[500]", "", "21", "fd", "0")
			write("", "no sockets\n", "21", "comm")
			var hookErr error
			testHookFDsRead = func(pid int) {
				if pid != tc.exits[0] {
					return
				}
				if tc.all {
					hookErr = os.RemoveAll(p.Path(strconv.Itoa(tc.exits[1])))
				} else {
					hookErr = os.Remove(p.Path(strconv.Itoa(tc.exits[1]), "comm"))
				}
			}
			defer func() { testHookFDsRead = nil }()
			held, names := p.SocketInodes(pids, 1, tc.named)
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("names %q, want %q", names, tc.want)
			}
			if !slices.Equal(held[3], []uint64{400}) {
				t.Errorf("pid 20 holds %v, want [400]", held[3])
			}
		})
	}
}

// TestCommAtExited: on the live /proc, the name read through a process's
// open fd directory is its own while it runs, and "" once it has exited
// and been reaped, even though its PID may be another process's by then.
func TestCommAtExited(t *testing.T) {
	if _, err := os.Stat("/proc/self/comm"); err != nil {
		t.Skipf("no live /proc: %v", err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	dir, err := unix.Open(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	defer unix.Close(dir)
	buf := make([]byte, 64)
	if got := commAt(dir, buf); got != "sleep" {
		t.Errorf("running: name %q, want sleep", got)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if got := commAt(dir, buf); got != "" {
		t.Errorf("exited: name %q, want none", got)
	}
}
