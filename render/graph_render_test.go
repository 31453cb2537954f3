package render

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
)

// Every graph format on every fixture, against golden files.
func TestGraphFormatsGolden(t *testing.T) {
	formats := []struct {
		ext    string
		render func(io.Writer, *graph.Graph) error
	}{
		{"dot", DOT},
		{"mmd", func(w io.Writer, g *graph.Graph) error { return Mermaid(w, g, false) }},
		{"json", graph.Write},
		{"table", GraphTable},
	}
	for _, fx := range graphFixtures {
		for _, f := range formats {
			t.Run(fx.name+"."+f.ext, func(t *testing.T) {
				g := fx.graph(t)
				var first, second bytes.Buffer
				if err := f.render(&first, g); err != nil {
					t.Fatal(err)
				}
				if err := f.render(&second, g); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(first.Bytes(), second.Bytes()) {
					t.Error("two renders of one graph differ")
				}
				golden(t, fx.name+".graph."+f.ext+".golden", first.Bytes())
			})
		}
	}
}

// Debian's dot must lay out every DOT file planet writes, and show each name
// exactly as display() has it.
func TestDOTLaysOutWithGraphviz(t *testing.T) {
	dotBin := testenv.NeedCommand(t, "dot", "graphviz")
	for _, fx := range graphFixtures {
		t.Run(fx.name, func(t *testing.T) {
			g := fx.graph(t)
			var buf bytes.Buffer
			if err := DOT(&buf, g); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(dotBin, "-Tsvg")
			cmd.Stdin = &buf
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() > 0 {
				t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.Bytes())
			}
			texts := svgTexts(t, out)
			d := newDrawing(g, diffMarks{})
			for _, n := range d.nodes {
				if !slices.Contains(texts, n.label()) {
					t.Errorf("node %q: label text %q not in the SVG's texts %q", n.ID, n.label(), texts)
				}
			}
			for _, l := range d.links {
				for _, line := range l.label() {
					if !slices.Contains(texts, line) {
						t.Errorf("link %s -> %s: label line %q not in the SVG", l.from.ID, l.to.ID, line)
					}
				}
			}
		})
	}
}

// svgTexts parses an SVG and returns the character data of its <text>
// elements.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	dec.Strict = true
	// Graphviz writes a DOCTYPE with an external DTD; entities are the XML ones.
	var texts []string
	inText := false
	var cur strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "text" {
				inText = true
				cur.Reset()
			}
		case xml.CharData:
			if inText {
				cur.Write(tok)
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				inText = false
				texts = append(texts, cur.String())
			}
		}
	}
	if len(texts) == 0 && !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("not an SVG:\n%s", svg)
	}
	return texts
}

