package graph

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/planetdeps/planet/snapshot"
)

// Limits of one graph document, the same for what merge writes and what
// render and diff read. The graph is written and read one element (node,
// edge or traffic pair) at a time, so no more than one element's text is
// ever held: memory follows the decoded graph, which MaxEntries bounds. A
// fleet of 10,000 fleetgen hosts merged by host, with one node per external
// IP, is about 2.2 million entries and 730 MB; merging by hostgroup or
// grouping external peers gives a graph people can read.
const (
	// MaxSize bounds the bytes of one graph document.
	MaxSize = 1 << 30
	// MaxEntries bounds its nodes, edges and traffic pairs together.
	MaxEntries = 4_000_000
	// MaxEntrySize bounds the text of one node, edge or traffic pair (a
	// hostgroup node lists its hosts' names: 100,000 hosts are ~3 MB).
	// One entry is decoded at a time, and decoding a list of short names
	// takes several times its text for a moment.
	MaxEntrySize = 8 << 20
	// maxHeaderValue bounds the text of one of the graph's other members.
	maxHeaderValue = 4 << 10
)

// maxEntries and maxSize are MaxEntries and MaxSize, lowered by tests.
var (
	maxEntries = MaxEntries
	maxSize    = int64(MaxSize)
)

// ErrTooLarge is wrapped by errors about a graph over MaxSize, MaxEntries
// or MaxEntrySize.
var ErrTooLarge = errors.New("graph too large")

// tooLargeHint says how to make a graph smaller, in the merge's terms
// (MergeOptions); the command layer names its flags.
const tooLargeHint = "key nodes by hostgroup, group external peers (collapse, or cidr:N), or merge fewer hosts into one graph"

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func itoa(i int) string { return strconv.Itoa(i) }

// Parse strictly decodes one graph document held in memory; see Read.
func Parse(doc []byte, name string) (*Graph, error) {
	return Read(bytes.NewReader(doc), name)
}

// Read strictly decodes one graph document from r, one element at a time:
// the schema must be Schema, unknown fields, a member named twice, trailing
// data and a truncated document are errors, and the content must be
// consistent (edges between known nodes, no duplicates). A document over
// MaxSize bytes or MaxEntries entries, or with an entry over MaxEntrySize
// bytes, is refused as soon as the reader gets there, wrapping
// ErrTooLarge. Errors are *snapshot.Error values naming name, with the byte
// offset and line where decoding broke; an unknown schema wraps
// snapshot.ErrSchema. Repeated strings (node IDs in edges, protocols,
// process and workload names) share one copy.
func Read(r io.Reader, name string) (*Graph, error) {
	return ReadShared(r, name, nil)
}

// ReadShared is Read for a graph to be compared with base (a graph read
// before, from another document): an edge equal in every field to one of
// base's is base's Edge, not a copy, and so are strings, name lists and
// a node's lists equal to base's, so that two versions of one large graph
// take little more memory than one (Compare needs both). The result is
// the graph Read gives, edge for edge, and as strict; its edges must not
// be modified (neither may a Read graph's). base and what the document
// adds to it must stay within MaxDiffHeld (an error wrapping ErrTooLarge
// past it). base nil is Read.
func ReadShared(r io.Reader, name string, base *Graph) (*Graph, error) {
	return readShared(r, name, base, nil)
}

// ReadForCompare is ReadShared for Compare(base, g, opts) alone: an edge
// Compare would find unchanged is base's Edge even where its socket count
// differs (and its byte counts, when opts leaves them out), so that two
// merges of one fleet (the same dependencies, other counts) take little
// more memory than one. Such an edge has the key, processes, workloads,
// dialled addresses, host counts and seen_from of base's (and its byte
// counts, when compared), and its two nodes have the same kinds in both
// graphs, so that collapsing external nodes treats it alike. The
// document is read as strictly as by Read, and Compare(base, g, opts) is
// the diff of base and the document's graph; g itself is not that graph
// (its counts may be base's): compare it, do not render or write it.
func ReadForCompare(r io.Reader, name string, base *Graph, opts DiffOptions) (*Graph, error) {
	return readShared(r, name, base, &opts)
}

// readShared is ReadShared, or ReadForCompare with opts.
func readShared(r io.Reader, name string, base *Graph, opts *DiffOptions) (*Graph, error) {
	d := &docReader{br: bufio.NewReaderSize(r, 64<<10), name: name, line: 1, w: newWeigher()}
	if base != nil {
		d.base, d.baseGraph, d.compare = base.Edges, base, opts
	}
	if base != nil {
		d.held = newHeldBudget(base)
		d.w.parent = d.held.tables
	}
	g, err := d.graph()
	if err != nil {
		return nil, err
	}
	return g, nil
}

// graphMembers are the graph document's members, as encoding/json would
// match them (case-insensitively).
var graphMembers = []string{"schema", "generated_at", "by", "external", "snapshots", "windowed_snapshots", "nodes", "edges", "traffic"}

