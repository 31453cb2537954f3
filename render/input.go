package render

import (
	"bufio"
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
	f, err := fetch.OpenFile(ctx, path, graph.MaxSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readInput(f, path)
}

// sniffSize is how much of a document is read to find its schema: planet
// writes "schema" first.
const sniffSize = 64 << 10

// readInput reads a snapshot (at most snapshot.MaxSize bytes, whole) or a
// graph (streamed, within graph's limits), whichever its schema names.
func readInput(r io.Reader, name string) (*Input, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if schema, err := snapshot.SniffSchema(head); err == nil && schema == graph.Schema {
		g, err := graph.Read(br, name)
		if err != nil {
			return nil, err
		}
		return &Input{Name: name, Graph: g}, nil
	}
	// A snapshot, or a document whose schema is not at its start: read
	// whole, up to a snapshot's limit; only a graph may be larger.
	doc, err := io.ReadAll(io.LimitReader(br, snapshot.MaxSize+1))
	if err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if len(doc) > snapshot.MaxSize {
		g, err := graph.Read(io.MultiReader(bytes.NewReader(doc), br), name)
		if err != nil {
			return nil, err
		}
		return &Input{Name: name, Graph: g}, nil
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
