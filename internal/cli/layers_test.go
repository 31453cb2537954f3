package cli

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestOnlyCommandLayerImportsRender: among planet's packages, only the
// command layer (this package) imports render: the libraries (scan,
// graph, promsrc, metrics, ...) hand their results to it and never draw
// or read documents through it (issue #16's layout).
func TestOnlyCommandLayerImportsRender(t *testing.T) {
	seen := false
	for _, p := range planetPackages(t) {
		pkg := p.path
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		for _, imp := range p.imports {
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

// TestGraphHasNoFileSystem: graph merges, reads and writes documents
// through io.Reader and io.Writer; finding and opening files (a fleet's
// walk, its two passes) is package fleet's, and a document's file is
// opened by package document (issue #16, item 3). The check is on graph's
// own imports: every package reaches os through fmt.
func TestGraphHasNoFileSystem(t *testing.T) {
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	out, err := exec.Command(goBin, "list", "-f", `{{join .Imports " "}}`, "../../graph").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "io") {
		t.Fatalf("graph imports %v, not io: is this test still looking at the right thing?", imports)
	}
	for _, fsPkg := range []string{"os", "io/fs", "io/ioutil", "path/filepath", "syscall"} {
		if slices.Contains(imports, fsPkg) {
			t.Errorf("graph imports %s: the file system is package fleet's and document's", fsPkg)
		}
	}
}
