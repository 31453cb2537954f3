package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/planetdeps/planet/snapshot"
)

// MaxSize bounds one graph document.
const MaxSize = 256 << 20

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func itoa(i int) string { return strconv.Itoa(i) }

// Parse strictly decodes one graph document: the schema must be Schema,
// unknown fields and trailing data are errors, and the content must be
// consistent (edges between known nodes, no duplicates). Errors are
// *snapshot.Error values naming name, with the byte offset and line where
// decoding broke; an unknown schema wraps snapshot.ErrSchema.
func Parse(doc []byte, name string) (*Graph, error) {
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
// order. Nodes and Edges are never null in the output.
func Write(w io.Writer, g *Graph) error {
	out := *g
	out.Schema = Schema
	if out.Nodes == nil {
		out.Nodes = []*Node{}
	}
	if out.Edges == nil {
		out.Edges = []*Edge{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&out)
}
