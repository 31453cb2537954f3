package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
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
		k := c.Key()
		fmt.Fprintf(bw, "~ %s %s/%d: %s\n", arrow(k.From, k.To), k.Protocol, k.Port, fieldChanges(c.Changes()))
	}
	for _, t := range d.Traffic {
		fmt.Fprintf(bw, "~ %s: %s -> %s\n", cell(t.Field), humanBytes(t.Old), humanBytes(t.New))
	}
	return bw.Flush()
}

// DiffJSON writes the diff as planet.diff/v1 JSON: the bytes
// json.Encoder gives for the Diff indented by two spaces, without HTML
// escaping, but written a list element at a time, so its memory does not
// grow with the output (a diff that adds millions of dependencies writes
// hundreds of megabytes).
func DiffJSON(w io.Writer, d *graph.Diff) error {
	j := &jsonStream{w: bufio.NewWriter(w)}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	j.enc.SetIndent("    ", "  ")
	j.w.WriteString("{\n")
	j.field("schema", d.Schema, false)
	j.field("bytes_compared", d.BytesCompared, false)
	j.field("external_collapsed", d.ExternalCollapsed, false)
	writeList(j, "added_nodes", d.AddedNodes, false)
	writeList(j, "removed_nodes", d.RemovedNodes, false)
	writeList(j, "changed_nodes", d.ChangedNodes, false)
	writeList(j, "added_edges", d.AddedEdges, false)
	writeList(j, "removed_edges", d.RemovedEdges, false)
	writeList(j, "changed_edges", d.ChangedEdges, false)
	writeList(j, "traffic", d.Traffic, true)
	j.w.WriteString("}\n")
	if j.err != nil {
		return j.err
	}
	return j.w.Flush()
}

// jsonStream writes a JSON object's members one by one, indented as
// json.Encoder.SetIndent("", "  ") would; the first error sticks.
type jsonStream struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder // into buf, indented for a list element's depth
	err error
}

// value writes v as a list element at depth two (lines after the first
// indented by "    "), without the encoder's newline.
func (j *jsonStream) value(what string, v any) {
	if j.err != nil {
		return
	}
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		j.err = fmt.Errorf("diff JSON %s: %w", what, err)
		return
	}
	if _, err := j.w.Write(bytes.TrimSuffix(j.buf.Bytes(), []byte("\n"))); err != nil {
		j.err = err // the writer's, as it was given
	}
}

// field writes a scalar member at depth one.
func (j *jsonStream) field(name string, v any, last bool) {
	j.w.WriteString("  \"" + name + "\": ")
	j.value(name, v)
	j.end(last)
}

func (j *jsonStream) end(last bool) {
	if !last {
		j.w.WriteByte(',')
	}
	j.w.WriteByte('\n')
}

// writeList writes a list member at depth one: null for a nil list (as
// json.Encoder does), [] for an empty one, else one element a line group.
func writeList[T any](j *jsonStream, name string, list []T, last bool) {
	j.w.WriteString("  \"" + name + "\": ")
	switch {
	case list == nil:
		j.w.WriteString("null")
	case len(list) == 0:
		j.w.WriteString("[]")
	default:
		j.w.WriteString("[\n")
		for i, v := range list {
			j.w.WriteString("    ")
			j.value(name, v)
			if i < len(list)-1 {
				j.w.WriteByte(',')
			}
			j.w.WriteByte('\n')
		}
		j.w.WriteString("  ]")
	}
	j.end(last)
}

func arrow(from, to string) string { return cell(from) + " -> " + cell(to) }

func edgeLine(e *graph.Edge) string {
	return fmt.Sprintf("%s %s/%d", arrow(e.From, e.To), e.Protocol, e.Port)
}

func edgeProcs(e *graph.Edge) string {
	if len(e.Names().ClientProcesses) == 0 && len(e.Names().ServerProcesses) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s -> %s)", cell(procsOrUnknown(e.Names().ClientProcesses)), cell(procsOrUnknown(e.Names().ServerProcesses)))
}

