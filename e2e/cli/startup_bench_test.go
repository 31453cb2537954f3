//go:build e2e

package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkScanStartup is the CPU (user+sys) one planet scan of the fixture
// /proc costs, side by side for planet and for a throwaway build of planet
// that also links go-graphviz (blank import: only its init runs): the cost
// planet-svg keeps out of every command but render -f svg. The figures are
// the cpu-ns/op metric of each sub-benchmark; the heavy build's engine
// cache is warmed by one run before timing.
//
//	go test -tags e2e ./e2e/cli -run '^$' -bench ScanStartup
func BenchmarkScanStartup(b *testing.B) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Skipf("the go command is not in PATH: %v", err)
	}
	dir := b.TempDir()
	planet := filepath.Join(dir, "planet")
	if out, err := exec.Command(goBin, "build", "-o", planet, "../../cmd/planet").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	// The wrapper is laid over the module with -overlay: nothing is written
	// into the source tree.
	modDir, err := filepath.Abs(".")
	if err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "main.go")
	wrapper := `package main

import (
	"context"
	"os"

	_ "github.com/goccy/go-graphviz"

	"github.com/planetdeps/planet/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), cli.BuildInfo{Version: "heavy"}, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
`
	if err := os.WriteFile(src, []byte(wrapper), 0o644); err != nil {
		b.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(modDir, "planetheavy", "main.go"): src}})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		b.Fatal(err)
	}
	heavy := filepath.Join(dir, "planet-heavy")
	if out, err := exec.Command(goBin, "build", "-overlay", overlayFile, "-o", heavy, "./planetheavy").CombinedOutput(); err != nil {
		b.Fatalf("go build (planet + go-graphviz): %v\n%s", err, out)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "PLANET_CONFIG="+empty, "XDG_CONFIG_HOME=/nonexistent",
		"PLANET_STATE_DIR="+b.TempDir(), "TMPDIR="+b.TempDir())
	run := func(b *testing.B, bin string) time.Duration {
		cmd := exec.Command(bin, "scan", "--proc-root", "../../testdata/proc")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s scan: %v\n%s", bin, err, stderr.Bytes())
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	for _, bin := range []struct{ name, path string }{{"planet", planet}, {"planet+go-graphviz", heavy}} {
		b.Run(bin.name, func(b *testing.B) {
			run(b, bin.path) // warm-up: fills the heavy build's engine cache
			var cpu time.Duration
			for b.Loop() {
				cpu += run(b, bin.path)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
