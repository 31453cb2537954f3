//go:build e2e

package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
)

// These tests put planet in front of a person: a real terminal (a tmux
// pane) running an interactive shell, keys typed into it, the screen read
// back. Pipes and files are the testscript's; only a terminal shows what a
// person at one sees, and what Ctrl-C does there.

// pane is a tmux session on a private server socket, running sh.
type pane struct {
	t    *testing.T
	tmux string
	sock string
	step int
}

// newPane starts a width x height terminal running an interactive sh, and
// stops its tmux server when the test ends.
func newPane(t *testing.T, width, height int) *pane {
	t.Helper()
	p := &pane{t: t, tmux: testenv.NeedCommand(t, "tmux", "tmux"), sock: filepath.Join(t.TempDir(), "tmux.sock")}
	p.run("-f", "/dev/null", "new-session", "-d", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), "-s", "planet", "sh")
	t.Cleanup(func() { exec.Command(p.tmux, "-S", p.sock, "kill-server").Run() })
	p.waitFor(regexp.MustCompile(`(?m)^[#$] ?$`), 5*time.Second) // the prompt
	return p
}

func (p *pane) run(args ...string) string {
	p.t.Helper()
	out, err := exec.Command(p.tmux, append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// typeLine types line and Enter, as a person would.
func (p *pane) typeLine(line string) {
	p.t.Helper()
	p.run("send-keys", "-t", "planet", "-l", line)
	p.run("send-keys", "-t", "planet", "Enter")
}

// shell clears the screen, runs line in the pane's shell and returns the
// screen once it is done, with the exit status.
func (p *pane) shell(line string) (screen, code string) {
	p.t.Helper()
	p.step++
	p.typeLine(fmt.Sprintf("clear; %s; echo DONE%d $?", line, p.step))
	done := regexp.MustCompile(fmt.Sprintf(`DONE%d (\d+)`, p.step))
	screen = p.waitFor(done, 10*time.Second)
	return screen, done.FindStringSubmatch(screen)[1]
}

// planet returns the PID of planet run by the pane's shell.
func (p *pane) planet() int {
	p.t.Helper()
	sh, err := strconv.Atoi(strings.TrimSpace(p.run("display-message", "-p", "-t", "planet", "#{pane_pid}")))
	if err != nil {
		p.t.Fatal(err)
	}
	pid, err := testenv.WaitChild(sh, "planet", 10*time.Second)
	if err != nil {
		p.t.Fatalf("the pane's shell: %v", err)
	}
	return pid
}

// key sends one key, such as C-c.
func (p *pane) key(k string) { p.t.Helper(); p.run("send-keys", "-t", "planet", k) }

// screen is what the terminal shows, lines joined (no wrapping artefacts).
func (p *pane) screen() string {
	p.t.Helper()
	return p.run("capture-pane", "-p", "-J", "-t", "planet")
}

// waitFor polls the screen until re matches it, and returns the screen.
func (p *pane) waitFor(re *regexp.Regexp, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := p.screen()
		if re.MatchString(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("after %s the terminal shows no match for %s:\n%s", within, re, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// terminalEnv is the environment planet runs with in the pane: the test's
// own config and caches, never the developer's.
func terminalEnv(t *testing.T) string {
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return "PLANET_CONFIG=" + empty + " XDG_CONFIG_HOME=/nonexistent XDG_CACHE_HOME=" + t.TempDir() + " PLANET_STATE_DIR=" + t.TempDir()
}

// TestTerminalStdin: render, merge - and diff with nothing on standard
// input at a terminal say what they wait for, and the first Ctrl-C ends
// them (exit 130) within a second. With standard input redirected, no such
// message is printed.
func TestTerminalStdin(t *testing.T) {
	planet := buildPlanet(t, t.TempDir())
	graphFile := filepath.Join(t.TempDir(), "graph.json")
	if err := os.WriteFile(graphFile, []byte(`{"schema": "planet.graph/v1", "generated_at": "2025-03-01T12:00:00Z", "by": "hostgroup", "external": "ip", "snapshots": 0, "nodes": [], "edges": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := terminalEnv(t)
	tests := []struct {
		name, args, waits string
	}{
		{"render", "render", "waiting for a snapshot or graph (JSON) on standard input"},
		{"render -", "render -f mermaid -", "waiting for a snapshot or graph (JSON) on standard input"},
		{"merge -", "merge -", "waiting for snapshots (JSON, one or many back to back) on standard input"},
		{"diff OLD -", "diff " + graphFile + " -", "waiting for a graph or snapshot (JSON) on standard input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPane(t, 200, 40)
			p.typeLine(env + " " + planet + " " + tt.args + "; echo EXIT=$?")
			screen := p.waitFor(regexp.MustCompile(regexp.QuoteMeta(tt.waits)), 10*time.Second)
			if !strings.Contains(screen, "Ctrl-D") || !strings.Contains(screen, "Ctrl-C") {
				t.Errorf("the message does not say how to end or stop:\n%s", screen)
			}
			if err := testenv.WaitBlocked(p.planet(), "reading the terminal", 10*time.Second, testenv.Reading(0)); err != nil {
				t.Fatalf("%v\n%s", err, p.screen())
			}
			if regexp.MustCompile(`EXIT=\d`).MatchString(p.screen()) {
				t.Fatalf("planet ended without input:\n%s", p.screen())
			}
			sent := time.Now()
			p.key("C-c")
			screen = p.waitFor(regexp.MustCompile(`EXIT=\d+`), 5*time.Second)
			if d := time.Since(sent); d > time.Second {
				t.Errorf("planet ended %s after the first Ctrl-C, want within a second", d)
			}
			if !strings.Contains(screen, "EXIT=130") {
				t.Errorf("exit status after Ctrl-C is not 130:\n%s", screen)
			}
		})
	}
	t.Run("redirected", func(t *testing.T) {
		p := newPane(t, 200, 40)
		p.typeLine(env + " " + planet + " render < /dev/null; echo EXIT=$?")
		screen := p.waitFor(regexp.MustCompile(`EXIT=\d+`), 10*time.Second)
		if strings.Contains(screen, "waiting for") {
			t.Errorf("standard input is not a terminal, yet planet says it waits:\n%s", screen)
		}
		if !strings.Contains(screen, "empty file") {
			t.Errorf("empty standard input: no error naming it:\n%s", screen)
		}
	})
}

// TestTerminalScan: planet scan at a terminal shows the table; piped, it
// writes the snapshot's JSON.
func TestTerminalScan(t *testing.T) {
	planet := buildPlanet(t, t.TempDir())
	fixture, err := filepath.Abs("../../testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	env := terminalEnv(t)
	scan := env + " " + planet + " scan --proc-root " + fixture

	p := newPane(t, 200, 60)
	screen, code := p.shell(scan + " 2>/dev/null")
	for _, want := range []string{"LISTENERS", "UPSTREAM", "DOWNSTREAM"} {
		if !regexp.MustCompile(`(?m)^` + want).MatchString(screen) {
			t.Errorf("scan at a terminal: no line starting %q:\n%s", want, screen)
		}
	}
	if code != "0" || strings.Contains(screen, `"schema"`) {
		t.Errorf("scan at a terminal printed JSON, or failed (exit %s):\n%s", code, screen)
	}

	if screen, _ = p.shell(scan + " 2>/dev/null | head -3"); !strings.Contains(screen, `"schema": "planet.snapshot/v2"`) {
		t.Errorf("scan into a pipe: no snapshot JSON:\n%s", screen)
	}
	if screen, _ = p.shell(scan + " --format json 2>/dev/null | head -3"); !strings.Contains(screen, `"schema": "planet.snapshot/v2"`) {
		t.Errorf("scan --format json at a terminal: no snapshot JSON:\n%s", screen)
	}

	// --textfile-dir: nothing into a pipe (cron), the table at a terminal
	// (a person ran it).
	textfiles := t.TempDir()
	if screen, _ = p.shell(scan + " --textfile-dir " + textfiles + " 2>/dev/null | wc -c"); !regexp.MustCompile(`(?m)^\s*0$`).MatchString(screen) {
		t.Errorf("scan --textfile-dir into a pipe: want 0 bytes:\n%s", screen)
	}
	if screen, _ = p.shell(scan + " --textfile-dir " + textfiles + " 2>/dev/null"); !regexp.MustCompile(`(?m)^LISTENERS`).MatchString(screen) {
		t.Errorf("scan --textfile-dir at a terminal: no table:\n%s", screen)
	}
}
