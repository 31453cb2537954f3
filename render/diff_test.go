package render

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/planetdeps/planet/graph"
)

func diffFixture() *graph.Diff {
	web := &graph.Node{ID: "web", Kind: graph.KindHostgroup, HostCount: 2}
	db := &graph.Node{ID: "db", Kind: graph.KindHostgroup, HostCount: 1}
	nasty := &graph.Node{ID: "evil|\"grp\"\n<b>", Kind: graph.KindHostgroup, HostCount: 1}
	old := &graph.Graph{Schema: graph.Schema, Nodes: []*graph.Node{db, web}, Edges: []*graph.Edge{
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"web"}, ServerProcesses: []string{"postgres"}}, ClientHosts: 2, ServerHosts: 1, EdgeBytes: &graph.EdgeBytes{PortBytesToClient: 1000}},
		{From: "web", To: "db", Protocol: "tcp", Port: 6432, SeenFrom: graph.SeenClient, ClientHosts: 1, ServerHosts: 1},
	}}
	new := &graph.Graph{Schema: graph.Schema, Nodes: []*graph.Node{db, nasty, web}, Edges: []*graph.Edge{
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"web"}, ServerProcesses: []string{"pgbouncer"}}, ClientHosts: 2, ServerHosts: 1, EdgeBytes: &graph.EdgeBytes{PortBytesToClient: 9000}},
		{From: "web", To: "evil|\"grp\"\n<b>", Protocol: "udp", Port: 53, SeenFrom: graph.SeenClient, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"my app"}}, ClientHosts: 1, ServerHosts: 1},
	}}
	return graph.Compare(old, new, graph.DiffOptions{BytesChangePercent: 50})
}

func TestDiffFormats(t *testing.T) {
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer, *graph.Diff) error
	}{
		{"text", func(b *bytes.Buffer, d *graph.Diff) error { return DiffText(b, d) }},
		{"json", func(b *bytes.Buffer, d *graph.Diff) error { return DiffJSON(b, d) }},
		{"markdown", func(b *bytes.Buffer, d *graph.Diff) error { return DiffMarkdown(b, d) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.write(&b, diffFixture()); err != nil {
				t.Fatal(err)
			}
			golden(t, "diff."+f.name+".golden", b.Bytes())
			if f.name != "json" && bytes.Count(b.Bytes(), []byte("\n<b>")) > 0 {
				t.Error("a newline in a name reached the output unescaped")
			}
		})
	}
	var b bytes.Buffer
	if err := DiffMarkdown(&b, graph.Compare(&graph.Graph{}, &graph.Graph{}, graph.DiffOptions{})); err != nil {
		t.Fatal(err)
	}
	if b.String() != "**planet diff**: no dependency changes\n" {
		t.Errorf("empty diff markdown = %q", b.String())
	}
}

// bigDiff has n added dependencies between n/10 client and 10 server
// groups with long names.
func bigDiff(n int) *graph.Diff {
	old := &graph.Graph{Schema: graph.Schema}
	new := &graph.Graph{Schema: graph.Schema}
	for i := range n {
		from := fmt.Sprintf("payments-settlement-reconciler-%04d", i/10)
		to := fmt.Sprintf("ledger-primary-database-%02d", i%10)
		new.Edges = append(new.Edges, &graph.Edge{From: from, To: to, Protocol: "tcp", Port: uint16(5000 + i), SeenFrom: graph.SeenBoth,
			EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"java"}, ServerProcesses: []string{"postgres"}}, ClientHosts: 1, ServerHosts: 1})
	}
	return graph.Compare(old, new, graph.DiffOptions{})
}

