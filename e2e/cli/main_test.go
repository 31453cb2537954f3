//go:build e2e

package cli_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestMain runs every planet command of these tests away from the
// machine's configuration (testenv.IsolateConfig).
func TestMain(m *testing.M) {
	cleanup, err := testenv.IsolateConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