func (d *docReader) graph() (*Graph, error) {
	var g Graph
	c, err := d.nonSpace()
	switch {
	case err == io.EOF && d.off == 0:
		return nil, &snapshot.Error{Name: d.name, Offset: -1, Err: errors.New("empty file, expected a " + Schema + " document")}
	case err != nil:
		return nil, d.fail(err)
	case c != '{':
		return nil, d.syntax(fmt.Errorf("%w: the document is not a JSON object", snapshot.ErrSchema))
	}
	d.next()
	seen := map[string]bool{}
	schemaSeen := false
	for first := true; ; first = false {
		c, err := d.nonSpace()
		if err != nil {
			return nil, d.fail(err)
		}
		if c == '}' && first {
			d.next()
			break
		}
		keyOff, keyLine := d.off, d.line
		raw, err := d.value(nil, maxHeaderValue, "member name")
		if err != nil {
			return nil, err
		}
		var key string
		if raw[0] != '"' || json.Unmarshal(raw, &key) != nil {
			return nil, d.syntaxAt(keyOff, keyLine, errors.New("expected a member name"))
		}
		member := ""
		for _, m := range graphMembers {
			if strings.EqualFold(m, key) {
				member = m
			}
		}
		switch {
		case member == "" && !schemaSeen:
			return nil, d.syntaxAt(keyOff, keyLine, fmt.Errorf("%w: unknown member %q before a \"schema\" member", snapshot.ErrSchema, key))
		case member == "":
			return nil, d.syntaxAt(keyOff, keyLine, fmt.Errorf("json: unknown field %q", key))
		case seen[member]:
			return nil, d.syntaxAt(keyOff, keyLine, fmt.Errorf("%s: duplicate member (a name may appear once per object, whatever its case)", key))
		}
		seen[member] = true
		if c, err := d.nonSpace(); err != nil {
			return nil, d.fail(err)
		} else if c != ':' {
			return nil, d.syntax(fmt.Errorf("after member name %q: want ':'", key))
		}
		d.next()
		switch member {
		case "nodes":
			err = d.array(member, func(frag []byte, what string, off int64, line int) error {
				var n *Node
				if err := snapshot.DecodeFragment(frag, d.name, what, off, line, &n); err != nil {
					return err
				}
				if n == nil {
					return &snapshot.Error{Name: d.name, Offset: -1, Err: fmt.Errorf("%s: null", what)}
				}
				size, err := d.w.node(n)
				if err == nil {
					var held int64
					n, held = d.nodeHeld(n, size)
					err = d.hold(held)
				}
				if err != nil {
					return &snapshot.Error{Name: d.name, Offset: off, Line: line, Err: fmt.Errorf("%s: %w", what, err)}
				}
				g.Nodes = append(g.Nodes, n)
				return nil
			})
		case "edges":
			var (
				block      []Edge
				bytesBlock []EdgeBytes
			)
			if seen["nodes"] && d.compare != nil {
				// The nodes are all in: edges can be matched loosely
				// (see ReadForCompare), their nodes' kinds known.
				slices.SortFunc(g.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
				d.nodes = g.Nodes
			}
			streamed := d.stream != nil && d.stream.start(&g, seen["nodes"])
			err = d.array(member, func(frag []byte, what string, off int64, line int) error {
				var e *Edge
				if err := snapshot.DecodeFragment(frag, d.name, what, off, line, &e); err != nil {
					return err
				}
				if e == nil {
					return &snapshot.Error{Name: d.name, Offset: -1, Err: fmt.Errorf("%s: null", what)}
				}
				if b := e.Bytes(); b.BytesPerSecondToServer < 0 || b.BytesPerSecondToClient < 0 {
					return &snapshot.Error{Name: d.name, Offset: -1, Err: fmt.Errorf("%s: negative bytes per second", what)}
				}
				if e.EdgeBytes != nil && *e.EdgeBytes == (EdgeBytes{}) {
					e.EdgeBytes = nil // zeros written out: the same edge
				}
				size, err := d.w.edge(e, true)
				if err != nil {
					return &snapshot.Error{Name: d.name, Offset: off, Line: line, Err: fmt.Errorf("%s: %w", what, err)}
				}
				held := func(size int64) error {
					if err := d.hold(size); err != nil {
						return &snapshot.Error{Name: d.name, Offset: off, Line: line, Err: fmt.Errorf("%s: %w", what, err)}
					}
					return nil
				}
				if streamed {
					kept, err := d.stream.edge(&g, e, size)
					if err != nil {
						return &snapshot.Error{Name: d.name, Offset: off, Line: line, Err: fmt.Errorf("%s: %s: %w", what, e, err)}
					}
					return held(kept)
				}
				if s := d.shared(e); s != nil {
					g.Edges = append(g.Edges, s)
					return held(0)
				}
				if err := held(size); err != nil {
					return err
				}
				// Edges are kept in blocks, and so are their byte
				// counts: one allocation each costs more time and,
				// rounded up, more memory (EdgeBytes' 40 bytes take 48).
				if len(block) == cap(block) {
					block = make([]Edge, 0, 4096)
				}
				block = append(block, *e)
				kept := &block[len(block)-1]
				if e.EdgeBytes != nil {
					if len(bytesBlock) == cap(bytesBlock) {
						bytesBlock = make([]EdgeBytes, 0, 4096)
					}
					bytesBlock = append(bytesBlock, *e.EdgeBytes)
					kept.EdgeBytes = &bytesBlock[len(bytesBlock)-1]
				}
				g.Edges = append(g.Edges, kept)
				return nil
			})
		case "traffic":
			err = d.array(member, func(frag []byte, what string, off int64, line int) error {
				var t *Traffic
				if err := snapshot.DecodeFragment(frag, d.name, what, off, line, &t); err != nil {
					return err
				}
				if t == nil {
					return &snapshot.Error{Name: d.name, Offset: -1, Err: fmt.Errorf("%s: null", what)}
				}
				size, err := d.w.traffic(t)
				if err == nil {
					err = d.hold(size)
				}
				if err != nil {
					return &snapshot.Error{Name: d.name, Offset: off, Line: line, Err: fmt.Errorf("%s: %w", what, err)}
				}
				g.Traffic = append(g.Traffic, t)
				return nil
			})
		default:
			off, line := d.off, d.line
			var raw []byte
			if raw, err = d.value(nil, maxHeaderValue, member); err != nil {
				return nil, err
			}
			var dst any
			switch member {
			case "schema":
				dst = &g.Schema
			case "generated_at":
				dst = &g.GeneratedAt
			case "by":
				dst = &g.By
			case "external":
				dst = &g.External
			case "snapshots":
				dst = &g.Snapshots
			case "windowed_snapshots":
				dst = &g.WindowedSnapshots
			}
			err = snapshot.DecodeFragment(raw, d.name, member, off, line, dst)
			if err == nil && member == "schema" {
				schemaSeen = true
				if g.Schema != Schema {
					return nil, snapshot.SchemaMismatch(d.name, g.Schema, Schema)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		c, err = d.nonSpace()
		if err != nil {
			return nil, d.fail(err)
		}
		d.next()
		if c == '}' {
			break
		}
		if c != ',' {
			return nil, d.syntaxAt(d.off-1, d.line, fmt.Errorf("invalid character %q after object key:value pair", c))
		}
	}
	if _, err := d.nonSpace(); err == nil {
		return nil, d.syntax(errors.New("trailing data after the document"))
	} else if err != io.EOF {
		return nil, d.fail(err)
	}
	if d.off > maxSize {
		// Past the last element, in its closing brackets and white space.
		return nil, &snapshot.Error{Name: d.name, Offset: d.off, Line: d.line, Err: fmt.Errorf("%w: larger than %d bytes: %s", ErrTooLarge, maxSize, tooLargeHint)}
	}
	if !schemaSeen {
		return nil, &snapshot.Error{Name: d.name, Offset: -1, Err: fmt.Errorf("%w: no \"schema\" member", snapshot.ErrSchema)}
	}
	if d.stream != nil && d.stream.on {
		// The edges were compared as they came, checked one by one:
		// the first one refused is refused where Read would refuse it.
		return g.checkEdges(d.name, d.stream.err)
	}
	return g.check(d.name)
}

// check validates a decoded graph and puts it in its documented order.
func (g *Graph) check(name string) (*Graph, error) { return g.checkEdges(name, nil) }

// checkEdges is check of a graph whose edges were checked as they were
// read (ReadCompare) and are not in g: edgesErr is the first one's error,
// reported after the nodes' (nil: none).
func (g *Graph) checkEdges(name string, edgesErr error) (*Graph, error) {
	if g.By != ByHostgroup && g.By != ByHost && g.By != ByWorkload {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("by: %q is not %s, %s or %s", g.By, ByHostgroup, ByHost, ByWorkload)}
	}
	if _, err := ParseExternal(g.External); err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("external: %w", err)}
	}
	if g.WindowedSnapshots < 0 || g.WindowedSnapshots > g.Snapshots {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: fmt.Errorf("windowed_snapshots: %d is not between 0 and snapshots (%d)", g.WindowedSnapshots, g.Snapshots)}
	}
	if g.Snapshots < 0 {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: errors.New("snapshots: negative")}
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
	if err := g.indexChecked(edgesErr); err != nil {
		return nil, &snapshot.Error{Name: name, Offset: -1, Err: err}
	}
	return g, nil
}

