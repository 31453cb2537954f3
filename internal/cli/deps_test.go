package cli

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestPlanetLinksNoTestTools: the planet binary links the product's
// packages only (issue #16's layout): no test helper (a package that
// imports testing: testenv, testnet, golden), no test data generator
// (fleetgen, ctsynth, snapfixtures), no other program (internal/cmd/...,
// cmd/planet-svg), and nothing but cmd/planet sits above the command layer.
func TestPlanetLinksNoTestTools(t *testing.T) {
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	const module = "github.com/planetdeps/planet/"
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "../../cmd/planet").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	generators := []string{"internal/fleetgen", "scan/conntrack/ctsynth", "internal/snapfixtures", "promsrc/internal/fleetmetrics"}
	var linked []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		rel, ok := strings.CutPrefix(f[0], module)
		if !ok {
			continue
		}
		linked = append(linked, rel)
		imports := f[2:]
		switch {
		case slices.Contains(imports, "testing"):
			t.Errorf("%s imports testing: a test helper linked into planet", rel)
		case slices.Contains(generators, rel):
			t.Errorf("%s, a test data generator, is linked into planet", rel)
		case f[1] == "main" && rel != "cmd/planet":
			t.Errorf("%s, another program, is linked into planet", rel)
		case strings.HasPrefix(rel, "internal/cmd/"):
			t.Errorf("%s, a tool's package, is linked into planet", rel)
		}
		if slices.Contains(imports, module+"internal/cli") && rel != "cmd/planet" {
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
