//go:build e2e

package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestTextfileDirPlantedEntries: root's `planet scan --textfile-dir DIR`
// into a directory owned by another user (nobody), whatever that user
// planted at DIR/planet.prom, never writes outside DIR, never blocks, and
// either replaces the entry with a complete textfile (exit 0) or refuses it
// with an error naming it (exit 1), leaving nothing else behind.
// F1 (a link to a block device was written through), F2 (a FIFO hung the
// scan) and F3 (a link to a directory failed every scan) are rows here.
func TestTextfileDirPlantedEntries(t *testing.T) {
	testenv.NeedRoot(t)
	losetup := testenv.NeedCommand(t, "losetup", "mount")
	nobody, _ := testenv.User(t, "nobody")
	bin := buildPlanet(t, t.TempDir())
	env := planetEnv(t)

	// A real block device: a loop device over an image file, so that a
	// write through a link to it would show in the image.
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, bytes.Repeat([]byte{'X'}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(losetup, "-f", "--show", img).Output()
	if err != nil {
		testenv.Unavailable(t, "losetup -f --show: %v (no loop devices here?)", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", loop).Run() })

	type planted struct{ target, elsewhere string }
	tests := []struct {
		name    string
		plant   func(t *testing.T, p planted)
		refused string // "" = replaced
	}{
		{name: "nothing there", plant: func(*testing.T, planted) {}},
		{name: "previous textfile", plant: func(t *testing.T, p planted) { writeFile(t, p.target, "old 1\n") }},
		{name: "symlink to a block device", plant: func(t *testing.T, p planted) { plantLink(t, loop, p.target, nobody) }},
		{name: "symlink to a character device", plant: func(t *testing.T, p planted) {
			dev := filepath.Join(p.elsewhere, "null")
			if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
				t.Fatal(err)
			}
			plantLink(t, dev, p.target, nobody)
		}},
		{name: "symlink to a directory", plant: func(t *testing.T, p planted) { plantLink(t, "/", p.target, nobody) }},
		{name: "symlink to a file elsewhere", plant: func(t *testing.T, p planted) {
			plantLink(t, filepath.Join(p.elsewhere, "victim"), p.target, nobody)
		}},
		{name: "hard link to a root file", plant: func(t *testing.T, p planted) {
			if err := os.Link(filepath.Join(p.elsewhere, "victim"), p.target); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "FIFO", refused: "named pipe", plant: func(t *testing.T, p planted) {
			if err := syscall.Mkfifo(p.target, 0o666); err != nil {
				t.Fatal(err)
			}
			os.Lchown(p.target, nobody, -1)
		}},
		{name: "socket", refused: "socket", plant: func(t *testing.T, p planted) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.target, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			l.SetUnlinkOnClose(false)
			l.Close()
			os.Lchown(p.target, nobody, -1)
		}},
		{name: "directory", refused: "directory", plant: func(t *testing.T, p planted) {
			if err := os.Mkdir(p.target, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "character device", refused: "character device", plant: func(t *testing.T, p planted) {
			if err := syscall.Mknod(p.target, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elsewhere := t.TempDir()
			victim := filepath.Join(elsewhere, "victim")
			writeFile(t, victim, "keep\n")
			dir := t.TempDir()
			if err := os.Chown(dir, nobody, -1); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(dir, "planet.prom")
			tt.plant(t, planted{target, elsewhere})
			before, _ := os.Lstat(target)
			imgBefore, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "scan", "--proc-root", "../../testdata/proc", "-o", os.DevNull, "--textfile-dir", dir)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err = cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("scan blocked (killed after %s)", time.Since(start).Round(time.Second))
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
				t.Errorf("wrote outside the directory: %s holds %q", victim, b)
			}
			exec.Command("sync").Run()
			if b, _ := os.ReadFile(img); !bytes.Equal(b, imgBefore) {
				t.Errorf("wrote onto the block device %s", loop)
			}
			if names := dirEntries(t, dir); !slices.Equal(names, []string{"planet.prom"}) {
				t.Errorf("directory holds %v, want only planet.prom", names)
			}
			if tt.refused != "" {
				if code := cmd.ProcessState.ExitCode(); code != 1 ||
					!strings.Contains(stderr.String(), target) || !strings.Contains(stderr.String(), tt.refused) {
					t.Fatalf("exit %d, stderr %q; want 1 and an error naming %s (%s)", code, stderr.String(), target, tt.refused)
				}
				if after, _ := os.Lstat(target); after == nil || after.Mode() != before.Mode() {
					t.Errorf("the refused entry changed: %v -> %v", before.Mode(), after)
				}
				return
			}
			if err != nil {
				t.Fatalf("scan: %v\n%s", err, stderr.String())
			}
			info, err := os.Lstat(target)
			if err != nil || !info.Mode().IsRegular() {
				t.Fatalf("planet.prom is not a regular file now: %v %v", info, err)
			}
			if b, _ := os.ReadFile(target); !bytes.Contains(b, []byte("planet_scan_success")) || !bytes.HasSuffix(b, []byte("\n")) {
				t.Errorf("planet.prom is not a complete textfile: %.200q", b)
			}
		})
	}
}

// TestOutputPlantedFIFO: -o naming a FIFO another user planted in a sticky
// directory (F2's /tmp case) is refused at once, never opened.
func TestOutputPlantedFIFO(t *testing.T) {
	bin := buildPlanet(t, t.TempDir())
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "snap.json")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"scan", "--proc-root", "../../testdata/proc", "-o", fifo},
		{"scan", "--proc-root", "../../testdata/proc", "-o", os.DevNull, "--textfile-dir", dir + "/x"},
	} {
		if strings.HasSuffix(args[len(args)-1], "/x") {
			os.Mkdir(dir+"/x", 0o777)
			syscall.Mkfifo(dir+"/x/planet.prom", 0o666)
		}
		refused(t, bin, args, "refusing to replace a named pipe")
	}
}

