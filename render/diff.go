package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/planetdeps/planet/graph"
)

// DiffText writes a diff the way a person reads it at a terminal: one line a
// change, "+" added, "-" removed, "~" changed.
func DiffText(w io.Writer, d *graph.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "planet diff: %s\n", d.Summary())
	for _, n := range d.AddedNodes {
		fmt.Fprintf(bw, "+ node %s (%s, %d hosts)\n", cell(n.ID), n.Kind, n.HostCount)
	}
	for _, n := range d.RemovedNodes {
		fmt.Fprintf(bw, "- node %s (%s, %d hosts)\n", cell(n.ID), n.Kind, n.HostCount)
	}
	for _, n := range d.ChangedNodes {
		fmt.Fprintf(bw, "~ node %s: %s\n", cell(n.ID), fieldChanges(n.Changes))
	}
	for _, e := range d.AddedEdges {
		fmt.Fprintf(bw, "+ %s%s\n", edgeLine(e), edgeProcs(e))
	}
	for _, e := range d.RemovedEdges {
		fmt.Fprintf(bw, "- %s%s\n", edgeLine(e), edgeProcs(e))
	}
	for _, c := range d.ChangedEdges {
		fmt.Fprintf(bw, "~ %s %s/%d: %s\n", arrow(c.From, c.To), c.Protocol, c.Port, fieldChanges(c.Changes))
	}
	for _, t := range d.Traffic {
		fmt.Fprintf(bw, "~ %s: %s -> %s bytes\n", cell(t.Field), t.Old, t.New)
	}
	return bw.Flush()
}

// DiffJSON writes the diff as planet.diff/v1 JSON.
func DiffJSON(w io.Writer, d *graph.Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

func arrow(from, to string) string { return cell(from) + " -> " + cell(to) }

func edgeLine(e *graph.Edge) string {
	return fmt.Sprintf("%s %s/%d", arrow(e.From, e.To), e.Protocol, e.Port)
}

func edgeProcs(e *graph.Edge) string {
	if len(e.ClientProcesses) == 0 && len(e.ServerProcesses) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s -> %s)", cell(strings.Join(e.ClientProcesses, ",")), cell(strings.Join(e.ServerProcesses, ",")))
}

func fieldChanges(ch []graph.FieldChange) string {
	parts := make([]string, len(ch))
	for i, c := range ch {
		parts[i] = fmt.Sprintf("%s %s -> %s", c.Field, cell(c.Old), cell(c.New))
	}
	return strings.Join(parts, "; ")
}

// DiffMarkdown writes a diff for a pull-request comment: a summary line, a
// table of the changes and a Mermaid diagram of the changed neighbourhood
// (added dependencies green, removed ones red and dashed, changed ones amber).
// Every name in it (hostgroups, processes, protocols: any local user names
// its own process) renders as its literal text in GitHub-flavoured Markdown:
// see mdText and mermaidText.
func DiffMarkdown(w io.Writer, d *graph.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "**planet diff**: %s\n", d.Summary())
	if d.Empty() {
		return bw.Flush()
	}
	bw.WriteString("\n| change | client | server | port | details |\n|---|---|---|---|---|\n")
	// Every cell is Markdown already: names through mdText.
	row := func(change, client, server, port, details string) {
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s |\n", change, client, server, port, details)
	}
	port := func(protocol string, p uint16) string { return mdText(protocol) + "/" + strconv.Itoa(int(p)) }
	for _, e := range d.AddedEdges {
		row("added", mdText(e.From), mdText(e.To), port(e.Protocol, e.Port), mdProcs(e))
	}
	for _, e := range d.RemovedEdges {
		row("removed", mdText(e.From), mdText(e.To), port(e.Protocol, e.Port), mdProcs(e))
	}
	for _, c := range d.ChangedEdges {
		row("changed", mdText(c.From), mdText(c.To), port(c.Protocol, c.Port), mdChanges(c.Changes))
	}
	for _, n := range d.AddedNodes {
		row("node added", mdText(n.ID), "-", "-", fmt.Sprintf("%s, %d hosts", mdText(n.Kind), n.HostCount))
	}
	for _, n := range d.RemovedNodes {
		row("node removed", mdText(n.ID), "-", "-", fmt.Sprintf("%s, %d hosts", mdText(n.Kind), n.HostCount))
	}
	for _, n := range d.ChangedNodes {
		row("node changed", mdText(n.ID), "-", "-", mdChanges(n.Changes))
	}
	for _, t := range d.Traffic {
		row("bandwidth", mdText(t.Field), "-", "-", mdText(t.Old)+" -&gt; "+mdText(t.New)+" bytes")
	}
	if m := diffMermaid(d); m != "" {
		// mermaidLabel leaves no backtick in the diagram, so no name can
		// close the fence.
		bw.WriteString("\n```mermaid\n")
		bw.WriteString(m)
		bw.WriteString("```\n")
	}
	return bw.Flush()
}