func nilIfEmptyT(t []*Traffic) []*Traffic {
	if len(t) == 0 {
		return nil
	}
	return t
}

// docReader reads a JSON document from a stream one value at a time,
// keeping its byte offset and line for errors.
type docReader struct {
	br      *bufio.Reader
	name    string
	off     int64 // bytes consumed
	line    int   // 1-based line of off
	entries int   // array elements read so far
	// w interns repeated strings and name sets and weighs what is read.
	w *weigher
	// held, when the document is read to be compared with a graph held
	// beside it (ReadCompare, ReadForCompare), counts what the two take
	// together (see MaxDiffHeld); nil otherwise.
	held *heldBudget
	// base: the edges of the graph read before (ReadShared), in the
	// documented order; nextBase: where the last edge was found, plus one.
	base     []*Edge
	nextBase int
	// For ReadForCompare: the base graph, the comparison's options, and
	// the document's nodes sorted by ID once they are all read (nil
	// before: edges are then shared only when equal).
	baseGraph *Graph
	compare   *DiffOptions
	nodes     []*Node
	// stream, for ReadCompare, joins the edges with the old graph's as
	// they are read.
	stream *streamCompare
}

// shared returns base's edge equal to e in every field, or nil. Edges of
// a graph planet wrote come in order, so the edge after the last one
// found is tried before a binary search.
func (d *docReader) shared(e *Edge) *Edge {
	if len(d.base) == 0 {
		return nil
	}
	i := d.nextBase
	if i >= len(d.base) || compareEdges(d.base[i], e) != 0 {
		var found bool
		if i, found = slices.BinarySearchFunc(d.base, e, compareEdges); !found {
			return nil
		}
	}
	d.nextBase = i + 1
	b := d.base[i]
	if sameEdge(b, e) || d.nodes != nil && e.Sockets >= 0 && d.unchanged(b, e) {
		return b
	}
	return nil
}

