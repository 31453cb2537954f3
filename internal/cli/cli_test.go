package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/planetdeps/planet/internal/cli"
	"github.com/planetdeps/planet/internal/golden"
)

// The CLI end to end: scripts under testdata/script/*.txtar run the real
// planet command (this test binary re-executed as "planet") against inputs
// they carry; "go test ./internal/cli -update" rewrites their expected output.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"planet": func() {
			os.Exit(cli.Main(context.Background(), cli.BuildInfo{Version: "test", Commit: "none", Date: "unknown"},
				os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

func TestScripts(t *testing.T) {
	fixtures, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "../../testdata/script",
		UpdateScripts: golden.Updating(),
		Setup: func(env *testscript.Env) error {
			env.Setenv("FIXTURES", fixtures)
			// Keep the developer's own config out of the tests.
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			env.Setenv("PLANET_STATE_DIR", filepath.Join(env.WorkDir, ".state"))
			empty := filepath.Join(env.WorkDir, ".planet-empty.yaml")
			env.Setenv("PLANET_CONFIG", empty)
			return os.WriteFile(empty, nil, 0o644)
		},
	})
}
