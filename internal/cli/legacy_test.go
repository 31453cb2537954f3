package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestLegacyArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		want  []string
		notes []string // substrings of stderr, one per note
	}{
		{
			name:  "the old template's inventory flags",
			args:  []string{"scan", "-task-inventory-enabled", "-task-inventory-addr", "http://inv/hosts.json", "-task-inventory-format", "arrayjson"},
			want:  []string{"scan", "--inventory=http://inv/hosts.json", "--inventory-format=array"},
			notes: []string{"-task-inventory-enabled is deprecated", "-task-inventory-addr is deprecated (the old exporter's): use --inventory", "-task-inventory-format is deprecated (the old exporter's): use --inventory-format"},
		},
		{
			name:  "=value forms, double dash, darkstat",
			args:  []string{"scan", "--task-darkstat-addr=http://127.0.0.1:51666/metrics", "-task-inventory-format=NDJSON"},
			want:  []string{"scan", "--darkstat=http://127.0.0.1:51666/metrics", "--inventory-format=ndjson"},
			notes: []string{"use --darkstat", "use --inventory-format"},
		},
		{
			name:  "a disabled task drops its address, wherever it is",
			args:  []string{"scan", "-task-darkstat-addr", "http://x/", "-task-darkstat-enabled=false", "-o", "s.json"},
			want:  []string{"scan", "-o", "s.json"},
			notes: []string{"use --darkstat", "-task-darkstat-enabled is deprecated", "-task-darkstat-addr dropped: its task is disabled"},
		},
		{
			name:  "server settings are dropped with their values",
			args:  []string{"scan", "-listen-address", "0.0.0.0:19100", "-task-interval", "7s", "-task-ebpf-enabled", "-task-ebpf-addr", "http://localhost:9435/metrics", "-log-disable-timestamp"},
			want:  []string{"scan"},
			notes: []string{"-listen-address", "-task-interval", "-task-ebpf-enabled", "-task-ebpf-addr", "-log-disable-timestamp"},
		},
		{
			name:  "the old log levels",
			args:  []string{"scan", "-log-level", "warning"},
			want:  []string{"scan", "--log-level=warn"},
			notes: []string{"-log-level is deprecated"},
		},
		{
			name: "planet's own flags and everything after -- are left alone",
			args: []string{"scan", "--log-level", "debug", "-o", "-", "--", "-task-interval"},
			want: []string{"scan", "--log-level", "debug", "-o", "-", "--", "-task-interval"},
		},
		{
			name:  "-version",
			args:  []string{"-version"},
			want:  []string{"version"},
			notes: []string{"use the version command"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := legacyArgs(tt.args, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("args %q, want %q", got, tt.want)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if stderr.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tt.notes) {
				t.Errorf("%d notes, want %d:\n%s", len(lines), len(tt.notes), stderr.String())
			}
			for _, n := range tt.notes {
				if !strings.Contains(stderr.String(), n) {
					t.Errorf("stderr lacks %q:\n%s", n, stderr.String())
				}
			}
		})
	}
}

func TestLegacyArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "-task-inventory-addr"},
		{"scan", "-task-socketstat-enabled=yes please"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), BuildInfo{}, args, strings.NewReader(""), &stdout, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), strings.SplitN(args[1], "=", 2)[0]) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d naming the flag", args, code, stderr.String(), ExitUsage)
		}
	}
}
