//go:build e2e

package cli_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
)

// These tests run the real planet and planet-svg binaries: the SVG design
// is about processes (what a binary links, what a child may read, killing
// it at a deadline), which only real processes show.

// svgBins are planet and planet-svg built side by side, once for all the
// subtests of TestSVGBinaries.
type svgBins struct{ planet, planetSVG string }

func TestSVGBinaries(t *testing.T) {
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	b := svgBins{planet: filepath.Join(dir, "planet"), planetSVG: filepath.Join(dir, "planet-svg")}
	for _, build := range [][2]string{{b.planet, "../../cmd/planet"}, {b.planetSVG, "../../cmd/planet-svg"}} {
		if out, err := exec.Command(goBin, "build", "-o", build[0], build[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", build[1], err, out)
		}
	}
	t.Run("RenderSVG", b.testRenderSVG)
	t.Run("SVGFromExtension", b.testSVGFromExtension)
	t.Run("IgnoresPlantedCache", b.testIgnoresPlantedCache)
	t.Run("HelperKilledAtDeadline", b.testHelperKilledAtDeadline)
	t.Run("RefusesUntrustedHelper", b.testRefusesUntrustedHelper)
}

// renderEnv is planetEnv with TMPDIR and the SVG cache set.
func renderEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range planetEnv(t) {
		if !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// fixtureSnapshot scans the fixture /proc into dir/snap.json.
func fixtureSnapshot(t *testing.T, planet, dir string) string {
	t.Helper()
	snap := filepath.Join(dir, "snap.json")
	cmd := exec.Command(planet, "scan", "--proc-root", "../../testdata/proc", "-o", snap)
	cmd.Env = renderEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("planet scan: %v\n%s", err, out)
	}
	return snap
}

// The planet binary does not link the SVG engine, so scans (and every
// command but render -f svg) never pay its start-up.
func TestPlanetDoesNotLinkSVGEngine(t *testing.T) {
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	deps := func(pkg string) []string {
		out, err := exec.Command(goBin, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	engine := []string{"github.com/goccy/go-graphviz", "github.com/tetratelabs/wazero"}
	for _, pkg := range deps("../../cmd/planet") {
		for _, e := range engine {
			if strings.HasPrefix(pkg, e) {
				t.Errorf("cmd/planet depends on %s", pkg)
			}
		}
	}
	if !slices.Contains(deps("../../cmd/planet-svg"), "github.com/goccy/go-graphviz") {
		t.Error("cmd/planet-svg does not link go-graphviz: is this test still looking at the right thing?")
	}
}

// planet render -f svg draws through planet-svg found next to planet.
func (b svgBins) testRenderSVG(t *testing.T) {
	planet := b.planet
	dir := t.TempDir()
	snap := fixtureSnapshot(t, planet, dir)
	out := filepath.Join(dir, "out.svg")
	cmd := exec.Command(planet, "render", "-f", "svg", "-o", out, "--svg-cache-dir", filepath.Join(dir, "cache"), snap)
	cmd.Env = renderEnv(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("planet render -f svg: %v\n%s", err, b)
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	texts := parseSVG(t, svg)
	for _, want := range []string{"10.1.0.5", "10.3.0.9", "tcp/5432 my app → ?", "udp/53"} {
		if !slices.Contains(texts, want) {
			t.Errorf("%q not among the SVG's texts %q", want, texts)
		}
	}
	// Sans-serif, with fallbacks for machines without Verdana.
	if !strings.Contains(string(svg), `font-family="Verdana,DejaVu Sans,sans-serif"`) {
		t.Error("SVG text not in Verdana with fallbacks")
	}
}

func parseSVG(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	var in bool
	sawSVG := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v\n%.500s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			sawSVG = sawSVG || tok.Name.Local == "svg"
			in = tok.Name.Local == "text"
		case xml.CharData:
			if in {
				texts = append(texts, string(tok))
			}
		case xml.EndElement:
			in = false
		}
	}
	if !sawSVG {
		t.Fatalf("no <svg> element:\n%.500s", svg)
	}
	return texts
}

// A root run never reads an engine cache another user planted in $TMPDIR:
// planet-svg runs with TMPDIR set to root's private cache, so the planted
// directory stays empty (the engine would have filled it) and the SVG comes
// out. Then again with the private cache itself made untrustworthy: the
// render falls back to a fresh temp directory, with a warning.
func (b svgBins) testIgnoresPlantedCache(t *testing.T) {
	testenv.NeedRoot(t)
	planet, planetSVG := b.planet, b.planetSVG
	work := t.TempDir()
	snap := fixtureSnapshot(t, planet, work)
	tmp := filepath.Join(work, "tmp")
	if err := os.Mkdir(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o1777)
	planted := filepath.Join(tmp, "go-graphviz")
	if err := os.Mkdir(planted, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(planted, 0o777)
	if err := os.Chown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	badCache := filepath.Join(work, "bad-cache")
	if err := os.Mkdir(badCache, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(badCache, 0o777)
	os.Chown(badCache, 65534, 65534)

	for _, tt := range []struct {
		name string
		args []string
		warn bool
	}{
		{"default cache", nil, false},
		{"untrusted cache", []string{"--svg-cache-dir", badCache}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"render", "-f", "svg"}, tt.args...)
			cmd := exec.Command(planet, append(args, snap)...)
			cmd.Env = renderEnv(t, "TMPDIR="+tmp)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("planet render -f svg: %v\n%s", err, stderr.Bytes())
			}
			parseSVG(t, stdout.Bytes())
			if entries, err := os.ReadDir(planted); err != nil || len(entries) > 0 {
				t.Errorf("planted %s: %v, entries %v: the engine used it", planted, err, entries)
			}
			if got := strings.Contains(stderr.String(), "not private"); got != tt.warn {
				t.Errorf("warning logged: %v, want %v; stderr:\n%s", got, tt.warn, stderr.Bytes())
			}
			if entries, _ := os.ReadDir(badCache); len(entries) > 0 {
				t.Errorf("the untrusted cache %s was used: %v", badCache, entries)
			}
			// The fallback temp directory is gone again.
			if entries, _ := filepath.Glob(filepath.Join(tmp, "planet-svg-*")); len(entries) > 0 {
				t.Errorf("fallback directories left behind: %v", entries)
			}
		})
	}
	// Control: planet-svg run by hand with that TMPDIR does fill the planted
	// directory, so an empty one above means planet kept the engine out.
	direct := exec.Command(planetSVG)
	direct.Env = []string{"TMPDIR=" + tmp}
	direct.Stdin = strings.NewReader("digraph { a -> b }")
	if out, err := direct.CombinedOutput(); err != nil {
		t.Fatalf("planet-svg: %v\n%.300s", err, out)
	}
	if entries, _ := os.ReadDir(planted); len(entries) == 0 {
		t.Error("control: the engine did not use $TMPDIR/go-graphviz even when run directly; this test proves nothing")
	}
}

