package render

import (
	"bytes"
	"encoding/xml"
	"html"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
)

// hostileNames are names a local user or an inventory can give a process,
// hostgroup or protocol, each meant to become something other than its own
// text in Markdown or Mermaid: markup, links, images, emphasis, code,
// strike-through, entities, autolinks, table cell ends, Mermaid keywords,
// Mermaid's entity codes and its style-line rewrite, directives, comments,
// control characters and invisible reordering.
var hostileNames = []string{
	// Markdown.
	"[x](//e.co)", "![i](//e.co/p)", "**db**", "`t`", "``a`b``", "&amp;", "&copy;", "&#91;", `a\|b`, "a|b", `x\`, `\*`,
	"~~s~~", "~s~", "<b>", "<b>x</b>", "<!-- c -->", "_u_", "*s*", "__b__", "1. list", "- item", "# h", "> q",
	"www.e.co", "https://e.co/x", "<https://e.co>", "a@b.co", "mailto:a@b.co", "x.y+z@e.co", "[l]: //e.co",
	"$x$", ":smile:", " lead", "trail ", "a  b", "---", "|", "-", "",
	// Mermaid.
	"end", "End", "graph", "flowchart", "subgraph", "style", "click", "class", "classDef", "linkStyle",
	"default", "direction", "o", "x", "a#b", "#quot;", "#35;", "#br#", `a\nb`, "x -- y", "A-->B", "a;b",
	"[x]", "{y}", "(z)", "((c))", `%%{init: {"theme":"dark"}}%%`, "%% c", "**bold**", `style:"x"`,
	"style n0 fill:#f00;", "lifestyle:eu(1)", "classDef:x#y;z", "lifestyle:#x;", "ﬂ°°60¶ß", "ﬂ°amp¶ß",
	"<img src=x onerror=alert(1)>", "<br>", "a<br/>b", `a"b`, "'", "==>",
	"fa:fa-car", "fab:fa-github x", "x:fa-y", "$$x^2$$", "a$$b$$c", "$x$ and $y$",
	// Anything else.
	"データベース", "🔥db", "ß°¶", "a\x1b[31mb", "\u202eevil", "tab\there", "nl\nx", "\xff\xfe",
}

// needCmarkGFM returns the path of cmark-gfm, GitHub's fork of the
// CommonMark reference implementation, or skips.
func needCmarkGFM(t *testing.T) string {
	t.Helper()
	return testenv.NeedCommand(t, "cmark-gfm", "cmark-gfm")
}

// gfmTables renders md with cmark-gfm as GitHub does (tables,
// strike-through, autolinks, tag filter), raw HTML let through so that any
// that gets in shows, and returns each table row's cells as text. A cell
// holding any element (a link, an image, <strong>, <code>, <del>, raw
// HTML) is an error.
func gfmTables(t *testing.T, cmark string, md []byte) [][]string {
	t.Helper()
	cmd := exec.Command(cmark, "-e", "table", "-e", "strikethrough", "-e", "autolink", "-e", "tagfilter", "--unsafe")
	cmd.Stdin = bytes.NewReader(md)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cmark-gfm: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(out))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	var rows [][]string
	var cell *strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("cmark-gfm's HTML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch {
			case tok.Name.Local == "tr":
				rows = append(rows, nil)
			case tok.Name.Local == "td" || tok.Name.Local == "th":
				cell = &strings.Builder{}
			case cell != nil:
				t.Errorf("a cell holds <%s>: a name became markup", tok.Name.Local)
			}
		case xml.EndElement:
			if (tok.Name.Local == "td" || tok.Name.Local == "th") && cell != nil {
				rows[len(rows)-1] = append(rows[len(rows)-1], cell.String())
				cell = nil
			}
		case xml.CharData:
			if cell != nil {
				cell.Write(tok)
			}
		}
	}
	if t.Failed() {
		t.Logf("markdown:\n%s\nHTML:\n%s", md, out)
	}
	return rows
}

// hostileDiff is a diff with every hostile name in every place a name
// goes: client, server, protocol, processes, node ids, changed fields and
// bandwidth pairs. want gives each table row's expected cells.
func hostileDiff(names []string) (d *graph.Diff, want [][]string) {
	d = &graph.Diff{Schema: graph.DiffSchema}
	show := func(s string) string {
		if s == "" {
			return "-"
		}
		return display(s)
	}
	for i, n := range names {
		port := uint16(1000 + i)
		e := &graph.Edge{From: n, To: "srv " + n, Protocol: n, Port: port, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{n}, ServerProcesses: []string{"p", n}}}
		d.AddedEdges = append(d.AddedEdges, e)
		want = append(want, []string{"added", show(n), show("srv " + n), show(n) + "/" + strconv.Itoa(int(port)),
			"(" + show(n) + " -> " + show("p,"+n) + ")"})
	}
	for i, n := range names {
		o := &graph.Edge{From: "c", To: n, Protocol: "tcp", Port: uint16(i), EdgeNames: &graph.EdgeNames{ServerProcesses: []string{n}}}
		c := *o
		c.EdgeNames = &graph.EdgeNames{ServerProcesses: []string{"x" + n}}
		d.ChangedEdges = append(d.ChangedEdges, graph.NewEdgeChange(o, &c, graph.DiffOptions{}))
		want = append(want, []string{"changed", "c", show(n), "tcp/" + strconv.Itoa(i),
			"server_processes " + show(fieldValue("server_processes", n)) + " -> " + show("x"+n)})
	}
	for _, n := range names {
		d.AddedNodes = append(d.AddedNodes, &graph.Node{ID: n, Kind: graph.KindHostgroup, HostCount: 2})
		want = append(want, []string{"node added", show(n), "-", "-", "hostgroup, 2 hosts"})
	}
	for _, n := range names {
		d.Traffic = append(d.Traffic, graph.FieldChange{Field: n + " -> db", Old: "1", New: n})
		want = append(want, []string{"bandwidth", show(n + " -> db"), "-", "-", "1 B -> " + show(humanBytes(n))})
	}
	return d, want
}