// unchanged says whether Compare would find no change from base edge b to
// edge e of the same key (see ReadForCompare).
func (d *docReader) unchanged(b, e *Edge) bool {
	if b.SeenFrom != e.SeenFrom || b.ClientHosts != e.ClientHosts || b.ServerHosts != e.ServerHosts ||
		!sameNames(b, e) {
		return false
	}
	if x, y := b.Bytes(), e.Bytes(); d.compare.BytesChangePercent > 0 &&
		(x.PortBytesToServer != y.PortBytesToServer || x.PortBytesToClient != y.PortBytesToClient) {
		return false
	}
	return d.sameKind(e.From) && d.sameKind(e.To)
}

// sameKind says whether node id has one kind in the base graph and the
// document.
func (d *docReader) sameKind(id string) bool {
	i, ok := slices.BinarySearchFunc(d.nodes, id, func(n *Node, id string) int { return strings.Compare(n.ID, id) })
	b := d.baseGraph.Node(id)
	return ok && b != nil && b.Kind == d.nodes[i].Kind
}

// sameEdge says whether a and b, of the same key, are equal in every
// field (absent and empty lists, or counts, alike).
func sameEdge(a, b *Edge) bool {
	return a.SeenFrom == b.SeenFrom && a.ClientHosts == b.ClientHosts && a.ServerHosts == b.ServerHosts &&
		a.Sockets == b.Sockets && a.Bytes() == b.Bytes() && sameNames(a, b)
}

// sameNames says whether a and b have the same lists of names.
func sameNames(a, b *Edge) bool {
	x, y := a.Names(), b.Names()
	return slices.Equal(x.ClientProcesses, y.ClientProcesses) && slices.Equal(x.ServerProcesses, y.ServerProcesses) &&
		slices.Equal(x.ClientWorkloads, y.ClientWorkloads) && slices.Equal(x.ServerWorkloads, y.ServerWorkloads) &&
		slices.Equal(x.Dialled, y.Dialled)
}

// nonSpace skips white space and returns the next byte without consuming it.
func (d *docReader) nonSpace() (byte, error) {
	for {
		c, err := d.br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			d.off++
			if c == '\n' {
				d.line++
			}
			if d.off > maxSize {
				// White space without end from a pipe is refused
				// like any other text past the limit.
				return 0, &snapshot.Error{Name: d.name, Offset: d.off, Line: d.line, Err: fmt.Errorf("%w: larger than %d bytes: %s", ErrTooLarge, maxSize, tooLargeHint)}
			}
			continue
		}
		_ = d.br.UnreadByte()
		return c, nil
	}
}

// next consumes the byte nonSpace returned.
func (d *docReader) next() {
	_, _ = d.br.ReadByte()
	d.off++
}

// fail reports a read error; the end of the input is a truncated document.
func (d *docReader) fail(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return snapshot.Truncated(d.name, d.off, d.line)
	}
	var placed *snapshot.Error
	if errors.As(err, &placed) {
		return err // says where already
	}
	return &snapshot.Error{Name: d.name, Offset: -1, Err: err}
}