// procsOrUnknown is a side's process names, or "unknown" (not "-", which
// reads like "removed") when no process was seen on that side.
func procsOrUnknown(names []string) string {
	if len(names) == 0 {
		return unknown
	}
	return strings.Join(names, ",")
}

const unknown = "unknown"

func fieldChanges(ch []graph.FieldChange) string {
	parts := make([]string, len(ch))
	for i, c := range ch {
		parts[i] = fmt.Sprintf("%s %s -> %s", c.Field, cell(fieldValue(c.Field, c.Old)), cell(fieldValue(c.Field, c.New)))
	}
	return strings.Join(parts, "; ")
}

// fieldValue is how a changed field's value is shown: byte counts in
// binary units ("1.2 MiB", "none" for 0), an empty process list as
// "unknown", anything else as it is.
func fieldValue(field, v string) string {
	switch {
	case strings.HasPrefix(field, "port_bytes_"):
		return humanBytes(v)
	case strings.HasSuffix(field, "_processes") && v == "":
		return unknown
	}
	return v
}

// humanBytes shows a decimal byte count in binary units; "none" for 0
// (a count that appeared or disappeared).
func humanBytes(v string) string {
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err != nil:
		return v
	case n == 0:
		return "none"
	}
	return bytesIEC(n)
}

// GitHubCommentMax is the most characters GitHub takes in a pull-request
// or issue comment; DiffMarkdown stays within it.
const GitHubCommentMax = 65_536

// DiffMarkdown writes a diff for a pull-request comment: a summary line, a
// table of the changes and a Mermaid diagram of the changed neighbourhood
// (added dependencies green, removed ones red and dashed, changed ones amber).
// Every name in it (hostgroups, processes, protocols: any local user names
// its own process) renders as its literal text in GitHub-flavoured Markdown:
// see mdText and mermaidText. Byte counts are in binary units; a side with
// no process known says "unknown".
//
// The comment is bounded, as GitHub and Mermaid are: a diagram beyond
// Mermaid's default limits (MermaidMaxLinks links, MermaidMaxText
// characters) is replaced by a line saying so, and when the whole would
// pass GitHubCommentMax bytes (so characters) the diagram goes first, then
// the table's last rows, summed up as "N more changes".
func DiffMarkdown(w io.Writer, d *graph.Diff) error {
	return diffMarkdown(w, d, GitHubCommentMax)
}

func diffMarkdown(w io.Writer, d *graph.Diff, limit int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "**planet diff**: %s\n", d.Summary())
	if d.Empty() {
		_, err := io.WriteString(w, b.String())
		return err
	}
	header := b.String() + "\n| change | client | server | port | details |\n|---|---|---|---|---|\n"
	var diagram string
	// The diagram is drawn only when Mermaid would draw it: a diff of
	// millions of changed dependencies makes no diagram of them.
	if links := len(d.AddedEdges) + len(d.RemovedEdges) + len(d.ChangedEdges); links > MermaidMaxLinks {
		diagram = fmt.Sprintf("\n_No diagram: %d changed dependencies, more than Mermaid draws (%d); `planet render --diff OLD -f svg NEW` draws them._\n", links, MermaidMaxLinks)
	} else if m, _ := diffMermaid(d); m != "" {
		// mermaidLabel leaves no backtick in the diagram, so no name can
		// close the fence.
		diagram = "\n```mermaid\n" + m + "```\n"
		if len(m) > MermaidMaxText {
			diagram = fmt.Sprintf("\n_No diagram: %d characters, more than Mermaid draws (%d); `planet render --diff OLD -f svg NEW` draws it._\n", len(m), MermaidMaxText)
		}
	}
	// Whether the rows fit, summed only until they pass the limit: the
	// rows are made again as they are written, never all held.
	fits := func(room int) bool {
		for r := range diffRows(d) {
			if room -= len(r); room < 0 {
				return false
			}
		}
		return true
	}
	if diagram != "" && !fits(limit-len(header)-len(diagram)) {
		diagram = "\n_No diagram: the comment would pass GitHub's limit; `planet render --diff OLD -f svg NEW` draws it._\n"
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(header)
	if fits(limit - len(header) - len(diagram)) {
		for r := range diffRows(d) {
			bw.WriteString(r)
		}
	} else {
		// Room for the rows that fit and the line summing up the rest.
		room := limit - len(header) - len(diagram) - 200
		kept := 0
		for r := range diffRows(d) {
			if len(r) > room {
				break
			}
			room -= len(r)
			bw.WriteString(r)
			kept++
		}
		fmt.Fprintf(bw, "| … | %d more changes | - | - | `planet diff -f text` lists them all |\n", diffRowCount(d)-kept)
	}
	bw.WriteString(diagram)
	return bw.Flush()
}

