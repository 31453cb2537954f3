package trust

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
)

func mkfile(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("log-level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// lchown changes the owner of path itself, a symbolic link included.
func lchown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

// TestCheckAndOpen: the walk from / decides on each component's own
// descriptor, follows only links no one else controls, and Open reads the
// file that was checked.
func TestCheckAndOpen(t *testing.T) {
	me := os.Geteuid()
	tests := []struct {
		name     string
		root     bool // needs root: chown to nobody
		strict   bool
		setup    func(t *testing.T, dir string, nobody int) string
		wantErr  string // "" = trusted
		wantOpen string // Open only: a different error than Check's
	}{
		{name: "private file", setup: func(t *testing.T, dir string, _ int) string {
			return mkfile(t, filepath.Join(dir, "a", "planet.yaml"), 0o644)
		}},
		{name: "group-writable file", wantErr: "writable by group or others", setup: func(t *testing.T, dir string, _ int) string {
			return mkfile(t, filepath.Join(dir, "a", "planet.yaml"), 0o664)
		}},
		{name: "world-writable directory", wantErr: "writable by group or others", setup: func(t *testing.T, dir string, _ int) string {
			p := mkfile(t, filepath.Join(dir, "a", "planet.yaml"), 0o644)
			os.Chmod(filepath.Dir(p), 0o777)
			return p
		}},
		{name: "sticky directory", setup: func(t *testing.T, dir string, _ int) string {
			p := mkfile(t, filepath.Join(dir, "a", "planet.yaml"), 0o644)
			os.Chmod(filepath.Dir(p), 0o777|os.ModeSticky)
			return p
		}},
		{name: "sticky directory, strict", strict: true, wantErr: "writable by group or others", setup: func(t *testing.T, dir string, _ int) string {
			// A sticky, world-writable directory of the test's own (not
			// /tmp, which is not sticky on every machine).
			sticky := filepath.Join(dir, "tmp")
			if err := os.Mkdir(sticky, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			return mkfile(t, filepath.Join(sticky, "a", "planet.yaml"), 0o644)
		}},
		{name: "own symlink to a private file", setup: func(t *testing.T, dir string, _ int) string {
			mkfile(t, filepath.Join(dir, "real", "planet.yaml"), 0o644)
			link := filepath.Join(dir, "planet.yaml")
			os.Symlink("real/planet.yaml", link)
			return link
		}},
		{name: "own symlink, strict", strict: true, wantErr: "symbolic link", setup: func(t *testing.T, dir string, _ int) string {
			mkfile(t, filepath.Join(dir, "real", "planet.yaml"), 0o644)
			link := filepath.Join(dir, "planet.yaml")
			os.Symlink("real/planet.yaml", link)
			return link
		}},
		{name: "symlink into a world-writable directory", wantErr: "writable by group or others", setup: func(t *testing.T, dir string, _ int) string {
			target := mkfile(t, filepath.Join(dir, "open", "planet.yaml"), 0o644)
			os.Chmod(filepath.Dir(target), 0o777)
			link := filepath.Join(dir, "planet.yaml")
			os.Symlink(target, link)
			return link
		}},
		{name: "symlinked directory with .. in the target", setup: func(t *testing.T, dir string, _ int) string {
			mkfile(t, filepath.Join(dir, "x", "real", "planet.yaml"), 0o644)
			os.MkdirAll(filepath.Join(dir, "y"), 0o755)
			os.Symlink("../x/real", filepath.Join(dir, "y", "cfg"))
			return filepath.Join(dir, "y", "cfg", "planet.yaml")
		}},
		{name: "symlink loop", wantErr: "too many levels", setup: func(t *testing.T, dir string, _ int) string {
			os.Symlink("b", filepath.Join(dir, "a"))
			os.Symlink("a", filepath.Join(dir, "b"))
			return filepath.Join(dir, "a")
		}},
		{name: "missing", wantErr: "no such file", setup: func(t *testing.T, dir string, _ int) string {
			return filepath.Join(dir, "nope", "planet.yaml")
		}},
		{name: "FIFO", wantOpen: "not a regular file", setup: func(t *testing.T, dir string, _ int) string {
			p := filepath.Join(dir, "fifo")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "directory", wantOpen: "not a regular file", setup: func(t *testing.T, dir string, _ int) string {
			return dir
		}},
		{name: "file owned by another user", root: true, wantErr: "owned by uid", setup: func(t *testing.T, dir string, nobody int) string {
			p := mkfile(t, filepath.Join(dir, "a", "planet.yaml"), 0o644)
			lchown(t, p, nobody)
			return p
		}},
		{name: "directory owned by another user", root: true, wantErr: "owned by uid", setup: func(t *testing.T, dir string, nobody int) string {
			p := mkfile(t, filepath.Join(dir, "a", "planet.yaml"), 0o644)
			lchown(t, filepath.Dir(p), nobody)
			return p
		}},
		{name: "another user's symlink in a sticky directory", root: true, wantErr: "symbolic link owned by uid", setup: func(t *testing.T, dir string, nobody int) string {
			// C2: the link passes a check that follows it, and its
			// owner can flip it between the check and the read.
			mkfile(t, filepath.Join(dir, "good", "planet.yaml"), 0o644)
			sticky := filepath.Join(dir, "tmp")
			os.Mkdir(sticky, 0o777)
			os.Chmod(sticky, 0o777|os.ModeSticky)
			link := filepath.Join(sticky, "cfg")
			os.Symlink(filepath.Join(dir, "good"), link)
			lchown(t, link, nobody)
			return filepath.Join(link, "planet.yaml")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nobody := -1
			if tt.root {
				testenv.NeedRoot(t)
				nobody, _ = testenv.User(t, "nobody")
			}
			dir := t.TempDir()
			if tt.strict {
				dir = privateDir(t)
			}
			os.Chmod(dir, 0o755)
			path := tt.setup(t, dir, nobody)
			p := Policy{UID: me, Strict: tt.strict}
			check := func(what string, err error, want string) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: err = %v, want %q", what, err, want)
				}
			}
			check("Check", p.Check(path), tt.wantErr)
			done := make(chan struct{})
			go func() {
				defer close(done)
				f, err := p.Open(path)
				want := tt.wantErr
				if tt.wantOpen != "" {
					want = tt.wantOpen
				}
				check("Open", err, want)
				if err == nil {
					b, _ := io.ReadAll(f)
					f.Close()
					if string(b) != "log-level: info\n" {
						t.Errorf("Open read %q", b)
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Open blocked")
			}
		})
	}
}

func TestErrorsWrap(t *testing.T) {
	dir := t.TempDir()
	p := mkfile(t, filepath.Join(dir, "f"), 0o666)
	if err := For(os.Geteuid()).Check(p); !errors.Is(err, ErrUntrusted) {
		t.Errorf("err = %v, want ErrUntrusted", err)
	}
	if err := For(os.Geteuid()).Check(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

// privateDir is a temp directory whose every parent is trusted without
// sticky directories (the package directory's), for the strict policy.
func privateDir(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	dir, err := os.MkdirTemp(wd, ".trust-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := (Policy{UID: os.Geteuid(), Strict: true}).Check(dir); err != nil {
		t.Skipf("no directory without sticky or shared parents here: %v", err)
	}
	return dir
}

func TestPrivateDir(t *testing.T) {
	uid := os.Geteuid()
	tests := []struct {
		name    string
		root    bool // needs root to chown
		setup   func(t *testing.T, dir string) string
		wantErr string // "" : private
	}{
		{name: "0700, ours", setup: func(t *testing.T, dir string) string {
			return mkdir(t, filepath.Join(dir, "c"), 0o700)
		}},
		{name: "0755, ours", setup: func(t *testing.T, dir string) string {
			return mkdir(t, filepath.Join(dir, "c"), 0o755)
		}},
		{name: "group writable", wantErr: "writable by group or others", setup: func(t *testing.T, dir string) string {
			return mkdir(t, filepath.Join(dir, "c"), 0o770)
		}},
		{name: "sticky and world writable", wantErr: "writable by group or others", setup: func(t *testing.T, dir string) string {
			return mkdir(t, filepath.Join(dir, "c"), 0o777|os.ModeSticky)
		}},
		{name: "a symlink to our directory", wantErr: "not a directory (a symbolic link)", setup: func(t *testing.T, dir string) string {
			target := mkdir(t, filepath.Join(dir, "c"), 0o700)
			link := filepath.Join(dir, "l")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}},
		{name: "a file", wantErr: "not a directory (a regular file)", setup: func(t *testing.T, dir string) string {
			return mkfile(t, filepath.Join(dir, "f"), 0o600)
		}},
		{name: "owned by nobody", root: true, wantErr: "owned by uid", setup: func(t *testing.T, dir string) string {
			d := mkdir(t, filepath.Join(dir, "c"), 0o700)
			nobody, _ := testenv.User(t, "nobody")
			if err := os.Chown(d, nobody, -1); err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				testenv.NeedRoot(t)
			}
			path := tt.setup(t, t.TempDir())
			err := For(uid).PrivateDir(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("PrivateDir: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrUntrusted) {
				t.Errorf("PrivateDir = %v, want %q wrapping ErrUntrusted", err, tt.wantErr)
			}
		})
	}
	if err := For(uid).PrivateDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing directory: %v, want fs.ErrNotExist", err)
	}
}

// mkdir makes a directory with exactly mode (umask aside).
func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}