// TestDiffMarkdownBounded: one large change (the gave 808 KB with a
// 384 KB Mermaid block) fits a GitHub comment, with a Mermaid block within
// Mermaid's limits or none, and says what it left out.
func TestDiffMarkdownBounded(t *testing.T) {
	tests := []struct {
		n           int
		wantDiagram bool
		wantAllRows bool
	}{
		{50, true, true},     // small: everything
		{505, false, true},   // more links than Mermaid draws; the table fits
		{5000, false, false}, // beyond GitHub's limit: rows summed up
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			var b bytes.Buffer
			if err := DiffMarkdown(&b, bigDiff(tt.n)); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if n := utf8.RuneCountInString(out); n > GitHubCommentMax {
				t.Errorf("%d characters, more than a GitHub comment takes (%d)", n, GitHubCommentMax)
			}
			block := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindStringSubmatch(out)
			if (block != nil) != tt.wantDiagram {
				t.Errorf("diagram: %v, want %v", block != nil, tt.wantDiagram)
			}
			if block != nil && len(block[1]) > MermaidMaxText {
				t.Errorf("Mermaid block of %d characters, more than Mermaid draws", len(block[1]))
			}
			if !tt.wantDiagram && !strings.Contains(out, "_No diagram: ") {
				t.Error("the missing diagram is not explained")
			}
			rows := strings.Count(out, "\n| added |")
			if tt.wantAllRows && rows != tt.n {
				t.Errorf("%d rows, want all %d", rows, tt.n)
			}
			if !tt.wantAllRows {
				more := regexp.MustCompile(`\| … \| (\d+) more changes \|`).FindStringSubmatch(out)
				if more == nil {
					t.Fatal("no line summing up the rows left out")
				}
				if left, _ := strconv.Atoi(more[1]); rows+left != tt.n || rows < 100 {
					t.Errorf("%d rows shown + %s left out, want %d in all and most of the room used", rows, more[1], tt.n)
				}
			}
		})
	}
}

// TestDiffReadable: byte counts in binary units, an unknown process is
// "unknown" (not "-", which reads like "removed"), and the JSON's empty
// lists are [] (not null).
func TestDiffReadable(t *testing.T) {
	web := &graph.Node{ID: "web", Kind: graph.KindHostgroup, HostCount: 1}
	db := &graph.Node{ID: "db", Kind: graph.KindHostgroup, HostCount: 1}
	old := &graph.Graph{Schema: graph.Schema, Nodes: []*graph.Node{db, web}, Edges: []*graph.Edge{
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"php-fpm"}, ServerProcesses: []string{"postgres"}}, EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 1 << 20}},
	}}
	new := &graph.Graph{Schema: graph.Schema, Nodes: []*graph.Node{db, web}, Edges: []*graph.Edge{
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenClient, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"php-fpm"}}, EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 9 << 20}},
		{From: "web", To: "db", Protocol: "tcp", Port: 6379, SeenFrom: graph.SeenClient, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"php-fpm"}}},
	}}
	d := graph.Compare(old, new, graph.DiffOptions{BytesChangePercent: 50})
	var md, text, js bytes.Buffer
	if err := DiffMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	if err := DiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	if err := DiffJSON(&js, graph.Compare(old, old, graph.DiffOptions{})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| added | web | db | tcp/6379 | (php-fpm -&gt; unknown) |",
		"server&#95;processes postgres -&gt; unknown",
		"port&#95;bytes&#95;to&#95;server 1&#46;0 MiB -&gt; 9&#46;0 MiB",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"+ web -> db tcp/6379 (php-fpm -> unknown)", "port_bytes_to_server 1.0 MiB -> 9.0 MiB", "server_processes postgres -> unknown"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(js.String(), "null") || !strings.Contains(js.String(), `"added_edges": []`) {
		t.Errorf("JSON of an empty diff has null lists:\n%s", js.String())
	}
}

// TestDiffMarkdownLimitEdge: a comment exactly at the limit is written
// whole; one byte less and the diagram gives way to a line saying so,
// the rows staying when they fit without it.
func TestDiffMarkdownLimitEdge(t *testing.T) {
	d := bigDiff(40)
	var full bytes.Buffer
	if err := diffMarkdown(&full, d, 1<<30); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full.String(), "```mermaid") {
		t.Fatal("no diagram in the unbounded comment")
	}
	var at, under bytes.Buffer
	if err := diffMarkdown(&at, d, full.Len()); err != nil {
		t.Fatal(err)
	}
	if at.String() != full.String() {
		t.Errorf("at the limit:\n%s\nwant:\n%s", at.String(), full.String())
	}
	if err := diffMarkdown(&under, d, full.Len()-1); err != nil {
		t.Fatal(err)
	}
	if out := under.String(); strings.Contains(out, "```mermaid") || !strings.Contains(out, "comment would pass GitHub's limit") ||
		strings.Count(out, "\n| added |") != 40 {
		t.Errorf("one byte under the limit:\n%s", out)
	}
}
