//go:build e2e

package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// planet render -o graph.svg, with no --format, draws the SVG (the
// extension names the format) rather than writing a table into graph.svg.
func (b svgBins) testSVGFromExtension(t *testing.T) {
	dir := t.TempDir()
	snap := fixtureSnapshot(t, b.planet, dir)
	out := filepath.Join(dir, "graph.svg")
	cmd := exec.Command(b.planet, "render", "-o", out, "--svg-cache-dir", filepath.Join(dir, "cache"), snap)
	cmd.Env = renderEnv(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("planet render -o graph.svg: %v\n%s", err, b)
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, svg) // fails the test unless it is an SVG document
}
