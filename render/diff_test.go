package render

import (
	"bytes"
	"testing"

	"github.com/planetdeps/planet/graph"
)

func diffFixture() *graph.Diff {
	web := &graph.Node{ID: "web", Kind: graph.KindHostgroup, HostCount: 2}
	db := &graph.Node{ID: "db", Kind: graph.KindHostgroup, HostCount: 1}
	nasty := &graph.Node{ID: "evil|\"grp\"\n<b>", Kind: graph.KindHostgroup, HostCount: 1}
	old := &graph.Graph{Schema: graph.Schema, Nodes: []*graph.Node{db, web}, Edges: []*graph.Edge{
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, ClientProcesses: []string{"web"}, ServerProcesses: []string{"postgres"}, ClientHosts: 2, ServerHosts: 1, PortBytesToClient: 1000},
		{From: "web", To: "db", Protocol: "tcp", Port: 6432, SeenFrom: graph.SeenClient, ClientHosts: 1, ServerHosts: 1},
	}}
	new := &graph.Graph{Schema: graph.Schema, Nodes: []*graph.Node{db, nasty, web}, Edges: []*graph.Edge{
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, ClientProcesses: []string{"web"}, ServerProcesses: []string{"pgbouncer"}, ClientHosts: 2, ServerHosts: 1, PortBytesToClient: 9000},
		{From: "web", To: "evil|\"grp\"\n<b>", Protocol: "udp", Port: 53, SeenFrom: graph.SeenClient, ClientProcesses: []string{"my app"}, ClientHosts: 1, ServerHosts: 1},
	}}
	return graph.Compare(old, new, graph.DiffOptions{})
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
