package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

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
func DiffMarkdown(w io.Writer, d *graph.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "**planet diff**: %s\n", d.Summary())
	if d.Empty() {
		return bw.Flush()
	}
	bw.WriteString("\n| change | client | server | port | details |\n|---|---|---|---|---|\n")
	row := func(change, client, server, port, details string) {
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s |\n", change, mdCell(client), mdCell(server), mdCell(port), mdCell(details))
	}
	for _, e := range d.AddedEdges {
		row("added", e.From, e.To, fmt.Sprintf("%s/%d", e.Protocol, e.Port), strings.TrimPrefix(edgeProcs(e), " "))
	}
	for _, e := range d.RemovedEdges {
		row("removed", e.From, e.To, fmt.Sprintf("%s/%d", e.Protocol, e.Port), strings.TrimPrefix(edgeProcs(e), " "))
	}
	for _, c := range d.ChangedEdges {
		row("changed", c.From, c.To, fmt.Sprintf("%s/%d", c.Protocol, c.Port), fieldChanges(c.Changes))
	}
	for _, n := range d.AddedNodes {
		row("node added", n.ID, "", "", fmt.Sprintf("%s, %d hosts", n.Kind, n.HostCount))
	}
	for _, n := range d.RemovedNodes {
		row("node removed", n.ID, "", "", fmt.Sprintf("%s, %d hosts", n.Kind, n.HostCount))
	}
	for _, n := range d.ChangedNodes {
		row("node changed", n.ID, "", "", fieldChanges(n.Changes))
	}
	for _, t := range d.Traffic {
		row("bandwidth", t.Field, "", "", t.Old+" -> "+t.New+" bytes")
	}
	if m := diffMermaid(d); m != "" {
		bw.WriteString("\n```mermaid\n")
		bw.WriteString(m)
		bw.WriteString("```\n")
	}
	return bw.Flush()
}

// mdCell keeps a value inside its table cell: pipes and newlines would end it.
func mdCell(s string) string {
	s = cell(s)
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.NewReplacer("\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// diffMermaid draws only the changed dependencies and the nodes they touch.
func diffMermaid(d *graph.Diff) string {
	type link struct {
		from, to, label, arrow, color string
	}
	var links []link
	for _, e := range d.AddedEdges {
		links = append(links, link{e.From, e.To, fmt.Sprintf("%s/%d", e.Protocol, e.Port), "==>", "#2da44e"})
	}
	for _, e := range d.RemovedEdges {
		links = append(links, link{e.From, e.To, fmt.Sprintf("%s/%d", e.Protocol, e.Port), "-.->", "#cf222e"})
	}
	for _, c := range d.ChangedEdges {
		links = append(links, link{c.From, c.To, fmt.Sprintf("%s/%d", c.Protocol, c.Port), "-->", "#bf8700"})
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
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", v, mermaidText(name))
		return v
	}
	lines := make([]string, len(links))
	for i, l := range links {
		lines[i] = fmt.Sprintf("  %s %s|\"%s\"| %s\n", id(l.from), l.arrow, mermaidText(l.label), id(l.to))
	}
	for _, l := range lines {
		b.WriteString(l)
	}
	for i, l := range links {
		fmt.Fprintf(&b, "  linkStyle %d stroke:%s,stroke-width:2px\n", i, l.color)
	}
	return b.String()
}