func (d *docReader) syntax(err error) error { return d.syntaxAt(d.off, d.line, err) }

func (d *docReader) syntaxAt(off int64, line int, err error) error {
	return &snapshot.Error{Name: d.name, Offset: off, Line: line, Err: err}
}

// value reads one JSON value's text (after white space) into buf, refusing
// more than limit bytes not counting white space between tokens (the
// same value, indented or not, has one size; see textSize), or more than
// maxSpaced times limit in all: an object or array to its matching end, a
// string to its closing quote, a literal or number to the next delimiter.
// Whether the text is valid JSON is the decoder's to say.
func (d *docReader) value(buf []byte, limit int, what string) ([]byte, error) {
	c, err := d.nonSpace()
	if err != nil {
		return nil, d.fail(err)
	}
	start, startLine := d.off, d.line
	tooLong := func() error {
		err := fmt.Errorf("%s: larger than %d bytes", what, limit)
		if limit >= MaxEntrySize {
			err = fmt.Errorf("%w: %s: larger than %d bytes: %s", ErrTooLarge, what, limit, tooLargeHint)
		}
		return d.syntaxAt(start, startLine, err)
	}
	depth, inString, escaped := 0, false, false
	size := 0 // bytes but white space between tokens
	for {
		b, err := d.br.ReadByte()
		if err != nil {
			if err == io.EOF && depth == 0 && !inString && len(buf) > 0 {
				return buf, nil // a number or literal at the end
			}
			return nil, d.fail(err)
		}
		if len(buf) == 0 {
			switch b {
			case '{', '[':
				depth = 1
			case '"':
				inString = true
			}
			buf = append(buf, b)
			d.off++
			if depth == 0 && !inString && !literal(c) {
				return nil, d.syntaxAt(start, startLine, fmt.Errorf("invalid character %q looking for beginning of value", b))
			}
			continue
		}
		if depth == 0 && !inString {
			// A literal or number ends at a delimiter, left unread.
			if !literal(b) {
				_ = d.br.UnreadByte()
				return buf, nil
			}
		}
		if !space(b) || inString {
			size++
		}
		if size >= limit || len(buf) >= maxSpaced*limit {
			return nil, tooLong()
		}
		buf = append(buf, b)
		d.off++
		if b == '\n' {
			d.line++
		}
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case inString && b == '"':
			inString = false
			if depth == 0 {
				return buf, nil
			}
		case inString:
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
		case b == '}' || b == ']':
			depth--
			if depth == 0 {
				return buf, nil
			}
		}
	}
}

// maxSpaced bounds the white space in a value: its text in all is at most
// this many times its limit (planet's indentation of a list of empty
// names, the worst case, takes 4 times: 12 bytes a name, 3 counted).
const maxSpaced = 5

// space says whether c is JSON white space.
func space(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// textSize is the size of a JSON value's text as value counts it: its
// bytes but the white space between tokens.
func textSize(text []byte) int {
	n, inString, escaped := 0, false, false
	for _, b := range text {
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		case !inString && space(b):
			continue
		}
		n++
	}
	return n
}

