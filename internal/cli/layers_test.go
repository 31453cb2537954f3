package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestOnlyCommandLayerImportsRender: among planet's packages, only the
// command layer (this package) imports render: the libraries (scan,
// graph, promsrc, metrics, ...) hand their results to it and never draw
// or read documents through it (issue #16's layout).
func TestOnlyCommandLayerImportsRender(t *testing.T) {
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	const module = "github.com/planetdeps/planet/"
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../cmd/planet").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	seen := false
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if imp != module+"render" {
				continue
			}
			if pkg == module+"internal/cli" {
				seen = true
			} else {
				t.Errorf("%s imports render: only the command layer (internal/cli) may", pkg)
			}
		}
	}
	if !seen {
		t.Error("internal/cli does not import render: is this test still looking at the right thing?")
	}
}
