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
	"os"
	"slices"
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

	diff *graph.Diff // CompareFile's, of a graph read by graph.ReadCompare
}

// IsGraphSchema reports whether schema names a graph of any version
// ("planet.graph/..."), this one's or a later one's.
func IsGraphSchema(schema string) bool { return strings.HasPrefix(schema, "planet.graph/") }

// ReadFile reads a snapshot or a graph from path ("-" or "" for stdin).
// A path must be a regular file: a FIFO or a device would block or never
// end. Reading stdin stops when ctx is done. The document is told apart by
// its schema and then decoded strictly (see Read).
func ReadFile(ctx context.Context, path string, stdin io.Reader) (*Document, error) {
	return readFile(ctx, path, stdin, readGraph(graph.Read), nil)
}

// ReadFileBeside is ReadFile for a document held beside base (a graph read
// before: render --diff's input): a graph is read with graph.ReadShared,
// sharing with base its edges, strings and name lists, and refused when
// the two together pass graph.MaxDiffHeld.
func ReadFileBeside(ctx context.Context, path string, stdin io.Reader, base *graph.Graph) (*Document, error) {
	return readFile(ctx, path, stdin, readGraph(func(r io.Reader, name string) (*graph.Graph, error) {
		return graph.ReadShared(r, name, base)
	}), nil)
}

// ReadFileForCompare is ReadFile for a document to be compared with base
// under opts (graph.Compare(base, doc's graph, opts)): a graph is read
// with graph.ReadForCompare, sharing the edges that did not change with
// base, and must be used for that comparison only.
func ReadFileForCompare(ctx context.Context, path string, stdin io.Reader, base *graph.Graph, opts graph.DiffOptions) (*Document, error) {
	return readFile(ctx, path, stdin, forCompare(base, opts), nil)
}

// CompareFile is graph.Compare(base, the graph of the document at path,
// opts), read as ReadFile reads it (a snapshot is merged alone). A graph
// is compared while it is read (graph.ReadCompare), never held; one whose
// edges are not in order (a graph planet did not write) is read again
// from its start with graph.ReadForCompare and then compared. A standard
// input that cannot seek back (a pipe) is read the same way: what the
// first reading takes of it is kept, its first 4 MiB (SpoolMemory) in
// memory and, past that, all of it in an unnamed private temp file in
// os.TempDir() (at most graph.MaxSize bytes, on disk), and read from
// there again; no copy is made of a file. base is
// compared as graph.ForCompare(base, opts) gives it, and is best given so
// (then its external dependencies, merged, are all it holds of them).
func CompareFile(ctx context.Context, path string, stdin io.Reader, base *graph.Graph, opts graph.DiffOptions) (*graph.Diff, error) {
	return compareFile(ctx, path, stdin, base, opts, forCompare(base, opts))
}

// compareFile is CompareFile, reading a graph whose edges are out of order
// again with again.
func compareFile(ctx context.Context, path string, stdin io.Reader, base *graph.Graph, opts graph.DiffOptions, again graphReader) (*graph.Diff, error) {
	streamed := func(r io.Reader, name string) (*Document, error) {
		d, err := graph.ReadCompare(r, name, base, opts)
		if err != nil {
			return nil, err
		}
		return &Document{Name: name, diff: d}, nil
	}
	doc, err := readFile(ctx, path, stdin, streamed, again)
	if err != nil {
		return nil, err
	}
	if doc.diff != nil {
		return doc.diff, nil
	}
	g, err := doc.AsGraph()
	if err != nil {
		return nil, err
	}
	return graph.Compare(base, graph.TakeForCompare(g, opts), opts), nil
}

// graphReader reads a graph document into a Document.
type graphReader func(r io.Reader, name string) (*Document, error)

// readGraph is a graphReader of read.
func readGraph(read func(io.Reader, string) (*graph.Graph, error)) graphReader {
	return func(r io.Reader, name string) (*Document, error) {
		g, err := read(r, name)
		if err != nil {
			return nil, err
		}
		return &Document{Name: name, Graph: g}, nil
	}
}

// forCompare is the graphReader of ReadFileForCompare.
func forCompare(base *graph.Graph, opts graph.DiffOptions) graphReader {
	return readGraph(func(r io.Reader, name string) (*graph.Graph, error) {
		return graph.ReadForCompare(r, name, base, opts)
	})
}

// readFile is ReadFile, reading a graph with readGraph; with again, a
// graph readGraph refuses with graph.ErrUnordered is read again from its
// start with again: a file from the same descriptor, a standard input
// that cannot seek back from a spool of what readGraph took of it.
func readFile(ctx context.Context, path string, stdin io.Reader, readGraph, again graphReader) (*Document, error) {
	name, src := "-", stdin
	if path != "" && path != "-" {
		// Opened without blocking and checked on the descriptor: a FIFO
		// swapped in for the file cannot hang the reader.
		f, err := fetch.OpenFile(ctx, path, graph.MaxSize)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		name, src = path, f
	}
	if again == nil {
		return read(fetch.Reader(ctx, src), name, readGraph)
	}
	// The same descriptor, read again from where it started: a file
	// replaced meanwhile is not mixed in.
	f, _ := src.(*os.File)
	var start int64 = -1
	if f != nil {
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			if start, err = f.Seek(0, io.SeekCurrent); err != nil {
				start = -1
			}
		}
	}
	if start < 0 {
		return readSpooled(ctx, fetch.Reader(ctx, src), name, readGraph, again)
	}
	doc, err := read(fetch.Reader(ctx, src), name, readGraph)
	if !errors.Is(err, graph.ErrUnordered) {
		return doc, err
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("reading again from the start: %w", err)}
	}
	return read(fetch.Reader(ctx, src), name, again)
}

