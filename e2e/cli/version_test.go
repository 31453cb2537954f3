//go:build e2e

package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

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
	files, err := exec.Command(gitBin, "-C", "../..", "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		testenv.Unavailable(t, "not a git checkout: %v", err)
	}
	src := t.TempDir()
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		b, err := os.ReadFile(filepath.Join("../..", f))
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
