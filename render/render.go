// Package render turns snapshots and merged graphs into what people and
// tools consume: the Prometheus textfile for node_exporter's textfile
// collector, DOT, Mermaid, JSON, tables for a terminal, diffs, and SVG
// through the planet-svg helper process (the textfile itself is package
// metrics'). It must stay cheap to link: planet scan uses it for its
// table, so nothing heavy (no Graphviz, no client libraries) may be
// imported here; render/svg, the only user of the Graphviz engine, is
// linked into planet-svg alone.
package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/metrics"
)

// Format is an output format of Render (planet render's --format).
type Format string

// The formats Render knows.
const (
	FormatTextfile Format = "textfile"
	FormatDOT      Format = "dot"
	FormatSVG      Format = "svg"
	FormatMermaid  Format = "mermaid"
	FormatJSON     Format = "json"
	FormatTable    Format = "table"
)

// Formats lists the formats Render knows.
func Formats() []Format {
	return []Format{FormatTextfile, FormatDOT, FormatSVG, FormatMermaid, FormatJSON, FormatTable}
}

// formatList is Formats for a message: "textfile, dot, svg, ...".
func formatList() string {
	names := make([]string, 0, len(Formats()))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// ParseFormat reads a format's name. An unknown name is an error quoting
// it and listing the known ones (the caller names where it came from).
func ParseFormat(s string) (Format, error) {
	if f := Format(s); slices.Contains(Formats(), f) {
		return f, nil
	}
	return "", fmt.Errorf("%q: want one of %s", s, formatList())
}

// SVG layout limits: beyond them Graphviz's dot layout can take minutes, so
// Render refuses unless Options.Force. Layout time grows much faster than
// the edge count when edges cross between many nodes: measured through
// planet-svg, random graphs of 100 nodes took 1.3 s with 200 edges, 21 s
// with 300 and 58 s with 400, while 2,000 leaf nodes hanging off 10 took
// 2 s. The limits keep ordinary fleets (mostly leaves) drawable; the
// --svg-timeout deadline catches the dense cases below them.
const (
	SVGMaxEdges = 1000
	SVGMaxNodes = 500
)

// DOTMaxEdges and DOTMaxNodes bound -f dot (unless Options.Force): no
// layout engine finishes a graph this large, and its DOT text takes about
// 3 KB of memory per edge and 1 KB per node drawn while it is built, so
// beyond them render would outgrow the memory a graph at graph.MaxEntries
// otherwise needs. Nodes are counted as drawn: external peers folded into
// one when there are more than a dozen.
const (
	DOTMaxEdges = 100_000
	DOTMaxNodes = 100_000
)

// DOTMaxText bounds the text of -f dot (unless Options.Force). Names are
// repeated in the picture (a node's in its tooltip, a process on every
// link it serves), so a graph within the node and edge limits can still
// be hundreds of megabytes of DOT.
const DOTMaxText = 64 << 20

// Drawing a graph as DOT takes memory beside the graph: about 2 KB a node
// and a link drawn (the drawing, the gonum graph handed to the marshaller,
// the attributes; measured: 100,000 hosts and 100,000 links took 382 MB
// more than their table), 16 bytes a dependency in the links, and four
// times the text (the attributes, the text and its growth). With the graph
// (its graph.WeightBound) it must fit graph.MaxDiffHeld, the budget of the
// two graphs of a diff, which keeps render under 512 MiB.
const dotPartCost = 2 << 10

// dotTextLimit is the most text -f dot may have for parts p (whose counts
// check has accepted) drawn beside graphs of weight live (what render
// holds: the input as read, and the --diff base; the picture's graph
// shares their parts): DOTMaxText, or what the budget leaves. Parts that
// alone pass the budget are refused.
func dotTextLimit(live int64, p drawParts) (int, error) {
	nodes, links, _ := p.size(DOTMaxEdges)
	edges := 0
	for _, l := range p.edges {
		edges += len(l)
	}
	// Graphs read within the limits may weigh the whole budget (a
	// --diff base at graph.MaxDecoded): a small picture of them still
	// has dotMinRoom.
	room := max(graph.MaxDiffHeld-live, dotMinRoom)
	left := room - int64(dotPartCost)*int64(nodes+links) - 16*int64(edges)
	if left < 1<<20 {
		return 0, &LimitError{fmt.Sprintf("dot: %d nodes and %d links beside graphs of %d MiB take more than %d MiB to draw",
			nodes, links, live>>20, max(graph.MaxDiffHeld, live+dotMinRoom)>>20)}
	}
	return int(min(left/4, DOTMaxText)), nil
}

// dotMinRoom is what a DOT picture may take however much render holds
// beside it: the graphs the limits accept leave that much under 512 MiB.
const dotMinRoom = 16 << 20

// SVGMaxText bounds the DOT text -f svg lays out (unless Options.Force):
// a picture within SVGMaxNodes and SVGMaxEdges is a few hundred kilobytes
// of it unless its names are very long.
const SVGMaxText = 8 << 20

// Options says what Render produces.
type Options struct {
	Format Format
	Filter Filter
	// Force renders DOT, SVG and Mermaid beyond their size limits.
	Force bool
	// Width fits a graph's table to this many terminal columns (0: no
	// limit): the width of the terminal it goes to (see GraphTableWidth).
	Width int
	SVG   SVGOptions
	// DiffBase, when set, is the older graph (--diff OLD): dot, svg and
	// mermaid then draw the new graph with the dependencies added since
	// DiffBase in green and those removed since in red, dashed.
	DiffBase *Input
}

// UsageError is an option combination Render refuses before reading
// anything; the command line reports it as a usage error. Err is one of
// ErrFormat, ErrDepth, ErrDiffFormat or ErrFilterFormat, wrapped with the
// value at fault.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// The option errors of Validate (in a *UsageError), for a caller to name
// the setting at fault in its own terms (a flag, a config key).
var (
	// ErrFormat: Options.Format is not one of Formats.
	ErrFormat = errors.New("unknown format")
	// ErrDepth: Filter.Depth is negative.
	ErrDepth = errors.New("must be 0 (no limit) or more")
	// ErrDiffFormat: a DiffBase with a format that is not a picture
	// (dot, svg, mermaid).
	ErrDiffFormat = errors.New("changes are highlighted in a picture (dot, svg, mermaid) only")
	// ErrFilterFormat: a filter with the textfile format.
	ErrFilterFormat = errors.New("filters apply to graph formats (dot, svg, mermaid, json, table), not to the textfile")
)

// Validate checks the options on their own, before any input is read.
func (o Options) Validate() error {
	if !slices.Contains(Formats(), o.Format) {
		return &UsageError{fmt.Errorf("%w %q: want one of %s", ErrFormat, o.Format, formatList())}
	}
	if err := o.Filter.Validate(); err != nil {
		return &UsageError{err}
	}
	if o.DiffBase != nil && o.Format != FormatDOT && o.Format != FormatSVG && o.Format != FormatMermaid {
		return &UsageError{fmt.Errorf("format %s: %w", o.Format, ErrDiffFormat)}
	}
	if o.Format == FormatTextfile && !o.Filter.IsZero() {
		return &UsageError{ErrFilterFormat}
	}
	return nil
}

// Render produces in as opts.Format, in memory, so that nothing is written
// when any step fails; see RenderTo for the formats.
func Render(ctx context.Context, in *Input, opts Options) ([]byte, error) {
	var buf bytes.Buffer
	if err := RenderTo(ctx, &buf, in, opts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RenderTo writes in as opts.Format to w:
//
//   - textfile: the snapshot's Prometheus metrics (a graph is refused: the
//     textfile describes one host's sockets, and dashboards key on it);
//   - table: a snapshot's own table (Table), or, for a graph or when a
//     filter is set, the graph's (GraphTable);
//   - dot, svg, mermaid, json: the graph, or the snapshot merged alone into
//     a one-host graph, after opts.Filter.
//
// A graph's table and JSON, the formats without a size limit, are written
// as they are made, so their text (hundreds of megabytes for millions of
// edges) is never held whole; every check that can refuse the input comes
// first, so an error after the first byte is w's (JSON of a graph read
// compact just under graph.MaxSize can pass it once indented: graph.Write
// then refuses it before its first byte). The other formats are made in
// memory and written at the end, nothing when a step fails.
func RenderTo(ctx context.Context, w io.Writer, in *Input, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	switch {
	case opts.Format == FormatTextfile && in.Snapshot == nil:
		return fmt.Errorf("%s: the textfile format needs a snapshot (%s) and this is a merged graph (%s); render the hosts' snapshots, or pick dot, svg, mermaid, json or table",
			in.Name, "planet.snapshot/v2", graph.Schema)
	case opts.Format == FormatTextfile:
		if err := metrics.Textfile(&buf, in.Snapshot); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	case opts.Format == FormatTable && in.Snapshot != nil && opts.Filter.IsZero():
		if err := Table(&buf, in.Snapshot); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	}
	g, err := in.AsGraph()
	if err != nil {
		return err
	}
	read := g // held by in while a part of it is drawn
	if g, err = opts.Filter.Apply(g); err != nil {
		return err
	}
	var marks diffMarks
	if opts.DiffBase != nil {
		if g, marks, err = withDiff(g, opts.DiffBase, opts.Filter, opts.Format, opts.Force); err != nil {
			return err
		}
	}
	switch opts.Format {
	case FormatDOT:
		limit := 0
		if !opts.Force {
			p := partsOf(g, marks)
			if err := p.check(FormatDOT); err != nil {
				return err
			}
			live := graph.WeightBound(read)
			if opts.DiffBase != nil && opts.DiffBase.Graph != nil {
				live += graph.WeightBound(opts.DiffBase.Graph)
			}
			if limit, err = dotTextLimit(live, p); err != nil {
				return err
			}
		}
		b, err := dotBytes(g, marks, limit)
		if err != nil {
			return err
		}
		_, err = w.Write(b) // not through buf: the text is held once
		return err
	case FormatMermaid:
		err = mermaid(&buf, g, marks, opts.Force)
	case FormatJSON:
		return graph.Write(w, g)
	case FormatTable:
		return GraphTableWidth(w, g, opts.Width)
	case FormatSVG:
		if !opts.Force {
			if err := partsOf(g, marks).check(FormatSVG); err != nil {
				return err
			}
		}
		limit := 0
		if !opts.Force {
			limit = SVGMaxText
		}
		dot, err := dotBytes(g, marks, limit)
		if err != nil {
			return err
		}
		svg, err := SVG(ctx, dot, opts.SVG)
		if err != nil {
			return err
		}
		_, err = w.Write(svgLabelsOnTop(svgFonts(svg)))
		return err
	default:
		err = fmt.Errorf("render: %w %q", ErrFormat, opts.Format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// CheckPicture refuses, with the *LimitError RenderTo would give, a
// graph already beyond the limits of a picture format (DOT, SVG, Mermaid;
// other formats have none) unless force, when drawing it with any base
// (render --diff) is refused too: the union of the two has every node and
// edge of g, so it is refused before its base is read. When g has
// between 1 and a dozen external peers, drawn one by one, with external
// ip, the base's peers may make them more than a dozen, folded into one
// node: g is then counted with its peers folded, the least the union can
// draw.
func CheckPicture(g *graph.Graph, format Format, force bool) error {
	if force {
		return nil
	}
	p := partsOf(g, diffMarks{})
	if _, externals := p.drawnNodes(); p.external == "ip" && externals > 0 && externals <= maxExternalNodes {
		// Drawn with a base whose peers fold them: no fewer nodes
		// and links than g with its peers folded.
		p.fold = true
	}
	return p.check(format)
}

// CheckSVGSize refuses a graph whose drawing (external peers and
// infrastructure folded as DOT folds them) would take minutes to lay out.
func CheckSVGSize(g *graph.Graph) error { return partsOf(g, diffMarks{}).check(FormatSVG) }
