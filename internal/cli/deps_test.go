package cli

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestPlanetLinksNoTestTools: the planet binary links the product's
// packages only (issue #16's layout): no test helper (a package that
// imports testing: testenv, testnet, golden), no test data generator
// (fleetgen, ctsynth, snapfixtures), no other program (internal/cmd/...,
// cmd/planet-svg), and nothing but cmd/planet sits above the command layer.
func TestPlanetLinksNoTestTools(t *testing.T) {
	generators := []string{"internal/fleetgen", "internal/ctsynth", "internal/snapfixtures", "promsrc/internal/fleetmetrics"}
	var linked []string
	for _, p := range planetPackages(t) {
		rel, ok := strings.CutPrefix(p.path, module)
		if !ok {
			continue
		}
		linked = append(linked, rel)
		switch {
		case slices.Contains(p.imports, "testing"):
			t.Errorf("%s imports testing: a test helper linked into planet", rel)
		case slices.Contains(generators, rel):
			t.Errorf("%s, a test data generator, is linked into planet", rel)
		case p.name == "main" && rel != "cmd/planet":
			t.Errorf("%s, another program, is linked into planet", rel)
		case strings.HasPrefix(rel, "internal/cmd/"):
			t.Errorf("%s, a tool's package, is linked into planet", rel)
		}
		if slices.Contains(p.imports, module+"internal/cli") && rel != "cmd/planet" {
			t.Errorf("%s imports the command layer (internal/cli): only cmd/planet may", rel)
		}
	}
	// Enough of the product to be sure the listing is planet's.
	for _, want := range []string{"cmd/planet", "internal/cli", "scan", "graph", "render"} {
		if !slices.Contains(linked, want) {
			t.Fatalf("%s is not among planet's packages %v: is this test still looking at the right thing?", want, linked)
		}
	}
}

const module = "github.com/planetdeps/planet/"

// goPackage is a package as go list shows it.
type goPackage struct {
	path, name string
	imports    []string
}

var planetDeps struct {
	once sync.Once
	pkgs []goPackage
	err  error
}

// planetPackages lists the packages the planet binary links (go list
// -deps ./cmd/planet, run once per test binary); it skips t where go is
// not installed.
func planetPackages(t *testing.T) []goPackage {
	t.Helper()
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	planetDeps.once.Do(func() {
		out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "../../cmd/planet").CombinedOutput()
		if err != nil {
			planetDeps.err = fmt.Errorf("go list -deps: %w\n%s", err, out)
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			planetDeps.pkgs = append(planetDeps.pkgs, goPackage{path: f[0], name: f[1], imports: f[2:]})
		}
	})
	if planetDeps.err != nil {
		t.Fatal(planetDeps.err)
	}
	return planetDeps.pkgs
}
