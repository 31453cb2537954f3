package render

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// planet scan links this package (its table) and package metrics (for
// --textfile-dir), so what they import is paid for on every cron run. go-graphviz (and the wazero runtime under it)
// initialises a WebAssembly Graphviz at start-up; the Prometheus libraries
// are not needed to write a small text format.
func TestLeanDependencies(t *testing.T) {
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".", "../metrics").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/goccy/go-graphviz", "github.com/tetratelabs/wazero", "github.com/prometheus/"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("package render or metrics depends on %s", pkg)
			}
		}
	}
}