// diffRowCount is the number of rows diffRows yields: one a change.
func diffRowCount(d *graph.Diff) int {
	return len(d.AddedEdges) + len(d.RemovedEdges) + len(d.ChangedEdges) +
		len(d.AddedNodes) + len(d.RemovedNodes) + len(d.ChangedNodes) + len(d.Traffic)
}

// diffRows yields the table's rows, Markdown already (names through
// mdText), one a change, made as they are asked for.
func diffRows(d *graph.Diff) iter.Seq[string] {
	return func(yield func(string) bool) {
		row := func(change, client, server, port, details string) bool {
			return yield(fmt.Sprintf("| %s | %s | %s | %s | %s |\n", change, client, server, port, details))
		}
		port := func(protocol string, p uint16) string { return mdText(protocol) + "/" + strconv.Itoa(int(p)) }
		for _, e := range d.AddedEdges {
			if !row("added", mdText(e.From), mdText(e.To), port(e.Protocol, e.Port), mdProcs(e)) {
				return
			}
		}
		for _, e := range d.RemovedEdges {
			if !row("removed", mdText(e.From), mdText(e.To), port(e.Protocol, e.Port), mdProcs(e)) {
				return
			}
		}
		for _, c := range d.ChangedEdges {
			k := c.Key()
			if !row("changed", mdText(k.From), mdText(k.To), port(k.Protocol, k.Port), mdChanges(c.Changes())) {
				return
			}
		}
		for _, n := range d.AddedNodes {
			if !row("node added", mdText(n.ID), "-", "-", fmt.Sprintf("%s, %d hosts", mdText(string(n.Kind)), n.HostCount)) {
				return
			}
		}
		for _, n := range d.RemovedNodes {
			if !row("node removed", mdText(n.ID), "-", "-", fmt.Sprintf("%s, %d hosts", mdText(string(n.Kind)), n.HostCount)) {
				return
			}
		}
		for _, n := range d.ChangedNodes {
			if !row("node changed", mdText(n.ID), "-", "-", mdChanges(n.Changes)) {
				return
			}
		}
		for _, t := range d.Traffic {
			if !row("bandwidth", mdText(t.Field), "-", "-", mdText(humanBytes(t.Old))+" -&gt; "+mdText(humanBytes(t.New))) {
				return
			}
		}
	}
}

// mdProcs is an edge's "(client processes -> server processes)" cell, a
// side with none known "unknown"; "-" when neither is known.
func mdProcs(e *graph.Edge) string {
	if len(e.Names().ClientProcesses) == 0 && len(e.Names().ServerProcesses) == 0 {
		return "-"
	}
	return "(" + mdText(procsOrUnknown(e.Names().ClientProcesses)) + " -&gt; " + mdText(procsOrUnknown(e.Names().ServerProcesses)) + ")"
}

// mdChanges is "field old -> new; ..." in Markdown.
func mdChanges(ch []graph.FieldChange) string {
	parts := make([]string, len(ch))
	for i, c := range ch {
		parts[i] = mdText(c.Field) + " " + mdText(fieldValue(c.Field, c.Old)) + " -&gt; " + mdText(fieldValue(c.Field, c.New))
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

// diffMermaid draws only the changed dependencies and the nodes they
// touch; it returns the diagram and its number of links.
func diffMermaid(d *graph.Diff) (string, int) {
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
		k := c.Key()
		links = append(links, link{k.From, k.To, label(k.Protocol, k.Port), "-->", "#bf8700"})
	}
	if len(links) == 0 {
		return "", 0
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
	return b.String(), len(links)
}
