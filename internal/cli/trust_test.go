package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/trust"
)

// TestRootRefusesOthersConfig: planet as root (sudo keeping the user's
// XDG_CONFIG_HOME) does not read a planet.yaml another user owns, so that
// file cannot point -o at /etc/passwd.
func TestRootRefusesOthersConfig(t *testing.T) {
	testenv.NeedRoot(t)
	noSystemConfig(t)
	nobody, _ := testenv.User(t, "nobody")
	xdg := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := file(t, filepath.Join(xdg, "planet", "planet.yaml"), 0o644, 0o755)
	if err := os.WriteFile(cfg, []byte("scan:\n  output: "+victim+"\n  proc-root: ../../testdata/proc\n"), 0o644); err != nil {
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
	if _, err := readTrusted(cfg, 0); !errors.Is(err, trust.ErrUntrusted) {
		t.Errorf("readTrusted: %v, want trust.ErrUntrusted", err)
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

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

// TestRootRefusesConfigThroughOthersLink (C2): a config dir reached through
// a symbolic link another user owns in a sticky directory is refused, even
// when the link points at a root-owned directory right now: its owner can
// flip it between a check and a read. The check walks the path without
// following such links, and the file read is the one checked.
func TestRootRefusesConfigThroughOthersLink(t *testing.T) {
	testenv.NeedRoot(t)
	noSystemConfig(t)
	nobody, _ := testenv.User(t, "nobody")
	base := t.TempDir()
	good := filepath.Join(base, "good")
	cfg := file(t, filepath.Join(good, "planet", "planet.yaml"), 0o644, 0o755)
	if err := os.WriteFile(cfg, []byte("log-level: bogus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(base, "tmp")
	if err := os.Mkdir(sticky, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(sticky, "cfg")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", link)
	t.Setenv("PLANET_CONFIG", "")
	run := func() (int, string) {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), BuildInfo{Version: "test"}, []string{"version"}, nil, &stdout, &stderr)
		return code, stderr.String()
	}
	// Root's own link: followed, and the config read (its bad log level
	// shows it was).
	if code, stderr := run(); code != ExitUsage || !strings.Contains(stderr, "--log-level") {
		t.Fatalf("through root's link: exit %d, %q; want the config read", code, stderr)
	}
	if err := os.Lchown(link, nobody, -1); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(); code != ExitError || !strings.Contains(stderr, "symbolic link owned by uid") {
		t.Errorf("through nobody's link: exit %d, %q; want a refusal", code, stderr)
	}
}

// noSystemConfig points the lookup's first candidate, /etc/planet/planet.yaml,
// at a path that does not exist for the rest of the test: the machine's
// own config (or the one the packaging test installs meanwhile) would be
// read first, and its textfile-dir written to.
func noSystemConfig(t *testing.T) {
	t.Helper()
	saved := systemConfig
	systemConfig = filepath.Join(t.TempDir(), "absent", "planet.yaml")
	t.Cleanup(func() { systemConfig = saved })
}