// mdProcs is an edge's "(client processes -> server processes)" cell, or
// "-" when neither is known.
func mdProcs(e *graph.Edge) string {
	if len(e.ClientProcesses) == 0 && len(e.ServerProcesses) == 0 {
		return "-"
	}
	return "(" + mdText(strings.Join(e.ClientProcesses, ",")) + " -&gt; " + mdText(strings.Join(e.ServerProcesses, ",")) + ")"
}

// mdChanges is "field old -> new; ..." in Markdown.
func mdChanges(ch []graph.FieldChange) string {
	parts := make([]string, len(ch))
	for i, c := range ch {
		parts[i] = mdText(c.Field) + " " + mdText(c.Old) + " -&gt; " + mdText(c.New)
	}
	return strings.Join(parts, "; ")
}

// mdText is s as literal text in a GitHub-flavoured Markdown table cell:
// "-" when empty, Go-quoted (as display does) when it holds control or
// invisible characters, and otherwise shown exactly. In GFM every ASCII
// punctuation character may start markup (links, images, emphasis,
// strike-through, code, HTML, entities, a cell's end), and ':' and '.'
// start autolinks (https://..., www....), so only letters, digits, '-',
// ',', '/', '=' and inner spaces are written as they are; every other
// ASCII character becomes a decimal character reference (&#91;), which
// Markdown shows as the character and never parses. Leading and trailing
// spaces are references too, or the cell would trim them. GFM's extended
// email autolink looks for '@' in the text after references are decoded,
// so each '@' is preceded by an empty HTML comment, which ends the text
// run the autolink would have to start in and is shown as nothing.
func mdText(s string) string {
	if s == "" {
		return "-"
	}
	s = display(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '@':
			b.WriteString("<!-- -->@")
		case r == ' ' && i > 0 && i < len(s)-1:
			b.WriteByte(' ')
		case r >= utf8.RuneSelf || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-,/=", r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "&#%d;", r)
		}
	}
	return b.String()
}

// diffMermaid draws only the changed dependencies and the nodes they touch.
func diffMermaid(d *graph.Diff) string {
	type link struct {
		from, to, label, arrow, color string
	}
	var links []link
	label := func(protocol string, port uint16) string { return display(protocol) + "/" + strconv.Itoa(int(port)) }
	for _, e := range d.AddedEdges {
		links = append(links, link{e.From, e.To, label(e.Protocol, e.Port), "==>", "#2da44e"})
	}
	for _, e := range d.RemovedEdges {
		links = append(links, link{e.From, e.To, label(e.Protocol, e.Port), "-.->", "#cf222e"})
	}
	for _, c := range d.ChangedEdges {
		links = append(links, link{c.From, c.To, label(c.Protocol, c.Port), "-->", "#bf8700"})
	}
	if len(links) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	id := func(name string) string {
		if v, ok := ids[name]; ok {
			return v
		}
		v := fmt.Sprintf("n%d", len(ids))
		ids[name] = v
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", v, mermaidLabel(true, display(name)))
		return v
	}
	lines := make([]string, len(links))
	for i, l := range links {
		lines[i] = fmt.Sprintf("  %s %s|\"%s\"| %s\n", id(l.from), l.arrow, mermaidLabel(false, l.label), id(l.to))
	}
	for _, l := range lines {
		b.WriteString(l)
	}
	for i, l := range links {
		fmt.Fprintf(&b, "  linkStyle %d stroke:%s,stroke-width:2px\n", i, l.color)
	}
	return b.String()
}
