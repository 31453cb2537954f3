package render

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/planetdeps/planet/graph"
)

// Mermaid's default limits: a diagram with more links, or a longer source,
// is not drawn (maxEdges, maxTextSize in Mermaid's configuration).
const (
	MermaidMaxLinks = 500
	MermaidMaxText  = 50_000
)

// LimitError is a render refused because the result would be too large to
// be drawn (Mermaid) or would take minutes to lay out (SVG). A narrower
// Filter, or Options.Force, gets past it.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string {
	return e.Msg + "; narrow the graph with a filter (focus, external nodes, ports), or force it"
}

// Mermaid writes g as a Mermaid flowchart (flowchart LR) for READMEs and CI
// comments: the drawing DOT draws (newDrawing). Nodes are n0, n1... by
// their position in the graph (x0 for folded external peers) with their
// name and host count as a quoted label; the dependencies from one node to
// another share one link labelled with their ports and processes ("tcp/5432
// java → postgres") and bytes each way when known ("→ 1.2 MiB ← 80.0 MiB since open",
// totals since the connections opened), dotted when every one of them was
// seen from one end only, and dotted grey for infrastructure, which a large
// graph folds into a "notes" node. A node with hosts whose scan could not
// see every socket's owner process says so in its label
// ("processes incomplete: N hosts"). External nodes get the "external" class
// (dashed, grey). Labels are entity-encoded (#quot;, #60;) so no name can
// end a label or inject markup.
//
// Unless force is set, a diagram beyond Mermaid's default limits
// (MermaidMaxLinks links, MermaidMaxText characters) is refused with a
// *LimitError, since Mermaid would only show an error in its place.
func Mermaid(w io.Writer, g *graph.Graph, force bool) error {
	return mermaid(w, g, diffMarks{}, force)
}

// mermaid is Mermaid with render --diff's marks: added dependencies thick
// and green, removed ones dotted and red, added and removed nodes outlined
// in the same colours.
func mermaid(w io.Writer, g *graph.Graph, marks diffMarks, force bool) error {
	if !force {
		if err := partsOf(g, marks).check(FormatMermaid); err != nil {
			return err
		}
	}
	limit := 0
	if !force {
		limit = MermaidMaxText
	}
	b, over := mermaidBytes(g, marks, limit)
	if over {
		return &LimitError{fmt.Sprintf("mermaid: more than %d characters, beyond what Mermaid draws (%d by default)", MermaidMaxText, MermaidMaxText)}
	}
	_, err := w.Write(b)
	return err
}