// TestFirstSignalStopsWaits: every wait on something another process
// controls ends with the first SIGTERM (SIG1: a FIFO named on the merge
// command line ignored it while open(2) waited for a writer), and a FIFO as
// --bearer-token-file or --config is refused without waiting at all.
func TestFirstSignalStopsWaits(t *testing.T) {
	bin := buildPlanet(t, t.TempDir())
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "snap.json")
	if out, err := exec.Command(bin, "scan", "--proc-root", "../../testdata/proc", "-o", snap).CombinedOutput(); err != nil {
		t.Fatalf("scan: %v %s", err, out)
	}
	t.Run("signal", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			args  []string
			stdin bool // an open pipe that never delivers
		}{
			{name: "merge FIFO", args: []string{"merge", fifo, "-o", os.DevNull}},
			{name: "merge stdin", args: []string{"merge", "-", "-o", os.DevNull}, stdin: true},
			{name: "render stdin", args: []string{"render", "-o", os.DevNull}, stdin: true},
			{name: "diff stdin", args: []string{"diff", "-", snap}, stdin: true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				cmd := exec.Command(bin, tt.args...)
				cmd.Env = planetEnv(t)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if tt.stdin {
					r, w, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					defer w.Close()
					defer r.Close()
					cmd.Stdin = r
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				waited := make(chan struct{})
				go func() { cmd.Wait(); close(waited) }()
				// Signal once planet waits: for the FIFO's writer in the
				// runtime's poller, or in read(2) on the pipe.
				pid := cmd.Process.Pid
				var err error
				if tt.stdin {
					err = testenv.WaitBlocked(pid, "reading standard input", 10*time.Second, testenv.Reading(0))
				} else if err = testenv.WaitOpen(pid, fifo, 10*time.Second); err == nil {
					err = testenv.WaitBlocked(pid, "waiting in the poller", 10*time.Second, testenv.Polling)
				}
				if err != nil {
					cmd.Process.Kill()
					<-waited
					t.Fatalf("%v\n%s", err, stderr.String())
				}
				sent := time.Now()
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-waited:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-waited
					t.Fatalf("still running 5s after one SIGTERM\n%s", stderr.String())
				}
				if d := time.Since(sent); d > time.Second {
					t.Errorf("stopped %s after SIGTERM, want within a second", d)
				}
				if code := cmd.ProcessState.ExitCode(); code != 143 {
					t.Errorf("exit %d, want 143\n%s", code, stderr.String())
				}
			})
		}
	})
	t.Run("refused at once", func(t *testing.T) {
		for _, args := range [][]string{
			{"merge", "--prometheus", "http://127.0.0.1:9/", "--bearer-token-file", fifo, "-o", os.DevNull},
			{"merge", "--prometheus", "http://127.0.0.1:9/", "--bearer-token-file", "/dev/zero", "-o", os.DevNull},
			{"--config", fifo, "merge", snap},
		} {
			refused(t, bin, args, "not a regular file")
		}
	})
}

// refused runs planet with args and fails t unless it exits 1 with an
// error containing want, and fails it at once if planet is still running
// after 10 s (it blocked on what it should have refused).
func refused(t *testing.T, bin string, args []string, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = planetEnv(t)
	out, _ := cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("planet %v blocked", args)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), want) {
		t.Errorf("planet %v: exit %d, %s", args, code, out)
	}
}

// plantLink makes path a symbolic link to target, owned by uid, as that
// user would have made it.
func plantLink(t *testing.T, target, path string, uid int) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
