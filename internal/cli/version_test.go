package cmd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/planetdeps/planet/cmd"
	"github.com/planetdeps/planet/internal/testenv"
)

func TestResolveBuild(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T15:04:05Z"},
	}
	tests := []struct {
		name  string
		build cmd.BuildInfo
		info  *debug.BuildInfo
		want  cmd.BuildInfo
	}{
		{"go install @version", cmd.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			&debug.BuildInfo{Main: debug.Module{Path: "github.com/planetdeps/planet", Version: "v1.4.0"}},
			cmd.BuildInfo{Version: "v1.4.0", Commit: "none", Date: "unknown"}},
		{"go build in a checkout", cmd.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260102150405-0123456789ab"}, Settings: vcs},
			cmd.BuildInfo{Version: "v0.0.0-20260102150405-0123456789ab", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T15:04:05Z"}},
		{"no module version", cmd.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			cmd.BuildInfo{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T15:04:05Z"}},
		{"stamped by the release", cmd.BuildInfo{Version: "1.5.0", Commit: "abc", Date: "2026-03-01T00:00:00Z"},
			&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs},
			cmd.BuildInfo{Version: "1.5.0", Commit: "abc", Date: "2026-03-01T00:00:00Z"}},
		{"no build info", cmd.BuildInfo{}, nil, cmd.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cmd.ResolveBuild(tt.build, tt.info); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVersionOfPlainBuild builds cmd/planet the way `go build` or `go
// install` does, without the release's -ldflags, in a git checkout of this
// tree, and checks that --version and the version command report the
// toolchain's pseudo-version and the commit rather than "dev".
func TestVersionOfPlainBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds planet in a fresh checkout")
	}
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	gitBin := testenv.NeedCommand(t, "git", "git")
	// A checkout with a .git directory: the go command does not read
	// version control information through a worktree's .git file.
	files, err := exec.Command(gitBin, "-C", "..", "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		testenv.Unavailable(t, "not a git checkout: %v", err)
	}
	src := t.TempDir()
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		b, err := os.ReadFile(filepath.Join("..", f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		c := exec.Command(gitBin, args...)
		c.Dir = src
		c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid",
			"GIT_AUTHOR_DATE=2026-01-02T15:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T15:04:05Z")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "snapshot of the tree under test")
	head := git("rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "planet")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/planet")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`^planet v0\.0\.0-20260102150405-` + head[:12] + ` \(commit ` + head + `, built 2026-01-02T15:04:05Z, go`)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		c := exec.Command(bin, args...)
		c.Env = planetEnv(t)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("planet %v: %v\n%s", args, err, out)
		}
		if !want.Match(out) {
			t.Errorf("planet %v: %q, want a match for %s", args, out, want)
		}
	}
}
