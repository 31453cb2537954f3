package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/snapshot"
)

// A connection-tracking table that is malformed or not a file is a
// recorded source failure, a missing one (no module) a source that read
// nothing; either way the scan succeeds with the sockets' records.
func TestConntrackFailureIsRecorded(t *testing.T) {
	base, err := Run(context.Background(), Options{ProcRoot: "../testdata/proc"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(path string) error
		want  string
		ok    bool
	}{
		{"missing", func(p string) error { return os.Remove(p) }, "net/nf_conntrack: no connection-tracking table (nf_conntrack not loaded)", true},
		{"malformed", func(p string) error { return os.WriteFile(p, []byte("ipv4 2 tcp 6 30 src=10.1.0.5\n"), 0o644) }, "net/nf_conntrack: line 1: tuple 1 incomplete", false},
		{"a directory", func(p string) error { os.Remove(p); return os.Mkdir(p, 0o755) }, "net/nf_conntrack: not a regular file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "proc")
			if out, err := exec.Command("cp", "-a", "../testdata/proc", root).CombinedOutput(); err != nil {
				t.Fatalf("copy the fixture: %v %s", err, out)
			}
			if err := tt.setup(filepath.Join(root, "net", "nf_conntrack")); err != nil {
				t.Fatal(err)
			}
			s, err := Run(context.Background(), Options{ProcRoot: root})
			if err != nil {
				t.Fatalf("scan failed: %v", err)
			}
			src, ok := s.Source(snapshot.SourceConntrack)
			if !ok || src.OK != tt.ok || !strings.Contains(src.Error+src.Detail, tt.want) {
				t.Errorf("conntrack source %+v, want ok %v with %q", src, tt.ok, tt.want)
			}
			if s.Conntrack != nil {
				t.Errorf("summary %+v for a table not read", s.Conntrack)
			}
			// The sockets' records, without the fixture table's flows.
			var socketsOnly int
			for _, c := range base.Connections {
				if c.Flows == 0 {
					socketsOnly++
				}
			}
			if len(s.Connections) != socketsOnly {
				t.Errorf("%d connections, want the %d the sockets show", len(s.Connections), socketsOnly)
			}
		})
	}
}
