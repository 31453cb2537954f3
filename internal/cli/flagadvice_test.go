package cli

import (
	"bytes"
	"errors"
	"fmt"
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

// TestRenderDiffPictureFirst: render --diff refuses an input already too
// large for the picture before it reads the base (a base that does not
// exist is never opened), with the advice the picture's limit gets.
func TestRenderDiffPictureFirst(t *testing.T) {
	g := &graph.Graph{Schema: graph.Schema, By: graph.ByHost, External: "ip", Snapshots: 1}
	for i := range 40 {
		g.Nodes = append(g.Nodes, &graph.Node{ID: fmt.Sprintf("h%02d", i), Kind: graph.KindHost, HostCount: 1})
	}
	for i := range 600 {
		g.Edges = append(g.Edges, &graph.Edge{From: fmt.Sprintf("h%02d", i%40), To: fmt.Sprintf("h%02d", (i/40+i%40+1)%40), Protocol: "tcp",
			Port: uint16(1 + i/40), SeenFrom: graph.SeenBoth, ClientHosts: 1, ServerHosts: 1, Sockets: 1})
	}
	var doc bytes.Buffer
	if err := graph.Write(&doc, g); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.json")
	if err := os.WriteFile(in, doc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "render", "-f", "mermaid", "--diff", filepath.Join(dir, "missing.json"), in)
	if code != 1 || !strings.Contains(stderr, "mermaid: more than 500 links, beyond what Mermaid draws") || !strings.Contains(stderr, "--force") ||
		strings.Contains(stderr, "missing.json") {
		t.Errorf("exit %d, stderr %q; want the picture's limit, before the base is read", code, stderr)
	}
}