// literal says whether c may be part of a JSON number or literal.
func literal(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// array reads the array (or null) member named member, calling fn with each
// element's text, its name for errors ("edges[3]"), offset and line.
func (d *docReader) array(member string, fn func(frag []byte, what string, off int64, line int) error) error {
	c, err := d.nonSpace()
	if err != nil {
		return d.fail(err)
	}
	if c != '[' {
		off, line := d.off, d.line
		raw, err := d.value(nil, maxHeaderValue, member)
		if err != nil {
			return err
		}
		if string(raw) == "null" {
			return nil
		}
		return d.syntaxAt(off, line, fmt.Errorf("%s: want an array, not %.20s", member, raw))
	}
	d.next()
	var buf []byte
	for i := 0; ; i++ {
		c, err := d.nonSpace()
		if err != nil {
			return d.fail(err)
		}
		if c == ']' && i == 0 {
			d.next()
			return nil
		}
		what := member + "[" + strconv.Itoa(i) + "]"
		if d.entries++; d.entries > maxEntries {
			return &snapshot.Error{Name: d.name, Offset: d.off, Line: d.line, Err: fmt.Errorf("%w: more than %d nodes, edges and traffic pairs: %s", ErrTooLarge, maxEntries, tooLargeHint)}
		}
		if d.off > maxSize {
			return &snapshot.Error{Name: d.name, Offset: d.off, Line: d.line, Err: fmt.Errorf("%w: larger than %d bytes: %s", ErrTooLarge, maxSize, tooLargeHint)}
		}
		off, line := d.off, d.line
		if buf, err = d.value(buf[:0], MaxEntrySize, what); err != nil {
			return err
		}
		if err := fn(buf, what, off, line); err != nil {
			return err
		}
		if c, err = d.nonSpace(); err != nil {
			return d.fail(err)
		}
		d.next()
		switch c {
		case ']':
			return nil
		case ',':
		default:
			return d.syntaxAt(d.off-1, d.line, fmt.Errorf("invalid character %q after %s", c, what))
		}
	}
}

// Write encodes g as indented JSON followed by a newline, in the documented
// order, one element at a time (the bytes are those encoding/json gives
// the whole Graph with two-space indentation and no HTML escaping). Nodes
// and Edges are never null in the output. A graph render and diff would
// refuse is an error wrapping ErrTooLarge, and nothing is written: over
// MaxEntries, over MaxDecoded once read, or with an entry whose text
// passes MaxEntrySize (the last two name the element, "edges[12]"), or
// whose text passes MaxSize (a graph whose text may, by a bound from its
// strings' lengths, is written to nothing first to be measured: about
// twice the time of writing it). An edge whose bytes per
// second are negative, infinite or NaN (JSON has no infinite or NaN
// number; render and diff refuse a negative one) is an error naming it,
// and nothing is written.
func Write(w io.Writer, g *Graph) error {
	return writeGraph(w, g, len(g.Edges), func(i int) *Edge { return g.Edges[i] })
}

// writeGraph is Write with g's edges given by count and edge(i), in order.
func writeGraph(w io.Writer, g *Graph, nEdges int, edge func(i int) *Edge) error {
	if n := len(g.Nodes) + nEdges + len(g.Traffic); n > maxEntries {
		return fmt.Errorf("%w: %d nodes, edges and traffic pairs, more than %d: %s", ErrTooLarge, n, maxEntries, tooLargeHint)
	}
	if _, err := weigh(g, nEdges, edge, newWeigher()); err != nil {
		return err
	}
	if sizeBound(g, nEdges, edge) > maxSize {
		// It may pass MaxSize: written once to nothing first, so that
		// nothing is written when it does.
		if err := emit(io.Discard, g, nEdges, edge); err != nil {
			return err
		}
	}
	return emit(w, g, nEdges, edge)
}

// sizeBound bounds the text Write writes of g: the bound of each entry's
// text without white space (entryBound), plus the line breaks and
// indentation of each string (a name on a line of its own) and of the
// entry's members.
func sizeBound(g *Graph, nEdges int, edge func(i int) *Edge) int64 {
	const head, perString, perEntry = 1024, 10, 512
	n := int64(head)
	add := func(v any) {
		b, count := entryBound(v, false)
		n += int64(b + perString*count + perEntry)
	}
	for _, v := range g.Nodes {
		add(v)
	}
	for i := range nEdges {
		add(edge(i))
	}
	for _, v := range g.Traffic {
		add(v)
	}
	return n
}

// emit writes the text of g, checked (weigh) before: the bytes Write
// writes. It stops with an error wrapping ErrTooLarge as the text passes
// MaxSize.
func emit(w io.Writer, g *Graph, nEdges int, edge func(i int) *Edge) error {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	head := struct {
		Schema            string    `json:"schema"`
		GeneratedAt       time.Time `json:"generated_at"`
		By                string    `json:"by"`
		External          string    `json:"external"`
		Snapshots         int       `json:"snapshots"`
		WindowedSnapshots int       `json:"windowed_snapshots,omitempty"`
	}{Schema, g.GeneratedAt, g.By, g.External, g.Snapshots, g.WindowedSnapshots}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&head); err != nil {
		return err
	}
	bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n}\n")))
	x := newEntryEncoder()
	var werr error
	// tooLong refuses the text once it passes MaxSize: what went through
	// to w and what waits in bw.
	tooLong := func() error {
		if cw.n+int64(bw.Buffered()) > maxSize {
			return fmt.Errorf("%w: more than %d bytes: %s", ErrTooLarge, maxSize, tooLargeHint)
		}
		return nil
	}
	list := func(member string, n int, elem func(i int) any, omitEmpty bool) {
		if werr != nil || n == 0 && omitEmpty {
			return
		}
		bw.WriteString(",\n  \"" + member + "\": [")
		for i := range n {
			// weigh checked each entry's text against MaxEntrySize.
			text, err := x.encode(elem(i))
			if err != nil {
				werr = fmt.Errorf("%s[%d]: %w", member, i, err)
				return
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n    ")
			bw.Write(text)
			if werr = tooLong(); werr != nil {
				return
			}
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
	}
	list("nodes", len(g.Nodes), func(i int) any { return g.Nodes[i] }, false)
	list("edges", nEdges, func(i int) any { return edge(i) }, false)
	list("traffic", len(g.Traffic), func(i int) any { return g.Traffic[i] }, true)
	if werr != nil {
		return werr
	}
	bw.WriteString("\n}\n")
	if err := tooLong(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return cw.err
}

// weigh checks the graph writeGraph would write before it writes a byte,
// and returns its weight: with w, it weighs the graph as the reader will
// (a graph render and diff would refuse, over MaxDecoded, is not
// written), and it checks each entry's text against MaxEntrySize (see
// entryCheck) and each edge's bytes per second. Its errors name the
// element at fault, as the reader's do ("edges[12]: ...").
func weigh(g *Graph, nEdges int, edge func(i int) *Edge, w *weigher) (int64, error) {
	w.raw = true
	var x entryCheck
	// Each element is weighed first (its memory is then at hand), but
	// its text's size is reported first, as the reader reports it.
	for i, n := range g.Nodes {
		werr := w.weighNode(n)
		if err := x.check(n, "nodes", i); err != nil {
			return w.size, err
		}
		if werr != nil {
			return w.size, fmt.Errorf("nodes[%d]: %w", i, werr)
		}
	}
	for i := range nEdges {
		e := edge(i)
		werr := w.weighEdge(e)
		if err := x.check(e, "edges", i); err != nil {
			return w.size, err
		}
		if b := e.EdgeBytes; b != nil && !(b.BytesPerSecondToServer >= 0 && b.BytesPerSecondToClient >= 0 &&
			b.BytesPerSecondToServer <= math.MaxFloat64 && b.BytesPerSecondToClient <= math.MaxFloat64) {
			return w.size, fmt.Errorf("edges[%d]: %s: bytes per second to server %v, to client %v: negative, infinite or NaN (JSON has no infinite or NaN numbers; render and diff refuse negative ones)",
				i, e, b.BytesPerSecondToServer, b.BytesPerSecondToClient)
		}
		if werr != nil {
			return w.size, fmt.Errorf("edges[%d]: %w", i, werr)
		}
	}
	for i, t := range g.Traffic {
		werr := w.weighTraffic(t)
		if err := x.check(t, "traffic", i); err != nil {
			return w.size, err
		}
		if werr != nil {
			return w.size, fmt.Errorf("traffic[%d]: %w", i, werr)
		}
	}
	return w.size, nil
}

// entryCheck refuses an entry (node, edge or traffic pair) whose text, as
// Write writes it and the reader measures it (textSize), passes
// MaxEntrySize, without writing the text of most: an entry's text is at
// most entryBound of it, counted from its strings' lengths; only an entry
// whose bound passes MaxEntrySize, one with megabytes of names, is
// encoded to be measured (and encoded again when written).
type entryCheck struct {
	enc *entryEncoder
}

// check refuses v, the entry member[i], wrapping ErrTooLarge, when its
// text passes MaxEntrySize.
func (x *entryCheck) check(v any, member string, i int) error {
	if b, _ := entryBound(v, false); b <= MaxEntrySize {
		return nil
	}
	if b, _ := entryBound(v, true); b <= MaxEntrySize {
		return nil
	}
	if x.enc == nil {
		x.enc = newEntryEncoder()
	}
	text, err := x.enc.encode(v)
	if err != nil {
		return fmt.Errorf("%s[%d]: %w", member, i, err)
	}
	if textSize(text) > MaxEntrySize {
		return fmt.Errorf("%w: %s[%d]: larger than %d bytes: %s", ErrTooLarge, member, i, MaxEntrySize, tooLargeHint)
	}
	return nil
}

// entryOverhead bounds the text of an entry, as textSize counts it,
// beside its strings (each quoted and followed by a comma, see
// entryBound): its member names, punctuation, numbers and seen_from.
// An edge with every member, each number at its longest, takes 477 bytes
// (TestEntryBound checks under 500): the rest is margin.
const entryOverhead = 1024

// entryBound returns a bound of the text of v, a *Node, *Edge or *Traffic,
// as textSize counts it, and the number of its strings: entryOverhead beside its strings, each quoted and
// followed by a comma; with exact false, from their lengths alone, at 6
// bytes a byte (the longest escape: "\u0001", or "\ufffd" for a byte of
// invalid UTF-8); with exact true, as encoding/json escapes them (see
// quotedLen).
func entryBound(v any, exact bool) (bound, count int) {
	n := 0 // bytes of the strings
	list := func(l []string) {
		count += len(l)
		for _, s := range l {
			if exact {
				n += quotedLen(s)
			} else {
				n += len(s)
			}
		}
	}
	str := func(s string) { list([]string{s}) }
	switch v := v.(type) {
	case *Node:
		str(v.ID)
		str(string(v.Kind))
		list(v.Hosts)
		list(v.Domains)
		list(v.IncompleteHosts)
	case *Edge:
		str(v.From)
		str(v.To)
		str(v.Protocol)
		if l := v.EdgeNames; l != nil {
			list(l.ClientProcesses)
			list(l.ServerProcesses)
			list(l.ClientWorkloads)
			list(l.ServerWorkloads)
			list(l.Dialled)
		}
	case *Traffic:
		str(v.From)
		str(v.To)
	default:
		panic(fmt.Sprintf("graph: entryBound of a %T", v))
	}
	if exact {
		return entryOverhead + n + count, count
	}
	return entryOverhead + 6*n + 3*count, count
}

// quotedLen bounds the length of s as encoding/json writes it, quotes
// included, without HTML escaping: '"' and '\\' take 2 bytes; other
// control characters, U+2028, U+2029 and each byte of invalid UTF-8 (as
// \ufffd) 6, taken as 6 for those written in 2 (\n, \t...); the rest
// as they are.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

// entryEncoder writes the text of an entry (node, edge or traffic pair)
// as Write writes it: encoding/json's, two-space indentation from a
// four-space margin, no HTML escaping; an edge's by appendEdge where it
// can.
type entryEncoder struct {
	buf  bytes.Buffer
	enc  *json.Encoder
	text []byte
}

func newEntryEncoder() *entryEncoder {
	x := &entryEncoder{}
	x.enc = json.NewEncoder(&x.buf)
	x.enc.SetEscapeHTML(false)
	x.enc.SetIndent("    ", "  ")
	return x
}

// encode returns v's text, valid until the next call.
func (x *entryEncoder) encode(v any) ([]byte, error) {
	if e, isEdge := v.(*Edge); isEdge {
		var ok bool
		if x.text, ok = appendEdge(x.text[:0], e); ok {
			return x.text, nil
		}
	}
	x.buf.Reset()
	if err := x.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(x.buf.Bytes(), []byte("\n")), nil
}

// countingWriter counts the bytes written through it and keeps the first
// error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// appendEdge appends e's text as Write's encoding/json writes it (two-space
// indentation from a four-space margin, no HTML escaping), without
// reflection: a by-host graph has millions of edges, and encoding/json
// took most of the time of writing them. It does the common case only
// and says so: every string printable ASCII without '"' or '\\', and no
// bytes per second (floats); for any other edge it returns false, and
// encoding/json writes it.
func appendEdge(b []byte, e *Edge) ([]byte, bool) {
	names := e.Names()
	counts := e.Bytes()
	if counts.BytesPerSecondToServer != 0 || counts.BytesPerSecondToClient != 0 {
		return b, false
	}
	seen := e.SeenFrom.String()
	for _, s := range []string{e.From, e.To, e.Protocol, seen} {
		if !plainString(s) {
			return b, false
		}
	}
	lists := [...]struct {
		member string
		list   []string
	}{
		{"client_processes", names.ClientProcesses}, {"server_processes", names.ServerProcesses},
		{"client_workloads", names.ClientWorkloads}, {"server_workloads", names.ServerWorkloads},
		{"dialled", names.Dialled},
	}
	for _, l := range lists {
		for _, s := range l.list {
			if !plainString(s) {
				return b, false
			}
		}
	}
	const field = "\n      \""
	b = append(b, "{"+field+"from\": \""...)
	b = append(b, e.From...)
	b = append(b, "\","+field+"to\": \""...)
	b = append(b, e.To...)
	b = append(b, "\","+field+"protocol\": \""...)
	b = append(b, e.Protocol...)
	b = append(b, "\","+field+"port\": "...)
	b = strconv.AppendUint(b, uint64(e.Port), 10)
	b = append(b, ","+field+"seen_from\": \""...)
	b = append(b, seen...)
	b = append(b, '"', ',')
	for _, l := range lists {
		if len(l.list) == 0 {
			continue
		}
		b = append(b, field...)
		b = append(b, l.member...)
		b = append(b, "\": ["...)
		for i, s := range l.list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n        \""...)
			b = append(b, s...)
			b = append(b, '"')
		}
		b = append(b, "\n      ],"...)
	}
	b = append(b, field+"client_hosts\": "...)
	b = strconv.AppendInt(b, int64(e.ClientHosts), 10)
	b = append(b, ","+field+"server_hosts\": "...)
	b = strconv.AppendInt(b, int64(e.ServerHosts), 10)
	b = append(b, ","+field+"sockets\": "...)
	b = strconv.AppendInt(b, int64(e.Sockets), 10)
	if counts.PortBytesToServer != 0 {
		b = append(b, ","+field+"port_bytes_to_server\": "...)
		b = strconv.AppendUint(b, counts.PortBytesToServer, 10)
	}
	if counts.PortBytesToClient != 0 {
		b = append(b, ","+field+"port_bytes_to_client\": "...)
		b = strconv.AppendUint(b, counts.PortBytesToClient, 10)
	}
	if counts.Windowed {
		b = append(b, ","+field+"windowed\": true"...)
	}
	b = append(b, "\n    }"...)
	return b, true
}

// plainString says whether encoding/json writes s as it is, between
// quotes: printable ASCII without '"' and '\\' (HTML not escaped).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