// TestDiffMarkdownGFM: every name in `planet diff -f markdown` renders as
// its literal text in GitHub-flavoured Markdown (cmark-gfm, GitHub's
// renderer): each row keeps its five cells, and no cell holds markup.
func TestDiffMarkdownGFM(t *testing.T) {
	cmark := needCmarkGFM(t)
	d, want := hostileDiff(hostileNames)
	var md bytes.Buffer
	if err := DiffMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	rows := gfmTables(t, cmark, md.Bytes())
	if len(rows) != len(want)+1 {
		t.Fatalf("%d table rows, want %d (a header and one a change)", len(rows), len(want)+1)
	}
	if h := strings.Join(rows[0], "|"); h != "change|client|server|port|details" {
		t.Errorf("header %q", h)
	}
	for i, w := range want {
		got := rows[i+1]
		if len(got) != 5 {
			t.Errorf("row %d: %d cells %q, want 5 %q", i, len(got), got, w)
			continue
		}
		for j := range w {
			if got[j] != w[j] {
				t.Errorf("row %d cell %d: shows %q, want %q", i, j, got[j], w[j])
			}
		}
	}
}

// TestMdText pins the encoding on a few names; TestDiffMarkdownGFM is what
// shows it right.
func TestMdText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"web-1", "web-1"},
		{"", "-"},
		{"a b", "a b"},
		{" a ", "&#32;a&#32;"},
		{"[x](//e.co)", "&#91;x&#93;&#40;//e&#46;co&#41;"},
		{"a|b", "a&#124;b"},
		{"a@b.co", "a<!-- -->@b&#46;co"},
		{"データ", "データ"},
		{"nl\nx", "&#34;nl&#92;nx&#34;"},
	} {
		if got := mdText(tt.in); got != tt.want {
			t.Errorf("mdText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzMdText: whatever the name, mdText's cell holds no Markdown but
// character references and the empty comments before '@', and decoding
// those gives back the name as shown (display's form).
func FuzzMdText(f *testing.F) {
	for _, n := range hostileNames {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := mdText(s)
		plain := strings.ReplaceAll(got, "<!-- -->@", "@")
		if strings.ContainsFunc(plain, func(r rune) bool {
			return r < utf8.RuneSelf && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-,/= &#;@", r))
		}) {
			t.Fatalf("mdText(%q) = %q: raw Markdown punctuation", s, got)
		}
		want := "-"
		if s != "" {
			want = display(s)
		}
		if back := html.UnescapeString(plain); back != want {
			t.Fatalf("mdText(%q) = %q decodes to %q, want %q", s, got, back, want)
		}
	})
}

// FuzzMermaidLabel: whatever the name, the label cannot end its quotes,
// start a Markdown string, a directive or comment, hold a tag but <br/>,
// or meet Mermaid's style-line rewrite; and decoding its entity codes
// gives back the lines.
func FuzzMermaidLabel(f *testing.F) {
	for _, n := range hostileNames {
		f.Add(n, true)
	}
	entity := regexp.MustCompile(`#(quot|[0-9]+);`)
	f.Fuzz(func(t *testing.T, s string, node bool) {
		name := display(s)
		got := mermaidLabel(node, name, "1 host")
		for _, bad := range []string{`"`, "`", "%%", "style", "classDef", "ﬂ°", "¶ß", "\r"} {
			if strings.Contains(got, bad) {
				t.Fatalf("mermaidLabel(%q) = %q holds %q", name, got, bad)
			}
		}
		sep := "<br/>"
		if strings.Contains(got, "\n") {
			sep = "\n"
		}
		if strings.Contains(strings.ReplaceAll(got, sep, ""), "<") {
			t.Fatalf("mermaidLabel(%q) = %q holds a tag", name, got)
		}
		lines := strings.Split(got, sep)
		if len(lines) != 2 {
			t.Fatalf("mermaidLabel(%q) = %q: %d lines, want 2", name, got, len(lines))
		}
		back := entity.ReplaceAllStringFunc(lines[0], func(e string) string {
			if e == "#quot;" {
				return `"`
			}
			n, err := strconv.Atoi(e[1 : len(e)-1])
			if err != nil {
				t.Fatal(err)
			}
			return string(rune(n))
		})
		if back != name {
			t.Fatalf("mermaidLabel(%q) = %q decodes to %q", name, got, back)
		}
	})
}
