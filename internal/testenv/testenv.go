// Package testenv decides whether a test that needs root, a command or a
// kernel feature can run here. As a normal user such tests skip with a clear
// message; under the project's test command (PLANET_TEST_STRICT=1, set by
// scripts/test.sh) a missing prerequisite fails the test instead, so CI can
// never pass by skipping.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing prerequisites must fail rather than skip.
func Strict() bool { return os.Getenv("PLANET_TEST_STRICT") == "1" }

// Unavailable skips t (or fails it in strict mode) with the reason.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("prerequisite missing under PLANET_TEST_STRICT=1: "+format, args...)
	}
	t.Skipf("skipped: "+format, args...)
}

// NeedRoot skips t unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root (run the suite with scripts/test.sh as root)")
	}
}

// NeedCommand returns the path of name, or skips t when it is not installed.
func NeedCommand(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not found: apt-get install -y %s", name, debianPackage)
	}
	return p
}
