package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
)

// TestGraphTooLargeAdvice: graph says in its own terms how to make a graph
// smaller; planet adds the merge flags that do it, to the error of any
// command that meets one (here render and diff reading a graph with a node
// over graph.MaxEntrySize).
func TestGraphTooLargeAdvice(t *testing.T) {
	const flags = "(planet merge --by hostgroup, --external collapse or cidr:N)"
	if err := graphAdvice(errors.New("other")); err.Error() != "other" {
		t.Errorf("graphAdvice changed another error: %v", err)
	}
	if err := graphAdvice(nil); err != nil {
		t.Errorf("graphAdvice(nil) = %v", err)
	}

	var doc bytes.Buffer
	doc.WriteString(`{"schema":"planet.graph/v1","generated_at":"2026-01-01T00:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[{"id":"a","kind":"host","host_count":1,"hosts":["`)
	doc.WriteString(strings.Repeat("x", graph.MaxEntrySize))
	doc.WriteString(`"]}],"edges":[]}`)
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, doc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"render", "-f", "table", big}, {"diff", big, big}} {
		code, _, stderr := run(t, args...)
		if code != 1 || !strings.Contains(stderr, "graph too large") ||
			!strings.Contains(stderr, "key nodes by hostgroup") || !strings.Contains(stderr, flags) {
			t.Errorf("planet %s: exit %d, stderr %q; want 1, the library's hint and %s", args[0], code, stderr, flags)
		}
	}
}
