package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/snapshot"
)

// Input is what planet render reads: one snapshot or one merged graph.
// Exactly one of Snapshot and Graph is set.
type Input struct {
	Name     string // the file, or "-" for standard input
	Snapshot *snapshot.Snapshot
	Graph    *graph.Graph
}

// ReadInput reads a snapshot or a graph from path ("-" or "" for stdin).
// A path must be a regular file: a FIFO or a device would block or never
// end. Reading stdin stops when ctx is done. The document is told apart by
// its schema and then decoded strictly.
func ReadInput(ctx context.Context, path string, stdin io.Reader) (*Input, error) {
	if path == "" || path == "-" {
		return readInput(fetch.Reader(ctx, stdin), "-")
	}
	// Opened without blocking and checked on the descriptor: a FIFO swapped
	// in for the file cannot hang the render.
	doc, err := fetch.ReadFile(ctx, path, graph.MaxSize)
	if err != nil {
		return nil, err
	}
	return ParseInput(doc, path)
}

func readInput(r io.Reader, name string) (*Input, error) {
	doc, err := io.ReadAll(io.LimitReader(r, graph.MaxSize+1))
	if err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if len(doc) > graph.MaxSize {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("larger than %d bytes", graph.MaxSize)}
	}
	return ParseInput(doc, name)
}

// ParseInput decodes a snapshot or a graph, whichever its "schema" names.
// Errors are *snapshot.Error values naming name.
func ParseInput(doc []byte, name string) (*Input, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, &snapshot.Error{Name: name, Offset: -1,
			Err: fmt.Errorf("empty file, expected a %s or %s document", snapshot.Schema, graph.Schema)}
	}
	schema, err := snapshot.SniffSchema(doc)
	if err != nil && !errors.Is(err, snapshot.ErrSchema) {
		// Not JSON: the snapshot parser reports where it broke.
		_, err = snapshot.Parse(doc, name)
		return nil, err
	}
	switch {
	case err != nil:
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	case snapshot.IsSchema(schema):
		if len(doc) > snapshot.MaxSize {
			return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("snapshot larger than %d bytes", snapshot.MaxSize)}
		}
		s, err := snapshot.Parse(doc, name)
		if err != nil {
			return nil, err
		}
		return &Input{Name: name, Snapshot: s}, nil
	case schema == graph.Schema:
		g, err := graph.Parse(doc, name)
		if err != nil {
			return nil, err
		}
		return &Input{Name: name, Graph: g}, nil
	}
	return nil, &snapshot.Error{Name: name, Offset: -1,
		Err: fmt.Errorf("%w %q (planet render reads %s and %s)", snapshot.ErrSchema, schema, snapshot.Schema, graph.Schema)}
}

// AsGraph returns the input as a graph: a snapshot becomes a one-host graph,
// merged the way planet merge would merge it alone.
func (in *Input) AsGraph() (*graph.Graph, error) {
	if in.Graph != nil {
		return in.Graph, nil
	}
	if in.Snapshot == nil {
		return nil, errors.New("render: no input")
	}
	g, err := graph.Merge([]*snapshot.Snapshot{in.Snapshot}, graph.MergeOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Name, err)
	}
	return g, nil
}
