package render

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
)

var helper struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildHelper builds cmd/planet-svg once per test binary. The SVG engine is
// never linked into this test binary: its package init would compile and
// cache code under this process's TMPDIR.
func buildHelper(t *testing.T) string {
	t.Helper()
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	helper.once.Do(func() {
		dir, err := os.MkdirTemp("", "planet-svg-test-")
		if err != nil {
			helper.err = err
			return
		}
		helper.path = filepath.Join(dir, HelperName)
		helper.out, helper.err = exec.Command(goBin, "build", "-o", helper.path, "../cmd/planet-svg").CombinedOutput()
	})
	if helper.err != nil {
		t.Fatalf("go build planet-svg: %v\n%s", helper.err, helper.out)
	}
	return helper.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if helper.path != "" {
		os.RemoveAll(filepath.Dir(helper.path))
	}
	os.Exit(code)
}

// The helper draws every fixture; each node's name is in the SVG.
func TestSVGThroughHelper(t *testing.T) {
	bin := buildHelper(t)
	cache := filepath.Join(t.TempDir(), "cache")
	for _, fx := range graphFixtures {
		t.Run(fx.name, func(t *testing.T) {
			g := fx.graph(t)
			dot, err := dotBytes(g, diffMarks{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			out, err := SVG(context.Background(), dot, SVGOptions{Helper: bin, CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			texts := svgTexts(t, out)
			for _, n := range g.Nodes {
				if !strings.Contains(strings.Join(texts, "\n"), display(n.ID)) {
					t.Errorf("node %q not in the SVG", n.ID)
				}
			}
		})
	}
	// The cache was made private, and used.
	for _, d := range []string{cache, filepath.Join(cache, engineCacheSubdir)} {
		info, err := os.Lstat(d)
		if err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want a 0700 directory", d, info.Mode(), err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(cache, engineCacheSubdir)); len(entries) == 0 {
		t.Errorf("the engine cached nothing in %s", cache)
	}
}

// A helper that hangs is killed at the deadline, and so is its process.
func TestSVGTimeoutKillsHelper(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	fake := filepath.Join(dir, HelperName)
	script := "#!/bin/sh\necho $$ > " + pidFile + "\nexec sleep 60\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := SVG(context.Background(), []byte("digraph {}"), SVGOptions{Helper: fake, CacheDir: filepath.Join(dir, "cache"), Timeout: 500 * time.Millisecond})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v, want about the 500ms deadline", took)
	}
	if !errors.Is(err, ErrSVGTimeout) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err = %v, want ErrSVGTimeout", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("helper pid %d still exists after the deadline (kill 0: %v)", pid, err)
	}
}

// The caller's cancellation is reported as such, not as a timeout.
func TestSVGCancelled(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, HelperName)
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("SIGINT")
	go func() { // once the helper runs (its script has become sleep)
		if _, err := testenv.WaitChild(os.Getpid(), "sleep", 10*time.Second); err != nil {
			cancel(err)
			return
		}
		cancel(cause)
	}()
	_, err := SVG(ctx, []byte("digraph {}"), SVGOptions{Helper: fake, CacheDir: filepath.Join(dir, "cache")})
	if !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the cancellation cause", err)
	}
}

func TestSVGHelperFailure(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, script, errSubstr string }{
		{"exit 1", "#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 1\n", "syntax error in line 1"},
		{"no svg", "#!/bin/sh\necho hello\n", "wrote no SVG"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := filepath.Join(dir, strconv.Itoa(i))
			if err := os.WriteFile(fake, []byte(tt.script), 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := SVG(context.Background(), []byte("digraph {}"), SVGOptions{Helper: fake, CacheDir: filepath.Join(dir, "cache")})
			if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
				t.Fatalf("err = %v, want %q", err, tt.errSubstr)
			}
		})
	}
}

