// Package document reads planet's JSON documents, a snapshot
// (snapshot.Schema, snapshot.SchemaV1) or a merged graph (graph.Schema): it
// tells them apart by their "schema" member, reads each within its size
// bound (snapshot.MaxSize, graph.MaxSize) and decodes it strictly. `planet
// render` and `planet diff` read their inputs with it; the fleet package
// uses IsGraphSchema to skip the graphs a walk finds.
package document

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/snapshot"
)

// Document is one snapshot or one merged graph. Exactly one of Snapshot and
// Graph is set.
type Document struct {
	Name     string // the file, or "-" for standard input
	Snapshot *snapshot.Snapshot
	Graph    *graph.Graph
}

// IsGraphSchema reports whether schema names a graph of any version
// ("planet.graph/..."), this one's or a later one's.
func IsGraphSchema(schema string) bool { return strings.HasPrefix(schema, "planet.graph/") }

// ReadFile reads a snapshot or a graph from path ("-" or "" for stdin).
// A path must be a regular file: a FIFO or a device would block or never
// end. Reading stdin stops when ctx is done. The document is told apart by
// its schema and then decoded strictly (see Read).
func ReadFile(ctx context.Context, path string, stdin io.Reader) (*Document, error) {
	return readFile(ctx, path, stdin, graph.Read)
}

// ReadFileForCompare is ReadFile for a document to be compared with base
// under opts (graph.Compare(base, doc's graph, opts)): a graph is read
// with graph.ReadForCompare, sharing the edges that did not change with
// base, and must be used for that comparison only.
func ReadFileForCompare(ctx context.Context, path string, stdin io.Reader, base *graph.Graph, opts graph.DiffOptions) (*Document, error) {
	return readFile(ctx, path, stdin, func(r io.Reader, name string) (*graph.Graph, error) {
		return graph.ReadForCompare(r, name, base, opts)
	})
}

// readFile is ReadFile, reading a graph with readGraph.
func readFile(ctx context.Context, path string, stdin io.Reader, readGraph func(io.Reader, string) (*graph.Graph, error)) (*Document, error) {
	if path == "" || path == "-" {
		return read(fetch.Reader(ctx, stdin), "-", readGraph)
	}
	// Opened without blocking and checked on the descriptor: a FIFO swapped
	// in for the file cannot hang the reader.
	f, err := fetch.OpenFile(ctx, path, graph.MaxSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(fetch.Reader(ctx, f), path, readGraph)
}

// sniffSize is how much of a document is read to find its schema: planet
// writes "schema" first.
const sniffSize = 64 << 10

// Read reads a snapshot (at most snapshot.MaxSize bytes, whole) or a graph
// (streamed, within graph's limits), whichever its schema names. A
// document whose schema is not at its start is read whole up to a
// snapshot's limit, and read on as a graph past it. Errors are
// *snapshot.Error values naming name, and wrap snapshot.ErrSchema for a
// schema that is neither.
func Read(r io.Reader, name string) (*Document, error) { return read(r, name, graph.Read) }

// read is Read, reading a graph with readGraph.
func read(r io.Reader, name string, readGraph func(io.Reader, string) (*graph.Graph, error)) (*Document, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if schema, err := snapshot.SniffSchema(head); err == nil && schema == graph.Schema {
		g, err := readGraph(br, name)
		if err != nil {
			return nil, err
		}
		return &Document{Name: name, Graph: g}, nil
	}
	doc, err := io.ReadAll(io.LimitReader(br, snapshot.MaxSize+1))
	if err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if len(doc) > snapshot.MaxSize {
		g, err := readGraph(io.MultiReader(bytes.NewReader(doc), br), name)
		if err != nil {
			return nil, err
		}
		return &Document{Name: name, Graph: g}, nil
	}
	return Parse(doc, name)
}

// Parse decodes a snapshot or a graph held in memory, whichever its
// "schema" names. Errors are *snapshot.Error values naming name.
func Parse(doc []byte, name string) (*Document, error) {
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
		return &Document{Name: name, Snapshot: s}, nil
	case schema == graph.Schema:
		g, err := graph.Parse(doc, name)
		if err != nil {
			return nil, err
		}
		return &Document{Name: name, Graph: g}, nil
	}
	return nil, &snapshot.Error{Name: name, Offset: -1,
		Err: fmt.Errorf("%w %q (planet reads %s and %s)", snapshot.ErrSchema, schema, snapshot.Schema, graph.Schema)}
}

// AsGraph returns the document as a graph: a snapshot becomes a one-host
// graph, merged the way planet merge would merge it alone.
func (d *Document) AsGraph() (*graph.Graph, error) {
	if d.Graph != nil {
		return d.Graph, nil
	}
	if d.Snapshot == nil {
		return nil, errors.New("document: neither a snapshot nor a graph")
	}
	g, err := graph.Merge([]*snapshot.Snapshot{d.Snapshot}, graph.MergeOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	return g, nil
}