// A planet-svg that hangs is killed at --svg-timeout; planet fails with a
// message saying so, within a moment of the deadline.
func (bins svgBins) testHelperKilledAtDeadline(t *testing.T) {
	planet := bins.planet
	dir := t.TempDir()
	snap := fixtureSnapshot(t, planet, dir)
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, planet, filepath.Join(bin, "planet"), 0o755)
	pidFile := filepath.Join(dir, "pid")
	fake := "#!/bin/sh\necho $$ > " + pidFile + "\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "planet-svg"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "planet"), "render", "-f", "svg", "--svg-timeout", "1s",
		"--svg-cache-dir", filepath.Join(dir, "cache"), "-o", filepath.Join(dir, "out.svg"), snap)
	cmd.Env = renderEnv(t)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("err = %v, want exit 1\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("killed")) || took > 6*time.Second {
		t.Errorf("took %v, output:\n%s\nwant a kill at the 1s deadline", took, out)
	}
	pidText, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if pid <= 0 {
		t.Fatalf("fake helper never ran: pid file %q", pidText)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("helper pid %d still exists (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.svg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("out.svg written after a failed render: %v", err)
	}
}

// As root, a planet-svg another user could have replaced is not run.
func (b svgBins) testRefusesUntrustedHelper(t *testing.T) {
	testenv.NeedRoot(t)
	planet, planetSVG := b.planet, b.planetSVG
	dir := t.TempDir()
	snap := fixtureSnapshot(t, planet, dir)
	bin := filepath.Join(dir, "shared")
	if err := os.Mkdir(bin, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bin, 0o777) // writable by anyone, not sticky
	copyFile(t, planet, filepath.Join(bin, "planet"), 0o755)
	copyFile(t, planetSVG, filepath.Join(bin, "planet-svg"), 0o755)
	cmd := exec.Command(filepath.Join(bin, "planet"), "render", "-f", "svg", "--svg-cache-dir", filepath.Join(dir, "cache"), snap)
	cmd.Env = renderEnv(t)
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("refusing to run")) || !bytes.Contains(out, []byte("writable by group or others")) {
		t.Fatalf("err = %v, output:\n%s\nwant a refusal", err, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
