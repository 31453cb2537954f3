package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestCheckOwnedBy: a config file root reads on its own (not named with
// --config) must be one only root, or the given uid, can change: the file,
// the file a symlink points to, and every directory above both.
func TestCheckOwnedBy(t *testing.T) {
	me := os.Geteuid()
	nobody := -1
	if u, err := user.Lookup("nobody"); err == nil {
		nobody, _ = strconv.Atoi(u.Uid)
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string) string // returns the config path
		needRoot bool                                  // chown to another user
		wantErr  string
	}{
		{name: "private file in a private dir", setup: func(t *testing.T, dir string) string {
			return file(t, filepath.Join(dir, "planet", "planet.yaml"), 0o644, 0o755)
		}},
		{name: "group-writable file", wantErr: "writable by group or others", setup: func(t *testing.T, dir string) string {
			return file(t, filepath.Join(dir, "planet", "planet.yaml"), 0o664, 0o755)
		}},
		{name: "world-writable directory", wantErr: "writable by group or others", setup: func(t *testing.T, dir string) string {
			return file(t, filepath.Join(dir, "planet", "planet.yaml"), 0o644, 0o777)
		}},
		{name: "sticky world-writable directory", setup: func(t *testing.T, dir string) string {
			return file(t, filepath.Join(dir, "planet", "planet.yaml"), 0o644, 0o777|os.ModeSticky)
		}},
		{name: "symlink into a world-writable directory", wantErr: "writable by group or others", setup: func(t *testing.T, dir string) string {
			target := file(t, filepath.Join(dir, "open", "planet.yaml"), 0o644, 0o777)
			return link(t, target, filepath.Join(dir, "planet", "planet.yaml"))
		}},
		{name: "file owned by another user", needRoot: true, wantErr: "owned by uid", setup: func(t *testing.T, dir string) string {
			p := file(t, filepath.Join(dir, "planet", "planet.yaml"), 0o644, 0o755)
			chown(t, p, nobody)
			return p
		}},
		{name: "directory owned by another user", needRoot: true, wantErr: "owned by uid", setup: func(t *testing.T, dir string) string {
			p := file(t, filepath.Join(dir, "planet", "planet.yaml"), 0o644, 0o755)
			chown(t, filepath.Dir(p), nobody)
			return p
		}},
		{name: "missing file", wantErr: "no such file", setup: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "planet.yaml")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot {
				testenv.NeedRoot(t)
				if nobody < 0 {
					testenv.Unavailable(t, "no user nobody")
				}
			}
			// t.TempDir's parents include /tmp: sticky, so allowed.
			path := tt.setup(t, t.TempDir())
			err := checkOwnedBy(path, me)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestRootRefusesOthersConfig: planet as root (sudo keeping the user's
// XDG_CONFIG_HOME) does not read a planet.yaml another user owns, so that
// file cannot point -o at /etc/passwd.
func TestRootRefusesOthersConfig(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := os.Stat(systemConfig); err == nil {
		t.Skipf("%s exists and would be read first", systemConfig)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		testenv.Unavailable(t, "no user nobody: %v", err)
	}
	nobody, _ := strconv.Atoi(u.Uid)
	xdg := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := file(t, filepath.Join(xdg, "planet", "planet.yaml"), 0o644, 0o755)
	if err := os.WriteFile(cfg, []byte("output: "+victim+"\nproc-root: ../testdata/proc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	chown(t, filepath.Dir(cfg), nobody)
	chown(t, cfg, nobody)
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Setenv("PLANET_CONFIG", "")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), BuildInfo{Version: "test"}, []string{"scan"}, nil, &stdout, &stderr)
	if code != ExitError || !strings.Contains(stderr.String(), "owned by uid") {
		t.Errorf("exit %d, stderr %q; want %d and a refusal", code, stderr.String(), ExitError)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("the other user's config made root overwrite %s: %.100q", victim, b)
	}
	if !errors.Is(checkOwnedBy(cfg, 0), errUntrusted) {
		t.Error("checkOwnedBy does not wrap errUntrusted")
	}
}

func file(t *testing.T, path string, mode, dirMode os.FileMode) string {
	t.Helper()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
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

func link(t *testing.T, target, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}
