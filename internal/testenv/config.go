package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// IsolateConfig keeps the planet commands a test binary runs from reading
// the machine's configuration or writing its state directory: it sets
// PLANET_CONFIG to an empty file of its own, XDG_CONFIG_HOME to a directory
// that does not exist and PLANET_STATE_DIR to one of its own, for this
// process and every child it starts. Without it a test's `planet scan` run
// while the package test (in parallel, under ./scripts/test.sh) has
// /etc/planet/planet.yaml installed writes the packaged textfile, and one
// as root writes /var/lib/planet, which the package test's purge checks.
// Tests that want a configuration or state directory still pass --config
// or --state-dir, which beat the variables.
// Call it from TestMain; the returned function removes the file.
func IsolateConfig() (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "planet-test-config-")
	if err != nil {
		return nil, fmt.Errorf("isolating the configuration: %w", err)
	}
	empty := filepath.Join(dir, "planet.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("isolating the configuration: %w", err)
	}
	for k, v := range map[string]string{"PLANET_CONFIG": empty, "XDG_CONFIG_HOME": filepath.Join(dir, "nonexistent"), "PLANET_STATE_DIR": filepath.Join(dir, "state")} {
		if err := os.Setenv(k, v); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("isolating the configuration: %w", err)
		}
	}
	return func() { os.RemoveAll(dir) }, nil
}

// RunIsolated runs a package's tests with IsolateConfig in effect and
// returns their exit status, for TestMain: os.Exit(testenv.RunIsolated(m)).
func RunIsolated(m *testing.M) int {
	cleanup, err := IsolateConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}
