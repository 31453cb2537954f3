//go:build e2e

package fleet_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/golden"
)

// fixtureDir holds the snapshots of the fleet's first scan (one
// <host>/snapshot.json each, as an ansible fetch leaves them), which the
// README's quick start merges and draws. TestFleet -update (as root)
// refreshes them together with testdata/before.graph.json.
const fixtureDir = "../../examples/fleet"

// The README's picture and the block of example output under it.
const (
	picturePath = "../../docs/fleet.svg"
	readmePath  = "../../README.md"
	tableMarker = "<!-- fleet table: written by TestPicture in e2e/fleet/picture_test.go (go test -tags e2e ./e2e/fleet -run TestPicture -update) -->"
)

// keepSnapshots, under -update, replaces the fixtures in to with the
// snapshots this run took in dir, so the quick start's fleet is the one
// the acceptance test checked. Without -update TestPicture compares them.
func keepSnapshots(t *testing.T, dir, to string) {
	t.Helper()
	if !golden.Updating() || t.Failed() {
		return
	}
	if err := os.RemoveAll(to); err != nil {
		t.Fatal(err)
	}
	for _, h := range scanned {
		b, err := os.ReadFile(filepath.Join(dir, h.name, "snapshot.json"))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(to, h.name, "snapshot.json")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPicture runs the README's quick start on the fleet fixtures with the
// planet binary: the snapshots must merge into the graph TestFleet checked
// (testdata/before.graph.json, up to the fields it normalises), the SVG
// render must equal docs/fleet.svg (the README's picture) and the table
// render the README's example output. -update rewrites the picture and the
// README's block; the fixtures themselves only come from TestFleet.
func TestPicture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds planet and planet-svg")
	}
	tmp := t.TempDir()
	planet := buildPlanet(t, tmp)
	config := filepath.Join(tmp, "planet.yaml")
	if err := os.WriteFile(config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(planet, append([]string{"--config", config}, args...)...)
		cmd.Env = cleanEnv()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("planet %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return stdout.Bytes()
	}

	graphPath := filepath.Join(tmp, "fleet.json")
	run("merge", fixtureDir, "-o", graphPath)
	b, err := os.ReadFile(graphPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Parse(b, graphPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/before.graph.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := normalGraph(t, g, trafficBefore); !bytes.Equal(got, want) {
		t.Errorf("%s merges into another graph than testdata/before.graph.json: the fixtures are no longer the acceptance fleet's; refresh both with `go test -tags e2e ./e2e/fleet -run '^TestFleet$' -update` as root\n--- got\n%s", fixtureDir, got)
	}

	svgPath := filepath.Join(tmp, "fleet.svg")
	run("render", graphPath, "-o", svgPath, "--svg-cache-dir", filepath.Join(tmp, "cache"))
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, picturePath, svg)

	checkReadmeBlock(t, readmePath, tableMarker, run("render", graphPath))
}

// checkReadmeBlock compares the fenced block right after marker in the
// file at path with got; under -update it rewrites that block.
func checkReadmeBlock(t *testing.T, path, marker string, got []byte) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(doc, []byte(marker+"\n```text\n"))
	if start < 0 {
		t.Fatalf("%s: no %q line followed by a ```text block", path, marker)
	}
	body := start + len(marker) + len("\n```text\n")
	end := body
	if !bytes.HasPrefix(doc[body:], []byte("```\n")) {
		i := bytes.Index(doc[body:], []byte("\n```\n"))
		if i < 0 {
			t.Fatalf("%s: the block after %q is not closed", path, marker)
		}
		end += i + 1
	}
	if bytes.Equal(doc[body:end], got) {
		return
	}
	if !golden.Updating() {
		t.Errorf("%s: the example output after %q differs from planet's (run go test with -update to accept):\n--- want\n%s\n--- got\n%s", path, marker, doc[body:end], got)
		return
	}
	out := append(append(append([]byte{}, doc[:body]...), got...), doc[end:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
