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
// be drawn (Mermaid) or would take minutes to lay out (SVG).
type LimitError struct{ Msg string }

func (e *LimitError) Error() string {
	return e.Msg + "; narrow the graph with --focus NODE --depth N, --hide-external or --exclude-port P, or pass --force"
}

// Mermaid writes g as a Mermaid flowchart (flowchart LR) for READMEs and CI
// comments. Nodes are n0, n1... in the graph's order with their name and
// host count as a quoted label; the dependencies between two nodes share one
// link labelled with their proto/port list (and bytes when known), dotted
// when every one of them was seen from one end only. External nodes get the
// "external" class (dashed, grey). Labels are entity-encoded (#quot;, #60;)
// so no name can end a label or inject markup.
//
// Unless force is set, a diagram beyond Mermaid's default limits
// (MermaidMaxLinks links, MermaidMaxText characters) is refused with a
// *LimitError, since Mermaid would only show an error in its place.
func Mermaid(w io.Writer, g *graph.Graph, force bool) error {
	b, links := mermaidBytes(g)
	if !force {
		if links > MermaidMaxLinks {
			return &LimitError{fmt.Sprintf("mermaid: %d links, more than Mermaid draws (%d by default)", links, MermaidMaxLinks)}
		}
		if len(b) > MermaidMaxText {
			return &LimitError{fmt.Sprintf("mermaid: %d characters, more than Mermaid draws (%d by default)", len(b), MermaidMaxText)}
		}
	}
	_, err := w.Write(b)
	return err
}

type mermaidLink struct {
	from, to string
	ports    []string
	bytes    uint64
	// Bandwidth over observation windows, client to server and back.
	windowed           bool
	toServer, toClient float64
	oneSided           bool
	firstEdge          int
}

func mermaidBytes(g *graph.Graph) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString("flowchart LR\n")
	ids := make(map[string]string, len(g.Nodes))
	var external []string
	for i, n := range g.Nodes {
		id := "n" + strconv.Itoa(i)
		ids[n.ID] = id
		open, closing := "[", "]"
		if n.Kind == graph.KindExternal {
			open, closing = "([", "])"
			external = append(external, id)
		}
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", id, open, mermaidLabel(true, display(n.ID), hostCount(n.HostCount)), closing)
	}
	// One link per ordered node pair, in the graph's edge order.
	var links []*mermaidLink
	byPair := map[[2]string]*mermaidLink{}
	for i, e := range g.Edges {
		k := [2]string{e.From, e.To}
		l := byPair[k]
		if l == nil {
			l = &mermaidLink{from: ids[e.From], to: ids[e.To], oneSided: true, firstEdge: i}
			byPair[k] = l
			links = append(links, l)
		}
		l.ports = append(l.ports, portLabel(e))
		if e.Windowed {
			l.windowed = true
			l.toServer += e.BytesPerSecondToServer
			l.toClient += e.BytesPerSecondToClient
		} else {
			l.bytes += e.PortBytesToServer + e.PortBytesToClient
		}
		l.oneSided = l.oneSided && e.SeenFrom != graph.SeenBoth
	}
	for _, l := range links {
		arrow := "-->"
		if l.oneSided {
			arrow = "-.->"
		}
		lines := []string{strings.Join(l.ports, ", ")}
		if l.windowed {
			lines = append(lines, rateSI(l.toServer)+" →, "+rateSI(l.toClient)+" ←")
		}
		if l.bytes > 0 {
			lines = append(lines, bytesIEC(l.bytes)+" since open")
		}
		label := mermaidLabel(false, lines...)
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", l.from, arrow, label, l.to)
	}
	if len(external) > 0 {
		b.WriteString("  classDef external stroke-dasharray:5 5,stroke:#888,color:#555,fill:#f6f6f6\n")
		fmt.Fprintf(&b, "  class %s external\n", strings.Join(external, ","))
	}
	return b.Bytes(), len(links)
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
