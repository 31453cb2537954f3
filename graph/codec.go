package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/planetdeps/planet/snapshot"
)

// Limits of one graph document, the same for what merge writes and what
// render and diff read. They keep render and diff (two graphs) under
// 512 MiB of memory: decoded, an entry (node, edge or traffic pair) takes
// about a kilobyte, and the gonum graph that some queries build three
// times that. A fleet merged by host with one node per external IP
// exceeds them quickly; --external collapse or cidr:N, or merging by
// hostgroup, gives the graph a size people can read.
const (
	// MaxSize bounds the bytes of one graph document.
	MaxSize = 64 << 20
	// MaxEntries bounds its nodes, edges and traffic pairs together.
	MaxEntries = 250_000
)

// ErrTooLarge is wrapped by errors about a graph over MaxSize or MaxEntries.
var ErrTooLarge = errors.New("graph too large")

// tooLargeHint says how to make a graph smaller.
const tooLargeHint = "merge --by hostgroup, group external peers with --external collapse or cidr:N, or merge fewer hosts into one graph"

// countEntries counts the elements of the arrays that are members of doc's
// top-level object (nodes, edges, traffic...), without decoding them, so
// that a document with too many is refused before it takes memory.
func countEntries(doc []byte) int {
	n, depth := 0, 0
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '"':
			for i++; i < len(doc) && doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			if depth == 3 {
				n++
			}
		case '}', ']':
			depth--
		case ',':
		default:
			if depth == 2 && doc[i] > ' ' && doc[i] != ':' {
				// A scalar element of a top-level array: counts too,
				// once (skip to its end).
				n++
				for i+1 < len(doc) && doc[i+1] != ',' && doc[i+1] != ']' && doc[i+1] > ' ' {
					i++
				}
			}
		}
	}
	return n
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func itoa(i int) string { return strconv.Itoa(i) }

// Parse strictly decodes one graph document: the schema must be Schema,
// unknown fields and trailing data are errors, and the content must be
// consistent (edges between known nodes, no duplicates). Errors are
// *snapshot.Error values naming name, with the byte offset and line where
// decoding broke; an unknown schema wraps snapshot.ErrSchema.
func Parse(doc []byte, name string) (*Graph, error) {
	if n := countEntries(doc); n > MaxEntries {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("%w: %d nodes, edges and traffic pairs, more than %d: %s", ErrTooLarge, n, MaxEntries, tooLargeHint)}
	}
	var g Graph
	if err := snapshot.DecodeStrict(doc, name, Schema, &g); err != nil {
		return nil, err
	}
	if g.Schema != Schema {
		return nil, snapshot.SchemaMismatch(name, g.Schema, Schema)
	}
	if g.By != ByHostgroup && g.By != ByHost && g.By != ByWorkload {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("by: %q is not %s, %s or %s", g.By, ByHostgroup, ByHost, ByWorkload)}
	}
	if _, err := parseExternal(g.External); err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("external: %w", err)}
	}
	if g.WindowedSnapshots < 0 || g.WindowedSnapshots > g.Snapshots {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("windowed_snapshots: %d is not between 0 and snapshots (%d)", g.WindowedSnapshots, g.Snapshots)}
	}
	if g.Snapshots < 0 {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: errors.New("snapshots: negative")}
	}
	for i, n := range g.Nodes {
		if n == nil {
			return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("nodes[%d]: null", i)}
		}
	}
	for i, e := range g.Edges {
		if e == nil {
			return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("edges[%d]: null", i)}
		}
		if e.BytesPerSecondToServer < 0 || e.BytesPerSecondToClient < 0 {
			return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("edges[%d]: negative bytes per second", i)}
		}
	}
	for i, t := range g.Traffic {
		if t == nil {
			return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("traffic[%d]: null", i)}
		}
	}
	// Empty and null lists are the same graph; keep one form so a read
	// graph compares equal to the same graph read again.
	if len(g.Nodes) == 0 {
		g.Nodes = nil
	}
	if len(g.Edges) == 0 {
		g.Edges = nil
	}
	g.Traffic = nilIfEmptyT(g.Traffic)
	if err := g.index(); err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	return &g, nil
}

func nilIfEmptyT(t []*Traffic) []*Traffic {
	if len(t) == 0 {
		return nil
	}
	return t
}

// Read reads one graph document from r, refusing more than MaxSize bytes.
func Read(r io.Reader, name string) (*Graph, error) {
	doc, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if len(doc) > MaxSize {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("larger than %d bytes", MaxSize)}
	}
	return Parse(doc, name)
}

// Write encodes g as indented JSON followed by a newline, in the documented
// order. Nodes and Edges are never null in the output. A graph over
// MaxEntries or MaxSize, which render and diff would refuse, is an error
// wrapping ErrTooLarge, and nothing is written.
func Write(w io.Writer, g *Graph) error {
	if err := g.checkEntries(); err != nil {
		return err
	}
	out := *g
	out.Schema = Schema
	if out.Nodes == nil {
		out.Nodes = []*Node{}
	}
	if out.Edges == nil {
		out.Edges = []*Edge{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return err
	}
	if buf.Len() > MaxSize {
		return fmt.Errorf("%w: %d bytes, more than %d: %s", ErrTooLarge, buf.Len(), MaxSize, tooLargeHint)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// checkEntries refuses a graph with more than MaxEntries entries.
func (g *Graph) checkEntries() error {
	if n := len(g.Nodes) + len(g.Edges) + len(g.Traffic); n > MaxEntries {
		return fmt.Errorf("%w: %d nodes, edges and traffic pairs, more than %d: %s", ErrTooLarge, n, MaxEntries, tooLargeHint)
	}
	return nil
}