// mermaidBytes makes the text of Mermaid, or when limit is not 0 stops
// making it as soon as it would pass limit characters (a label's names
// alone can: one long name, escaped, is several times its length), saying
// so with over.
func mermaidBytes(g *graph.Graph, marks diffMarks, limit int) (text []byte, over bool) {
	d := newDrawing(g, marks)
	var b bytes.Buffer
	// past says whether b and the names given would pass limit.
	past := func(names ...string) bool {
		n := b.Len()
		for _, s := range names {
			n += len(s)
		}
		return limit > 0 && n > limit
	}
	b.WriteString("flowchart LR\n")
	var external []string
	for _, n := range d.nodes {
		open, closing := "[", "]"
		if n.Kind == graph.KindExternal {
			open, closing = "([", "])"
			external = append(external, n.id)
		}
		if past(n.ID) { // its label has at least the name
			return nil, true
		}
		lines := n.lines()
		if past(lines...) {
			return nil, true
		}
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", n.id, open, mermaidLabel(true, lines...), closing)
	}
	// Clusters as subgraphs, in order of their first node.
	var clusters []string
	members := map[string][]string{}
	for _, n := range d.nodes {
		if n.cluster == "" {
			continue
		}
		if _, ok := members[n.cluster]; !ok {
			clusters = append(clusters, n.cluster)
		}
		members[n.cluster] = append(members[n.cluster], n.id)
	}
	for i, c := range clusters {
		fmt.Fprintf(&b, "  subgraph c%d[\"%s\"]\n", i, mermaidLabel(true, display(c)))
		for _, id := range members[c] {
			fmt.Fprintf(&b, "    %s\n", id)
		}
		b.WriteString("  end\n")
	}
	var infra, added, removed []string
	for i, l := range d.links {
		arrow := "-->"
		if l.oneSided || l.infra {
			arrow = "-.->"
		}
		switch {
		case l.mark == "added":
			arrow = "==>"
			added = append(added, strconv.Itoa(i))
		case l.mark == "removed":
			arrow = "-.->"
			removed = append(removed, strconv.Itoa(i))
		case l.infra:
			infra = append(infra, strconv.Itoa(i))
		}
		label := l.label()
		if past(label...) {
			return nil, true
		}
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", l.from.id, arrow, mermaidLabel(false, label...), l.to.id)
	}
	if past(d.notes...) {
		return nil, true
	}
	if len(d.notes) > 0 {
		fmt.Fprintf(&b, "  notes[\"%s\"]\n", mermaidLabel(true, append([]string{"infrastructure, not drawn:"}, d.notes...)...))
		b.WriteString("  classDef note stroke-dasharray:2 2,stroke:#bbb,color:#555,fill:#fafafa\n  class notes note\n")
	}
	if len(external) > 0 {
		b.WriteString("  classDef external stroke-dasharray:5 5,stroke:#888,color:#555,fill:#f6f6f6\n")
		fmt.Fprintf(&b, "  class %s external\n", strings.Join(external, ","))
	}
	if len(infra) > 0 {
		fmt.Fprintf(&b, "  linkStyle %s stroke:#aaa,color:#888\n", strings.Join(infra, ","))
	}
	if len(added) > 0 {
		fmt.Fprintf(&b, "  linkStyle %s stroke:%s,color:%s\n", strings.Join(added, ","), diffAdded, diffAdded)
	}
	if len(removed) > 0 {
		fmt.Fprintf(&b, "  linkStyle %s stroke:%s,color:%s\n", strings.Join(removed, ","), diffRemoved, diffRemoved)
	}
	for _, m := range []struct{ mark, color string }{{"added", diffAdded}, {"removed", diffRemoved}} {
		var ids []string
		for _, n := range d.nodes {
			if marks.nodeMark(n.ID) == m.mark {
				ids = append(ids, n.id)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(&b, "  classDef %s stroke:%s,stroke-width:2px\n  class %s %s\n", m.mark, m.color, strings.Join(ids, ","), m.mark)
		}
	}
	if past() {
		return nil, true
	}
	return b.Bytes(), false
}

// mermaidLabel is the text of a quoted Mermaid label showing lines, each
// already through display. Every line is encoded by mermaidText; how lines
// are joined decides how Mermaid (11.x) draws them.
//
// Mermaid shows entity codes as text in SVG labels (htmlLabels: false)
// unless the label holds a tag: then DOMPurify parses it and decodes them.
// So lines are joined with <br/>, and a one-line node label ends with one
// (a trailing <br/> draws nothing), and both label kinds show the name. But in
// that path the decoded text is searched again: a backslash followed by n
// becomes a line break, "fa:fa-NAME" an icon, and $$...$$ a formula. A
// label with any of these is written without a tag, lines joined by a
// newline, so the HTML labels Mermaid draws by default (and GitHub uses)
// show it exactly, while SVG labels show its entity codes. Edge labels in
// SVG show entity codes either way (Mermaid never decodes them there), so
// they get no trailing <br/> (node is false).
func mermaidLabel(node bool, lines ...string) string {
	enc := make([]string, len(lines))
	decoded := false
	for i, l := range lines {
		enc[i] = mermaidText(l)
		decoded = decoded || mermaidRescanned.MatchString(l)
	}
	if decoded {
		return strings.Join(enc, "\n")
	}
	if len(enc) == 1 && node {
		return enc[0] + "<br/>"
	}
	return strings.Join(enc, "<br/>")
}

// mermaidRescanned matches what Mermaid acts on in a label's decoded text
// (see mermaidLabel): \n, Font Awesome icon names (as Mermaid's own
// pattern, (fa[bklrs]?):fa-NAME) and KaTeX's $$.
var mermaidRescanned = regexp.MustCompile(`\\n|fa[bklrs]?:fa-[\w-]|\$\$`)

// mermaidText encodes s for a quoted Mermaid label, so that real Mermaid
// (11.x) shows exactly s. Letters, digits, spaces and a few harmless marks
// stay; everything else (':' too, which starts an icon name) becomes an entity code (#quot; for the quote, #NNN;
// for the rest), so quotes, pipes, brackets, markup, backticks (markdown
// strings), %% (directives and comments) and # itself are shown, not parsed.
//
// Mermaid also rewrites its source before parsing it: a line holding
// "style" or "classDef", then ':', then '#', loses its last ';' (the rule is
// meant for style statements; in a label it cuts the last entity short, so
// "lifestyle:eu(1)" showed as "lifestyle:eu(1#41"). So the first letter of
// either word is written as an entity too, and no label line can match.
// Mermaid's own entity markers (ﬂ°, ¶ß) cannot appear either: '°' and '¶'
// are not letters, so they are always encoded.
func mermaidText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '"':
			b.WriteString("#quot;")
		case strings.HasPrefix(s[i:], "style") || strings.HasPrefix(s[i:], "classDef"):
			fmt.Fprintf(&b, "#%d;", r)
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("._-/,+@=", r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "#%d;", r)
		}
	}
	return b.String()
}