func TestDOTString(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"web"}, `"web"`},
		{[]string{"web", "3 hosts"}, `"web\n3 hosts"`},
		{[]string{`a"b`}, `"a\"b"`},
		{[]string{`back\`}, `"back\\"`},
		{[]string{`\N`}, `"\\N"`},
		{[]string{"a&amp;b"}, `"a&amp;amp;b"`},
		{[]string{"<b>x</b>"}, `"<b>x</b>"`},
		{[]string{"日本語 {}"}, `"日本語 {}"`},
		{[]string{display("a\nb")}, `"\"a\\nb\""`},
		{[]string{display("x\u202ey")}, `"\"x\\u202ey\""`},
		{[]string{display("bad\xff")}, `"\"bad\\xff\""`},
	}
	for _, tt := range tests {
		got := dotString(tt.lines...)
		if got != tt.want {
			t.Errorf("dotString(%q) = %s, want %s", tt.lines, got, tt.want)
		}
		// gonum passes a value through unchanged only if Go can unquote it.
		if _, err := strconv.Unquote(got); err != nil {
			t.Errorf("dotString(%q) = %s: not a Go string literal, gonum would quote it again: %v", tt.lines, got, err)
		}
	}
}

func TestPenWidth(t *testing.T) {
	tests := []struct {
		bytes uint64
		want  float64
	}{
		{0, 1}, {1000, 1}, {10_000, 1.6}, {1_000_000, 2.8}, {100 << 20, 4}, {2 << 30, 4.8}, {1_000_000_000_000, 6.4}, {1 << 62, 10.4},
	}
	for _, tt := range tests {
		if got := penWidth(tt.bytes); got != tt.want {
			t.Errorf("penWidth(%d) = %v, want %v", tt.bytes, got, tt.want)
		}
	}
	// The example: 100 MiB and 2 GiB looked alike (both at the cap).
	if a, b := penWidth(100<<20), penWidth(2<<30); b-a < 0.7 {
		t.Errorf("penWidth: 100 MiB %v and 2 GiB %v too close to tell apart", a, b)
	}
	// The arrowhead shrinks as the pen grows, so the head stays small.
	if a, b := arrowSize(1)*1, arrowSize(8)*8; b > 3*a {
		t.Errorf("arrowhead at pen 8 is %v, at pen 1 %v: more than 3 times", b, a)
	}
}

func TestMermaidLabel(t *testing.T) {
	tests := []struct {
		node bool
		in   []string
		want string
	}{
		{true, []string{"web", "2 hosts"}, "web<br/>2 hosts"},
		{true, []string{"web"}, "web<br/>"},
		{false, []string{"tcp/443"}, "tcp/443"},
		{false, []string{"tcp/443", "1 KiB"}, "tcp/443<br/>1 KiB"},
		// Text Mermaid would act on once decoded: no tag, lines by newline.
		{true, []string{`a\nb`, "1 host"}, "a#92;nb\n1 host"},
		{true, []string{"fa:fa-car"}, "fa#58;fa-car"},
		{false, []string{"$$x$$"}, "#36;#36;x#36;#36;"},
	}
	for _, tt := range tests {
		if got := mermaidLabel(tt.node, tt.in...); got != tt.want {
			t.Errorf("mermaidLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMermaidText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1.service.consul", "web-1.service.consul"},
		{`a"b`, "a#quot;b"},
		{"<br>", "#60;br#62;"},
		{"x|y]", "x#124;y#93;"},
		{"#quot;", "#35;quot#59;"},
		{"`md`", "#96;md#96;"},
		{"日本語", "日本語"},
		// Mermaid drops the last ';' of a line with "style", ':' and '#'.
		{"lifestyle:eu(1)", "life#115;tyle#58;eu#40;1#41;"},
		{"my classDef", "my #99;lassDef"},
		{"Style", "Style"},
		{"ﬂ°¶ß", "ﬂ#176;#182;ß"},
	}
	for _, tt := range tests {
		if got := mermaidText(tt.in); got != tt.want {
			t.Errorf("mermaidText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// bigGraph has n client hostgroups each depending on one server.
func bigGraph(t *testing.T, n int) *graph.Graph { return bigGraphNamed(t, n, "client") }

// bigGraphNamed is bigGraph with the clients' names starting with prefix.
func bigGraphNamed(t *testing.T, n int, prefix string) *graph.Graph {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"hostgroup","external":"ip","snapshots":1,"nodes":[{"id":"server","kind":"hostgroup","host_count":1}`)
	for i := range n {
		fmt.Fprintf(&b, `,{"id":"%s-%05d","kind":"hostgroup","host_count":1}`, prefix, i)
	}
	b.WriteString(`],"edges":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"from":"%s-%05d","to":"server","protocol":"tcp","port":80,"seen_from":"both","client_hosts":1,"server_hosts":1,"sockets":1}`, prefix, i)
	}
	b.WriteString(`]}`)
	g, err := graph.Parse([]byte(b.String()), "big")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMermaidLimits(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		links   int
		prefix  string
		force   bool
		refused string
	}{
		{10, "client", false, ""},
		{MermaidMaxLinks, "client", false, ""},
		{MermaidMaxLinks + 1, "client", false, "links"},
		{MermaidMaxLinks + 1, "client", true, ""},
		{200, long, false, "characters"},
		{200, long, true, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d,%d,force=%v", tt.links, len(tt.prefix), tt.force), func(t *testing.T) {
			err := Mermaid(io.Discard, bigGraphNamed(t, tt.links, tt.prefix), tt.force)
			var lim *LimitError
			switch {
			case tt.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.refused != "" && !errors.As(err, &lim):
				t.Fatalf("err = %v, want a *LimitError", err)
			case tt.refused != "" && (!strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), "narrow the graph with a filter")):
				t.Fatalf("err = %v, want it to say %q and suggest a filter", err, tt.refused)
			}
		})
	}
}

func TestRenderSVGSizeLimit(t *testing.T) {
	in := &Input{Name: "big", Graph: bigGraph(t, SVGMaxNodes)}
	_, err := Render(context.Background(), in, Options{Format: FormatSVG, SVG: SVGOptions{Helper: "/nonexistent/planet-svg"}})
	var lim *LimitError
	if !errors.As(err, &lim) || !strings.Contains(err.Error(), "narrow the graph with a filter") {
		t.Fatalf("err = %v, want a *LimitError suggesting filters", err)
	}
	// With --force it goes on, to the (missing) helper.
	_, err = Render(context.Background(), in, Options{Format: FormatSVG, Force: true, SVG: SVGOptions{Helper: "/nonexistent/planet-svg"}})
	if err == nil || errors.As(err, &lim) || !strings.Contains(err.Error(), "/nonexistent") {
		t.Fatalf("err = %v, want the missing helper", err)
	}
}

// A host scanned without seeing every process is named in every graph
// format, so a missing process name is not read as "no process".
func TestIncompleteScansShown(t *testing.T) {
	g := mustMerge(t, incomplete()...)
	for _, tc := range []struct {
		name   string
		render func(io.Writer, *graph.Graph) error
		want   []string
	}{
		{"dot", DOT, []string{`processes incomplete: 1 host`, `scanned without seeing every process (not root?): svc-1; 3 sockets without a known owner`}},
		{"mermaid", func(w io.Writer, g *graph.Graph) error { return Mermaid(w, g, false) }, []string{`"svc<br/>1 host<br/>processes incomplete#58; 1 host"`}},
		{"table", GraphTable, []string{"INCOMPLETE SCANS", "svc   svc-1  3"}},
		{"json", graph.Write, []string{`"incomplete_hosts": [`, `"unowned_sockets": 3`}},
	} {
		var b bytes.Buffer
		if err := tc.render(&b, g); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, b.String())
			}
		}
	}
	// A graph of complete scans says nothing of the kind.
	var b bytes.Buffer
	if err := GraphTable(&b, mustMerge(t, fleet()...)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "INCOMPLETE") {
		t.Errorf("complete scans shown as incomplete:\n%s", b.String())
	}
}

// DOT of a graph beyond DOTMaxEdges would outgrow render's memory bound
// and no engine lays it out: refused, unless --force.
func TestRenderDOTSizeLimit(t *testing.T) {
	// The check counts edges before drawing any: one edge value DOTMaxEdges+1
	// times stands for a graph that size (built and parsed, one takes
	// seconds of a test run).
	edge := bigGraph(t, 1).Edges[0]
	over := &graph.Graph{Schema: graph.Schema, Edges: make([]*graph.Edge, DOTMaxEdges+1)}
	for i := range over.Edges {
		over.Edges[i] = edge
	}
	in := &Input{Name: "big", Graph: over}
	_, err := Render(context.Background(), in, Options{Format: FormatDOT})
	var lim *LimitError
	if !errors.As(err, &lim) || !strings.Contains(err.Error(), "dot: 100001 edges, more than 100000") || !strings.Contains(err.Error(), "or force it") {
		t.Fatalf("err = %v, want a *LimitError", err)
	}
	in = &Input{Name: "big", Graph: bigGraph(t, 1000)}
	if _, err := Render(context.Background(), in, Options{Format: FormatDOT}); err != nil {
		t.Fatal(err)
	}
}
