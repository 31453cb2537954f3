//go:build e2e

package cli_test

import (
	"os"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestMain runs every planet command of these tests away from the
// machine's configuration (testenv.IsolateConfig).
func TestMain(m *testing.M) {
	os.Exit(testenv.RunIsolated(m))
}