// The helper's environment is TMPDIR and nothing else.
func TestSVGHelperEnvironment(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, HelperName)
	envFile := filepath.Join(dir, "env")
	script := "#!/bin/sh\nenv > " + envFile + "\necho '<svg/>'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PLANET_SECRET", "x")
	cache := filepath.Join(dir, "cache")
	if _, err := SVG(context.Background(), []byte("digraph {}"), SVGOptions{Helper: fake, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(env, []byte("TMPDIR="+cache+"\n")) || bytes.Contains(env, []byte("PLANET_SECRET")) {
		t.Errorf("helper environment:\n%s\nwant TMPDIR=%s and nothing of planet's", env, cache)
	}
}

// A cache directory that is not private to this user is not used: the
// render gets a fresh private directory, removed afterwards.
func TestPrepareCache(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		root    bool // needs root (chown)
		private bool
	}{
		{name: "absent: created", setup: func(*testing.T, string) {}, private: true},
		{name: "existing 0700", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }, private: true},
		{name: "group writable", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o770) }},
		{name: "world writable sticky", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o777|os.ModeSticky) }},
		{name: "symlink", setup: func(t *testing.T, dir string) {
			target := dir + "-target"
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "engine subdir symlink", setup: func(t *testing.T, dir string) {
			mkdir(t, dir, 0o700)
			mkdir(t, dir+"-elsewhere", 0o700)
			if err := os.Symlink(dir+"-elsewhere", filepath.Join(dir, engineCacheSubdir)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "engine subdir world writable", setup: func(t *testing.T, dir string) {
			mkdir(t, dir, 0o700)
			mkdir(t, filepath.Join(dir, engineCacheSubdir), 0o777)
		}},
		{name: "a file", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "owned by nobody", root: true, setup: func(t *testing.T, dir string) {
			mkdir(t, dir, 0o700)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "engine subdir owned by nobody", root: true, setup: func(t *testing.T, dir string) {
			mkdir(t, dir, 0o700)
			sub := filepath.Join(dir, engineCacheSubdir)
			mkdir(t, sub, 0o700)
			if err := os.Chown(sub, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				testenv.NeedRoot(t)
			}
			dir := filepath.Join(t.TempDir(), "cache")
			tt.setup(t, dir)
			var logBuf bytes.Buffer
			got, cleanup, err := prepareCache(dir, testLogger(&logBuf))
			if err != nil {
				t.Fatal(err)
			}
			if tt.private {
				if got != dir {
					t.Errorf("got %s, want the cache dir %s (log: %s)", got, dir, logBuf.String())
				}
			} else {
				if got == dir || strings.HasPrefix(got, dir+"/") {
					t.Fatalf("used the untrusted %s", dir)
				}
				if !strings.Contains(logBuf.String(), "not private") {
					t.Errorf("no warning logged: %q", logBuf.String())
				}
				if err := checkPrivate(got, os.Geteuid()); err != nil {
					t.Errorf("fallback: %v", err)
				}
			}
			cleanup()
			if !tt.private {
				if _, err := os.Stat(got); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("fallback %s not removed: %v", got, err)
				}
			}
		})
	}
}

// As root, a helper another user could replace is never run.
func TestFindHelperRefusesUntrusted(t *testing.T) {
	testenv.NeedRoot(t)
	tests := []struct {
		name, errSubstr string
		setup           func(t *testing.T, dir string) string
	}{
		{"world-writable binary", "writable by group or others", func(t *testing.T, dir string) string {
			p := writeExe(t, filepath.Join(dir, HelperName))
			os.Chmod(p, 0o777)
			return p
		}},
		{"world-writable directory", "writable by group or others", func(t *testing.T, dir string) string {
			sub := filepath.Join(dir, "bin")
			mkdir(t, sub, 0o777)
			return writeExe(t, filepath.Join(sub, HelperName))
		}},
		{"binary owned by nobody", "owned by uid 65534", func(t *testing.T, dir string) string {
			p := writeExe(t, filepath.Join(dir, HelperName))
			os.Chown(p, 65534, 65534)
			return p
		}},
		{"symlink to a nobody-owned directory", "owned by uid 65534", func(t *testing.T, dir string) string {
			sub := filepath.Join(dir, "nobody")
			mkdir(t, sub, 0o755)
			p := writeExe(t, filepath.Join(sub, HelperName))
			os.Chown(sub, 65534, 65534)
			link := filepath.Join(dir, "link")
			if err := os.Symlink(p, link); err != nil {
				t.Fatal(err)
			}
			return link
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Chmod(dir, 0o755)
			p := tt.setup(t, dir)
			_, err := findHelper(p)
			if err == nil || !strings.Contains(err.Error(), tt.errSubstr) || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("err = %v, want a refusal: %q", err, tt.errSubstr)
			}
		})
	}
	// A root-owned helper in a root-owned directory is fine.
	dir := t.TempDir()
	if _, err := findHelper(writeExe(t, filepath.Join(dir, HelperName))); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func writeExe(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func testLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}
