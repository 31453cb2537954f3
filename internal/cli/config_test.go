package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run is planet in-process with no config but the one given (or none).
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", "/nonexistent")
	var out, errb bytes.Buffer
	code = Main(context.Background(), BuildInfo{Version: "test"}, args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// TestConfigPerCommand: a command takes from the config file only its own
// keys (C1: scan's output: made merge, render and diff overwrite the
// snapshot with their own output and print nothing); a key no command
// knows, or one several commands share at the top level, is an error naming
// the file, the key and the closest known key.
func TestConfigPerCommand(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.json")
	if code, _, stderr := run(t, "--config", "", "scan", "--proc-root", "../../testdata/proc", "-o", snap); code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	good, _ := os.ReadFile(snap)
	tf := filepath.Join(dir, "tf")
	if err := os.Mkdir(tf, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		config     string
		args       []string
		wantCode   int
		wantStdout string // substring; "" = don't care
		wantErr    []string
		wantProm   bool // tf/planet.prom written
	}{
		{name: "top-level output is ambiguous for merge", config: "output: " + snap, args: []string{"merge", snap},
			wantCode: ExitUsage, wantErr: []string{"config ", "planet.yaml", `key "output"`, "diff, merge, render, scan", "scan:"}},
		{name: "top-level output is ambiguous for render", config: "output: " + snap, args: []string{"render", "-f", "dot", snap},
			wantCode: ExitUsage, wantErr: []string{`key "output"`}},
		{name: "top-level output is ambiguous for diff", config: "output: " + snap, args: []string{"diff", snap, snap},
			wantCode: ExitUsage, wantErr: []string{`key "output"`}},
		{name: "scan's output in its section does not reach merge", config: "scan:\n  output: " + snap, args: []string{"merge", snap},
			wantStdout: `"schema": "planet.graph/v1"`},
		{name: "render's format does not reach diff", config: "render:\n  format: dot", args: []string{"diff", snap, snap},
			wantStdout: ""},
		{name: "render's format reaches render", config: "render:\n  format: dot", args: []string{"render", snap},
			wantStdout: "digraph"},
		{name: "misspelled top-level key", config: "inventroy: http://x/\n", args: []string{"scan", "--proc-root", "../../testdata/proc", "-o", "-"},
			wantCode: ExitUsage, wantErr: []string{"planet.yaml", `unknown key "inventroy"`, `did you mean "inventory"`}},
		{name: "misspelled key in a section", config: "scan:\n  textfile-dri: /x\n", args: []string{"merge", snap},
			wantCode: ExitUsage, wantErr: []string{`unknown key "textfile-dri" in section scan`, `did you mean "textfile-dir"`}},
		{name: "another command's key in a section", config: "merge:\n  textfile-dir: /x\n", args: []string{"merge", snap},
			wantCode: ExitUsage, wantErr: []string{`unknown key "textfile-dir" in section merge`}},
		{name: "a section that is not a map", config: "scan: yes\n", args: []string{"merge", snap},
			wantCode: ExitUsage, wantErr: []string{"scan: want a section"}},
		{name: "scan-only shorthand applies to scan", config: "textfile-dir: " + tf + "\nlog-level: warn\n",
			args: []string{"scan", "--proc-root", "../../testdata/proc", "-o", os.DevNull}, wantProm: true},
		{name: "scan-only shorthand does not reach merge", config: "textfile-dir: " + tf + "\n", args: []string{"merge", snap},
			wantStdout: "planet.graph/v1"},
		{name: "the section wins over the shorthand", config: "textfile-dir: /nonexistent\nscan:\n  textfile-dir: " + tf + "\n",
			args: []string{"scan", "--proc-root", "../../testdata/proc", "-o", os.DevNull}, wantProm: true},
		{name: "a global in a section", config: "merge:\n  log-level: bogus\n", args: []string{"merge", snap},
			wantCode: ExitUsage, wantErr: []string{"--log-level"}},
		{name: "not YAML", config: "scan: [\n", args: []string{"merge", snap},
			wantCode: ExitError, wantErr: []string{"planet.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(tf, "planet.prom"))
			if err := os.WriteFile(snap, good, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(t.TempDir(), "planet.yaml")
			if err := os.WriteFile(cfg, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := run(t, append([]string{"--config", cfg}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
			if tt.wantCode == 0 && !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %.200q does not contain %q", stdout, tt.wantStdout)
			}
			if b, _ := os.ReadFile(snap); !bytes.Equal(b, good) {
				t.Errorf("the snapshot changed: %.100q", b)
			}
			_, err := os.Stat(filepath.Join(tf, "planet.prom"))
			if got := err == nil; got != tt.wantProm {
				t.Errorf("planet.prom written = %v, want %v", got, tt.wantProm)
			}
		})
	}
}

// TestConfigNotAFile: a config path that is a FIFO or a device is refused
// at once, never opened for a blocking read.
func TestConfigNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "planet.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		done := make(chan struct{})
		var code int
		var stderr string
		go func() {
			defer close(done)
			code, _, stderr = run(t, "--config", path, "version")
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("--config %s blocked", path)
		}
		if code != ExitError || !strings.Contains(stderr, path) || !strings.Contains(stderr, "not a regular file") {
			t.Errorf("--config %s: exit %d, stderr %q", path, code, stderr)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"inventory", "inventory-format", "output", "textfile-dir", "scan"}
	for key, want := range map[string]string{
		"inventroy":   ` did you mean "inventory"?`,
		"outptu":      ` did you mean "output"?`,
		"textfiledir": ` did you mean "textfile-dir"?`,
		"zzzzzzzzzz":  " no such flag",
	} {
		if got := suggest(key, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}
