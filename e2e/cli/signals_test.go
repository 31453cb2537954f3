//go:build e2e

package cli_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fleetgen"
	"github.com/planetdeps/planet/internal/testenv"
)

// TestSignalDuringMergeAndRender: SIGINT or SIGTERM during a long merge or a
// long SVG render stops planet within a second, leaves the previous output
// as it was, and exits 130 or 143.
func TestSignalDuringMergeAndRender(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds planet and a 3,000-host fleet")
	}
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	bins := t.TempDir()
	planet, planetSVG := filepath.Join(bins, "planet"), filepath.Join(bins, "planet-svg")
	for _, b := range [][2]string{{planet, "../../cmd/planet"}, {planetSVG, "../../cmd/planet-svg"}} {
		if out, err := exec.Command(goBin, "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}

	fleet := t.TempDir()
	if _, err := fleetgen.Generate(fleet, fleetgen.Options{Hosts: 3000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	dense := filepath.Join(t.TempDir(), "dense.graph.json")
	writeDenseGraph(t, dense, 100, 450)

	// Signal once planet is at work: reading the fleet's files, or with
	// planet-svg laying the graph out.
	reading := func(pid int) error { return testenv.WaitOpen(pid, fleet, 10*time.Second) }
	drawing := func(pid int) error {
		_, err := testenv.WaitChild(pid, "planet-svg", 10*time.Second)
		return err
	}
	tests := []struct {
		name   string
		args   func(out string) []string
		atWork func(pid int) error
		sig    syscall.Signal
		want   int
	}{
		{"merge SIGINT", func(out string) []string { return []string{"merge", fleet, "-o", out} }, reading, syscall.SIGINT, 130},
		{"merge SIGTERM", func(out string) []string { return []string{"merge", fleet, "-o", out} }, reading, syscall.SIGTERM, 143},
		{"render svg SIGINT", func(out string) []string {
			return []string{"render", "-f", "svg", "--force", "--svg-timeout", "5m", dense, "-o", out}
		}, drawing, syscall.SIGINT, 130},
		{"render svg SIGTERM", func(out string) []string {
			return []string{"render", "-f", "svg", "--force", "--svg-timeout", "5m", dense, "-o", out}
		}, drawing, syscall.SIGTERM, 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			if err := os.WriteFile(out, []byte("previous\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(planet, tt.args(out)...)
			cmd.Env = append(planetEnv(t), "TMPDIR="+t.TempDir())
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan struct{})
			go func() { cmd.Wait(); close(waited) }()
			// The merge of this fleet takes seconds, the layout of this
			// graph minutes.
			if err := tt.atWork(cmd.Process.Pid); err != nil {
				cmd.Process.Kill()
				<-waited
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			sent := time.Now()
			cmd.Process.Signal(tt.sig)
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-waited
				t.Fatalf("still running 10s after %s\n%s", tt.sig, stderr.String())
			}
			if d := time.Since(sent); d > time.Second {
				t.Errorf("stopped %s after %s, want within a second", d, tt.sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.want {
				t.Errorf("exit code %d, want %d\n%s", code, tt.want, stderr.String())
			}
			if b, _ := os.ReadFile(out); string(b) != "previous\n" {
				t.Errorf("output changed after %s: %.200q", tt.sig, b)
			}
			if left := temps(t, dir); len(left) > 0 {
				t.Errorf("temp files left: %v", left)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
			}
		})
	}
}

// writeDenseGraph writes a graph of n hostgroups and m random dependencies
// between them: the kind whose Graphviz layout takes minutes.
func writeDenseGraph(t *testing.T, path string, n, m int) {
	t.Helper()
	g := &graph.Graph{Schema: graph.Schema, GeneratedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), By: graph.ByHostgroup, External: "ip", Snapshots: n}
	for i := range n {
		g.Nodes = append(g.Nodes, &graph.Node{ID: fmt.Sprintf("g%03d", i), Kind: graph.KindHostgroup, HostCount: 1})
	}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[[2]int]bool{}
	for len(g.Edges) < m {
		a, b := r.IntN(n), r.IntN(n)
		if a == b || seen[[2]int{a, b}] {
			continue
		}
		seen[[2]int{a, b}] = true
		g.Edges = append(g.Edges, &graph.Edge{From: g.Nodes[a].ID, To: g.Nodes[b].ID, Protocol: "tcp", Port: uint16(1000 + r.IntN(5000)),
			SeenFrom: graph.SeenBoth, ClientHosts: 1, ServerHosts: 1, Sockets: 1})
	}
	var buf bytes.Buffer
	if err := graph.Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.Parse(buf.Bytes(), path); err != nil {
		t.Fatalf("the dense graph does not read back: %v", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSecondSignalExitsAtOnce: the first SIGINT or SIGTERM asks planet to
// stop cleanly; a second one, whichever it is, ends planet at once with that
// signal's exit status, even when the work in progress does not heed the
// first. Here the work is `planet render -f json` writing a graph larger than
// a pipe's buffer to a standard output nobody reads: a blocked write(2) has
// no deadline, so the first signal cannot end it.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds planet")
	}
	planet := buildPlanet(t, t.TempDir())
	// About 500 KB of JSON: far more than a pipe's 64 KiB buffer.
	big := filepath.Join(t.TempDir(), "big.graph.json")
	writeDenseGraph(t, big, 100, 2000)
	for _, tc := range []struct {
		first, second syscall.Signal
		want          int
	}{
		{syscall.SIGINT, syscall.SIGTERM, 143},
		{syscall.SIGTERM, syscall.SIGINT, 130},
		{syscall.SIGINT, syscall.SIGINT, 130},
	} {
		t.Run(tc.first.String()+" then "+tc.second.String(), func(t *testing.T) {
			// The read end stays open and unread until the test ends.
			unread, stdout, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer unread.Close()
			defer stdout.Close()
			var stderr bytes.Buffer
			cmd := exec.Command(planet, "render", "-f", "json", big)
			cmd.Env = planetEnv(t)
			cmd.Stdout = stdout
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan struct{})
			go func() { cmd.Wait(); close(waited) }()
			defer func() {
				cmd.Process.Kill()
				<-waited
			}()
			pid := cmd.Process.Pid
			if err := testenv.WaitBlocked(pid, "writing standard output", 10*time.Second, testenv.Writing(1)); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			cmd.Process.Signal(tc.first)
			// Handed to planet and taken (the runtime folds a second
			// SIGINT into one not yet taken), the first signal leaves it in
			// the write.
			err = testenv.WaitDelivered(pid, tc.first, 10*time.Second)
			if err == nil {
				err = testenv.WaitIdle(pid, 10*time.Second)
			}
			if err == nil {
				err = testenv.WaitBlocked(pid, "writing standard output", 10*time.Second, testenv.Writing(1))
			}
			if err != nil {
				t.Fatalf("after the first %s: %v; this test cannot see the second signal: "+
					"give planet work that outlasts the first signal\n%s", tc.first, err, stderr.String())
			}
			sent := time.Now()
			cmd.Process.Signal(tc.second)
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				t.Fatalf("still running 5s after the second signal (%s)\n%s", tc.second, stderr.String())
			}
			if d := time.Since(sent); d > time.Second {
				t.Errorf("exited %v after the second signal, want within a second", d)
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.want {
				t.Errorf("exit code %d, want %d (128 + the second signal's number)\n%s", code, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "second signal") {
				t.Errorf("stderr does not say a second signal ended planet:\n%s", stderr.String())
			}
		})
	}
}
