//go:build e2e

package cli_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"

	"github.com/planetdeps/planet/internal/fleetgen"
	"github.com/planetdeps/planet/internal/testenv"
)

// TestRenderTableFitsTerminal runs planet render in a real terminal (a
// tmux pane 80 columns wide) on a 40-host fleet: no line of the table is
// wider than the pane (none wraps), long lists end in "+N more", and
// external addresses come in numeric order. Through a pipe the table is
// not cut.
func TestRenderTableFitsTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds planet")
	}
	tmux := testenv.NeedCommand(t, "tmux", "tmux")
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	dir := t.TempDir()
	planet := filepath.Join(dir, "planet")
	if out, err := exec.Command(goBin, "build", "-o", planet, "../../cmd/planet").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fleet := filepath.Join(dir, "fleet")
	if _, err := fleetgen.Generate(fleet, fleetgen.Options{Hosts: 40, Records: 40, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	g := filepath.Join(dir, "graph.json")
	if out, err := exec.Command(planet, "merge", "-o", g, fleet).CombinedOutput(); err != nil {
		t.Fatalf("planet merge: %v\n%s", err, out)
	}

	// A private tmux server (its own socket), so nothing else is touched.
	sock := filepath.Join(dir, "tmux.sock")
	done := filepath.Join(dir, "done")
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The history must hold the whole table: set before the pane exists.
	tm("-f", "/dev/null", "start-server", ";", "set-option", "-g", "history-limit", "100000", ";",
		"new-session", "-d", "-x", "80", "-y", "40", "env", "-u", "COLUMNS", "sh", "-c",
		planet+" render "+g+"; touch "+done+"; sleep 60")
	defer exec.Command(tmux, "-S", sock, "kill-server").Run()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("planet render did not finish in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pane := tm("capture-pane", "-p", "-J", "-S", "-", "-E", "-")
	lines := strings.Split(pane, "\n")
	for i, l := range lines {
		// -J joins wrapped lines: a joined line wider than the pane wrapped.
		if w := uniseg.StringWidth(l); w > 80 {
			t.Errorf("line %d wraps (%d columns): %q", i+1, w, l)
		}
	}
	if !regexp.MustCompile(`(?m)^worker +hostgroup +\d+ +worker-\d+,[^ ]*\+\d+ more`).MatchString(pane) {
		t.Errorf("the worker group's hosts are not capped with +N more:\n%s", pane)
	}
	var ips []netip.Addr
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "external" {
			a, err := netip.ParseAddr(f[0])
			if err != nil {
				t.Fatalf("external node %q: %v", f[0], err)
			}
			ips = append(ips, a)
		}
	}
	if !slices.IsSortedFunc(ips, netip.Addr.Compare) {
		t.Errorf("external nodes not in numeric order: %v", ips)
	}
	text := make([]string, len(ips))
	for i, a := range ips {
		text[i] = a.String()
	}
	if len(ips) < 100 || slices.IsSorted(text) {
		t.Errorf("%d external nodes, sorted as text too: the fixture does not tell the orders apart", len(ips))
	}

	// Through a pipe nothing is cut.
	out, err := exec.Command(planet, "render", g).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "…") || strings.Contains(string(out), "not shown in") {
		t.Error("a piped table was fitted to a terminal")
	}
}