// readSpooled is readFile's reading of in, a source that cannot seek
// back: read with readGraph, every byte it takes copied to a spool; one
// refused with graph.ErrUnordered is read again with again from the spool
// and then the rest of in.
func readSpooled(ctx context.Context, in io.Reader, name string, readGraph, again graphReader) (*Document, error) {
	sp := &spool{limit: spoolLimit}
	defer sp.close()
	doc, err := read(io.TeeReader(in, sp), name, readGraph)
	if !errors.Is(err, graph.ErrUnordered) {
		return doc, err
	}
	if sp.err == nil && sp.f != nil {
		_, sp.err = sp.f.Seek(0, io.SeekStart) // written with WriteAt: there already
	}
	switch {
	case errors.Is(sp.err, graph.ErrTooLarge):
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("reading again from the start: %w", sp.err)}
	case sp.err != nil:
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("keeping what was read in %s to read it again from its start: %w", os.TempDir(), sp.err)}
	}
	var head io.Reader = bytes.NewReader(sp.mem)
	if sp.f != nil {
		// A regular file: fetch.Reader stops at ctx's end between reads.
		head = fetch.Reader(ctx, sp.f)
	}
	return read(io.MultiReader(head, in), name, again)
}

// spoolLimit bounds a spool: graph.MaxSize, the most a graph file may
// hold; lowered by tests.
var spoolLimit int64 = graph.MaxSize

// SpoolMemory is how much of a graph on a pipe a spool keeps in memory
// before it moves it to a temp file (see CompareFile), in bytes: a graph
// planet writes of up to about 15,000 edges (some 280 bytes an edge,
// indented) is read again without touching $TMPDIR. A diff holds at most
// graph.MaxDiffHeld (416 MiB) beside it, under planet's 448 MiB soft
// memory limit.
const SpoolMemory = 4 << 20

// spoolMemory is SpoolMemory, lowered by tests.
var spoolMemory = SpoolMemory

// spool keeps the bytes written to it, up to limit: the first spoolMemory
// in memory, and once there are more, all of them in an unnamed temp file
// made then. A failed write is kept in err, not returned: the reading it
// copies goes on, and needs the copy only when it must start again.
type spool struct {
	mem   []byte   // the bytes while there is no file
	f     *os.File // nil until the bytes pass spoolMemory
	n     int64    // bytes kept, in mem or f
	limit int64
	err   error // the first failure; nothing is written after it
}

func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil || len(p) == 0 {
		return len(p), nil
	}
	if s.n+int64(len(p)) > s.limit {
		s.err = fmt.Errorf("%w: larger than %d bytes", graph.ErrTooLarge, s.limit)
		return len(p), nil
	}
	if s.f == nil && len(s.mem)+len(p) <= spoolMemory {
		if len(s.mem)+len(p) > cap(s.mem) {
			// Doubled up to spoolMemory, never past it.
			s.mem = slices.Grow(s.mem, min(max(2*cap(s.mem), len(s.mem)+len(p), 64<<10), spoolMemory)-len(s.mem))
		}
		s.mem = append(s.mem, p...)
		s.n += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		// CreateTemp opens a new random name with O_CREATE|O_EXCL, mode
		// 0600: a symbolic link or a file another user planted in a
		// shared temp dir is never followed or reused, so a run as root
		// writes nowhere else. Unnamed from now on: nobody else can open
		// it, and it is gone when planet ends, however it ends.
		f, err := os.CreateTemp("", "planet-diff-*.spool")
		if err != nil {
			s.err = err
			return len(p), nil
		}
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			s.err = err
			return len(p), nil
		}
		s.f = f
		if _, err := s.f.WriteAt(s.mem, 0); err != nil {
			s.err = err
			return len(p), nil
		}
		s.mem = nil
	}
	if _, err := s.f.WriteAt(p, s.n); err != nil {
		s.err = err
		return len(p), nil
	}
	s.n += int64(len(p))
	return len(p), nil
}

// close closes the spool's file, if it made one.
func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
	}
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
func Read(r io.Reader, name string) (*Document, error) { return read(r, name, readGraph(graph.Read)) }

// read is Read, reading a graph with readGraph.
func read(r io.Reader, name string, readGraph graphReader) (*Document, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if schema, err := snapshot.SniffSchema(head); err == nil && schema == graph.Schema {
		return readGraph(br, name)
	}
	doc, err := io.ReadAll(io.LimitReader(br, snapshot.MaxSize+1))
	if err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	if len(doc) > snapshot.MaxSize {
		return readGraph(io.MultiReader(bytes.NewReader(doc), br), name)
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
