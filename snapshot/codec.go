package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// MaxSize bounds one snapshot document. A real host's snapshot is a few
// hundred kilobytes (a load balancer with 100,000 client IPs, ~25 MB);
// anything near this is not a snapshot. Decoded, a snapshot of small
// records takes up to ten times its text, and render and merge must stay
// under 512 MiB.
const MaxSize = 32 << 20

// MaxAddresses bounds a host's address list: a real host has a handful,
// a busy load balancer thousands; millions are not a host.
const MaxAddresses = 1 << 16

// maxSize is MaxSize, lowered by tests.
var maxSize = MaxSize

// Error is a problem with one document: which input, where in it, and why.
type Error struct {
	Name   string // file name, "-" for standard input
	Offset int64  // byte offset of the problem, -1 when unknown
	Line   int    // 1-based line of Offset, 0 when unknown
	Err    error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d (byte %d): %v", e.Name, e.Line, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrSchema is wrapped by errors about a missing or unknown schema.
var ErrSchema = errors.New("unsupported schema")

// SniffSchema returns the "schema" member of a JSON document without decoding
// the rest, so a caller can pick the right reader (snapshot or graph). planet
// writes "schema" first, so this reads a few bytes of a well-formed file.
func SniffSchema(doc []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return "", fmt.Errorf("%w: the document is not a JSON object", ErrSchema)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", err
		}
		if key == "schema" {
			var schema string
			if err := dec.Decode(&schema); err != nil {
				return "", err
			}
			return schema, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("%w: no \"schema\" member", ErrSchema)
}

// Parse strictly decodes one snapshot document. name is used in errors.
// A document as planet writes it is decoded by a decoder of this schema
// (fast.go); any other, and every error, by DecodeStrict.
func Parse(doc []byte, name string) (*Snapshot, error) {
	var d *Decoder
	return d.Parse(doc, name)
}

// parseStrict is Parse with DecodeStrict only.
func parseStrict(doc []byte, name string) (*Snapshot, error) {
	var s Snapshot
	want := Schema
	if got, err := SniffSchema(doc); err == nil && got == SchemaV1 {
		want = SchemaV1
	}
	if err := DecodeStrict(doc, name, want, &s); err != nil {
		return nil, err
	}
	if s.Schema != want {
		return nil, SchemaMismatch(name, s.Schema, want)
	}
	if err := s.Validate(); err != nil {
		return nil, &Error{Name: name, Offset: -1, Err: err}
	}
	return &s, nil
}

// DecodeStrict decodes doc, a planet document of the given schema, into v
// (the caller checks v's own schema member after: a second "schema" member
// further on would have overwritten the first): an empty document,
// another schema, unknown fields, a member named twice in one object (names
// compared the way encoding/json matches them), an object of more than
// MaxMembers members (refused before decoding) and trailing data are *Error
// values naming name, with the byte offset and line where decoding broke.
func DecodeStrict(doc []byte, name, schema string, v any) error {
	if len(bytes.TrimSpace(doc)) == 0 {
		return &Error{Name: name, Offset: -1, Err: errors.New("empty file, expected a " + schema + " document")}
	}
	got, err := SniffSchema(doc)
	if err != nil {
		return positioned(name, doc, err)
	}
	if got != schema {
		return SchemaMismatch(name, got, schema)
	}
	dup, crowded := scanMembers(doc)
	if crowded != nil {
		return positioned(name, doc, crowded)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(doc), strictOptions)
	if err := jsonv2.UnmarshalDecode(dec, v, strictOptions); err != nil {
		return positioned(name, doc, fromV2(err))
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(doc[off:])) != 0 {
		return positioned(name, doc, &trailingError{off + int64(len(doc[off:])-len(bytes.TrimLeft(doc[off:], " \t\r\n")))})
	}
	if dup != nil {
		return positioned(name, doc, dup)
	}
	return nil
}

// strictOptions make github.com/go-json-experiment/json (the
// encoding/json/v2 design; about twice as fast as encoding/json on
// snapshots, docs/performance.md) decode as DecodeStrict promises, with
// encoding/json's meaning otherwise: member names matched ignoring case
// only (strings.EqualFold: "host_name" and "host-name" are not "hostname"),
// invalid UTF-8 replaced. Names given twice are let through here:
// scanMembers reports them first, with encoding/json's rules for which
// names are the same.
var strictOptions = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// fromV2 words a decoding error of go-json-experiment/json as DecodeStrict's
// errors are worded (an unknown field is `unknown field "name"`, a
// document that ends early io.ErrUnexpectedEOF), keeping its byte offset
// and the path of the value at fault (/connections/0/sockets).
func fromV2(err error) error {
	var sem *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &syn):
		if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
			return io.ErrUnexpectedEOF
		}
		return &v2Error{offset: syn.ByteOffset, path: string(syn.JSONPointer), err: syn.Err}
	case errors.As(err, &sem):
		if errors.Is(sem.Err, io.ErrUnexpectedEOF) {
			return io.ErrUnexpectedEOF
		}
		if errors.Is(sem.Err, jsonv2.ErrUnknownName) {
			return &v2Error{offset: sem.ByteOffset, err: fmt.Errorf("unknown field %q in %s", sem.JSONPointer.LastToken(), cmpOr(string(sem.JSONPointer.Parent()), "the document"))}
		}
		what := "a JSON " + sem.JSONKind.String()
		if len(sem.JSONValue) > 0 {
			what = string(sem.JSONValue)
		}
		msg := "cannot decode " + what
		if sem.GoType != nil {
			msg += " into Go " + sem.GoType.String()
		}
		if sem.Err != nil {
			msg += ": " + sem.Err.Error()
		}
		return &v2Error{offset: sem.ByteOffset, path: string(sem.JSONPointer), err: errors.New(msg)}
	}
	return err
}

// v2Error is a decoding error at a byte offset, in the value at path.
type v2Error struct {
	offset int64
	path   string
	err    error
}

func (e *v2Error) Error() string {
	if e.path == "" {
		return e.err.Error()
	}
	return e.path + ": " + e.err.Error()
}

func (e *v2Error) Unwrap() error { return e.err }

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SchemaMismatch is the error for a document whose decoded "schema" member
// is not the one DecodeStrict sniffed (a second member further on).
func SchemaMismatch(name, got, want string) error {
	return &Error{Name: name, Offset: -1, Err: fmt.Errorf("%w %q (this planet reads %s)", ErrSchema, got, want)}
}

// Read reads one snapshot from r, refusing more than MaxSize bytes.
func Read(r io.Reader, name string) (*Snapshot, error) {
	var d Decoder
	return d.Read(r, 0, name)
}

// ReadStream reads snapshots written back to back (as concatenated JSON or
// one per line) until EOF; fn is called for each. An error stops the stream:
// the rest of a broken stream cannot be trusted.
func ReadStream(r io.Reader, name string, fn func(*Snapshot) error) error {
	return ReadStreamDocs(r, name, func(_ []byte, s *Snapshot) error { return fn(s) })
}

// ReadStreamDocs is ReadStream that also hands fn each document's bytes
// (valid only during the call), for a caller that keeps some documents
// elsewhere than in memory (merge spills them to a temporary file).
func ReadStreamDocs(r io.Reader, name string, fn func(doc []byte, s *Snapshot) error) error {
	br := bufio.NewReader(r)
	var offset int64
	for i := 1; ; i++ {
		doc, err := nextDocument(br)
		if len(bytes.TrimSpace(doc)) == 0 && err == io.EOF {
			if i == 1 {
				return &Error{Name: name, Offset: -1, Err: errors.New("no snapshot in input")}
			}
			return nil
		}
		docName := fmt.Sprintf("%s (document %d, from byte %d)", name, i, offset)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return &Error{Name: docName, Offset: offset + int64(len(doc)), Err: err}
		}
		// A document cut short (io.ErrUnexpectedEOF) fails to parse, and
		// Parse says where.
		s, perr := Parse(doc, docName)
		if perr != nil {
			return perr
		}
		if err := fn(doc, s); err != nil {
			return err
		}
		offset += int64(len(doc))
		if err == io.EOF {
			return nil
		}
	}
}

// nextDocument returns the bytes of the next top-level JSON value (with any
// whitespace before it), without decoding it, by tracking nesting and strings.
func nextDocument(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	depth, inString, escaped, started := 0, false, false, false
	for {
		c, err := br.ReadByte()
		if err != nil {
			if err == io.EOF && started {
				return buf, io.ErrUnexpectedEOF
			}
			return buf, err
		}
		buf = append(buf, c)
		if len(buf) > maxSize {
			return buf, fmt.Errorf("document larger than %d bytes", maxSize)
		}
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			started = true
		case c == '}' || c == ']':
			depth--
			if depth <= 0 {
				return buf, nil
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			if !started {
				return buf, fmt.Errorf("unexpected %q at the start of a document", c)
			}
		}
	}
}

type trailingError struct{ offset int64 }

func (e *trailingError) Error() string { return "trailing data after the document" }

// DecodeFragment strictly decodes frag, one JSON value read out of a larger
// document at byte offset base (on 1-based line baseLine), into v: unknown
// fields, a member named twice in one object, an object of more than
// MaxMembers members and trailing data are *Error values naming name, with
// the offset and line in the whole document; what names the value in
// messages ("edges[12]"). Streaming readers (graph.Read) decode each element
// this way, so a document's elements need not be in memory together.
func DecodeFragment(frag []byte, name, what string, base int64, baseLine int, v any) error {
	wrap := func(err error) error {
		e, ok := positioned(name, frag, err).(*Error)
		if !ok {
			return err
		}
		e.Err = fmt.Errorf("%s: %w", what, e.Err)
		if e.Offset >= 0 {
			e.Line += baseLine - 1
			e.Offset += base
		} else {
			// No position inside the value (an unknown field): where the
			// value starts.
			e.Offset, e.Line = base, baseLine
		}
		return e
	}
	dup, crowded := scanMembers(frag)
	if crowded != nil {
		return wrap(crowded)
	}
	dec := json.NewDecoder(bytes.NewReader(frag))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return wrap(err)
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(frag[off:])) != 0 {
		return wrap(&trailingError{off + int64(len(frag[off:])-len(bytes.TrimLeft(frag[off:], " \t\r\n")))})
	}
	if dup != nil {
		return wrap(dup)
	}
	return nil
}

// Truncated is the error for a document that ends at byte offset off (on
// line line) before its last value does.
func Truncated(name string, off int64, line int) error {
	return &Error{Name: name, Offset: off, Line: line, Err: fmt.Errorf("truncated document: %w", io.ErrUnexpectedEOF)}
}

// positioned turns a decoding error into an Error with a byte offset and line.
func positioned(name string, doc []byte, err error) error {
	off := int64(-1)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tr *trailingError
	var mem *memberError
	var v2 *v2Error
	switch {
	case errors.As(err, &v2):
		off = v2.offset
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	case errors.As(err, &tr):
		off = tr.offset
	case errors.As(err, &mem):
		off = mem.offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = int64(len(doc))
		err = fmt.Errorf("truncated document: %w", err)
	}
	if off < 0 {
		return &Error{Name: name, Offset: -1, Err: err}
	}
	if off > int64(len(doc)) {
		off = int64(len(doc))
	}
	line := 1 + bytes.Count(doc[:off], []byte{'\n'})
	return &Error{Name: name, Offset: off, Line: line, Err: err}
}

// Write encodes s as indented JSON followed by a newline.
func Write(w io.Writer, s *Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(s)
}

// Validate checks what the JSON decoder cannot: values that make no sense,
// and v2 members in a v1 document. Counts (sockets, states,
// unowned_sockets) must not be negative, a host has at most MaxAddresses
// addresses, and every netns and workload a record names is described.
func (s *Snapshot) Validate() error {
	if s.ScannedAt.IsZero() {
		return errors.New("scanned_at: missing")
	}
	for i, a := range s.Host.LinkLocal {
		if !a.Is6() || a.Is4In6() || !a.IsLinkLocalUnicast() {
			return fmt.Errorf("host.link_local[%d]: %s is not an IPv6 link-local address", i, a)
		}
	}
	if n := len(s.Host.Addresses); n > MaxAddresses {
		return fmt.Errorf("host.addresses: %d addresses, more than %d", n, MaxAddresses)
	}
	if n := len(s.Host.LinkLocal); n > MaxAddresses {
		return fmt.Errorf("host.link_local: %d addresses, more than %d", n, MaxAddresses)
	}
	if s.UnownedSockets < 0 {
		return fmt.Errorf("unowned_sockets: negative (%d)", s.UnownedSockets)
	}
	if err := s.validateV2(); err != nil {
		return err
	}
	for i, c := range s.Connections {
		if c.Direction != Upstream && c.Direction != Downstream {
			return fmt.Errorf("connections[%d].direction: %q is neither upstream nor downstream", i, c.Direction)
		}
		if !c.RemoteIP.IsValid() {
			return fmt.Errorf("connections[%d].remote_ip: missing", i)
		}
		if c.Protocol == "" {
			return fmt.Errorf("connections[%d].protocol: missing", i)
		}
		if c.Sockets < 0 {
			return fmt.Errorf("connections[%d].sockets: negative (%d)", i, c.Sockets)
		}
		for _, n := range c.States {
			if n < 0 {
				// The first negative state by name.
				for _, state := range slices.Sorted(maps.Keys(c.States)) {
					if n := c.States[state]; n < 0 {
						return fmt.Errorf("connections[%d].states.%s: negative (%d)", i, state, n)
					}
				}
			}
		}
		if c.Flows < 0 || c.EndedFlows < 0 || c.EndedFlows > c.Flows {
			return fmt.Errorf("connections[%d].flows, ended_flows: %d, %d: want 0 <= ended_flows <= flows", i, c.Flows, c.EndedFlows)
		}
		if c.Window != nil {
			if s.Window == nil {
				return fmt.Errorf("connections[%d].window: the snapshot has no window", i)
			}
			if err := c.Window.validate(); err != nil {
				return fmt.Errorf("connections[%d].window.%w", i, err)
			}
		}
	}
	for i, src := range s.Sources {
		if src.Skipped < 0 {
			return fmt.Errorf("sources[%d].skipped: negative", i)
		}
	}
	if s.Window != nil {
		if err := s.Window.validate(); err != nil {
			return err
		}
	}
	for i, l := range s.Listeners {
		if l.Protocol == "" {
			return fmt.Errorf("listeners[%d].protocol: missing", i)
		}
		if !l.Address.IsValid() {
			return fmt.Errorf("listeners[%d].address: missing", i)
		}
		if l.Sockets < 0 {
			return fmt.Errorf("listeners[%d].sockets: negative (%d)", i, l.Sockets)
		}
	}
	if s.Traffic != nil {
		for i, p := range s.Traffic.Peers {
			if !p.RemoteIP.IsValid() {
				return fmt.Errorf("traffic.peers[%d].remote_ip: missing", i)
			}
		}
	}
	return nil
}

// memberError is a member named twice in one object (encoding/json keeps
// the last one silently, and matches names case-insensitively, so a second
// "host" could claim another host behind the first one's back), or one
// member too many.
type memberError struct {
	offset int64
	path   string
	msg    string
}

func (e *memberError) Error() string { return e.path + ": " + e.msg }

// MaxMembers bounds the members of any one object in a planet document:
// planet's own objects have twenty at most (a v2 connection with its
// conntrack, namespace and workload fields; a connection's states are TCP's
// eleven or twelve), and a decoded map costs five times its text.
const MaxMembers = 32

// scanMembers walks doc, checking its objects' member names without
// decoding anything. It returns the first member whose name (unescaped, and
// compared the way encoding/json matches field names) already appeared in
// the same object, and the first object with more than MaxMembers members,
// or nil. It allocates only for names that need unescaping: it runs on
// every document read. On a malformed document it stops and the decoder
// reports the problem.
func scanMembers(doc []byte) (dup, crowded *memberError) {
	type frame struct {
		object bool
		first  int // this object's names start at names[first]
		index  int // element being read, in an array
	}
	var (
		stack     []frame
		names     [][]byte // names of the open objects' members
		expectKey bool
	)
	path := func(last string) string {
		var b strings.Builder
		for d, f := range stack {
			switch {
			case !f.object:
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			case b.Len() > 0:
				b.WriteByte('.')
			}
			if d == len(stack)-1 {
				b.WriteString(last)
			} else if i := stack[d+1].first - 1; i >= 0 {
				// (A malformed object may hold a value with no name
				// before it: the decoder reports that.)
				b.Write(names[i])
			}
		}
		return b.String()
	}
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '{':
			stack = append(stack, frame{object: true, first: len(names)})
			expectKey = true
		case '[':
			stack = append(stack, frame{first: len(names)})
			expectKey = false
		case '}', ']':
			if len(stack) == 0 {
				return dup, crowded
			}
			names = names[:stack[len(stack)-1].first]
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			if len(stack) == 0 {
				return dup, crowded
			}
			if top := &stack[len(stack)-1]; top.object {
				expectKey = true
			} else {
				top.index++
			}
		case '"':
			start, escaped := i, false
			for i++; i < len(doc) && doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					escaped = true
					i++ // skip the escaped byte
				}
			}
			if i >= len(doc) {
				return dup, crowded
			}
			if !expectKey || len(stack) == 0 {
				continue
			}
			expectKey = false
			name := doc[start+1 : i]
			if escaped {
				name = []byte(unquote(doc[start : i+1]))
			}
			top := stack[len(stack)-1]
			if len(names)-top.first >= MaxMembers {
				return dup, &memberError{offset: int64(start), path: path(unquote(doc[start : i+1])),
					msg: fmt.Sprintf("more than %d members in one object", MaxMembers)}
			}
			if dup == nil {
				for _, seen := range names[top.first:] {
					// encoding/json matches names under simple Unicode
					// case folding, as bytes.EqualFold compares.
					if bytes.EqualFold(seen, name) {
						dup = &memberError{offset: int64(start), path: path(unquote(doc[start : i+1])),
							msg: "duplicate member (a name may appear once per object, whatever its case)"}
						break
					}
				}
			}
			names = append(names, name)
		}
	}
	return dup, crowded
}

func unquote(raw []byte) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return string(raw) // cannot happen in a valid document
	}
	return s
}

// validateV2 checks the namespaces and workloads: a v1 document has none,
// and every netns and workload a record names is described.
func (s *Snapshot) validateV2() error {
	if s.Schema == SchemaV1 {
		if len(s.Namespaces) > 0 || len(s.Workloads) > 0 {
			return errors.New("namespaces/workloads: not members of " + SchemaV1)
		}
		for i, c := range s.Connections {
			if c.Netns != 0 || c.Workload != "" {
				return fmt.Errorf("connections[%d]: netns/workload are not members of %s", i, SchemaV1)
			}
		}
		for i, l := range s.Listeners {
			if l.Netns != 0 || l.Workload != "" {
				return fmt.Errorf("listeners[%d]: netns/workload are not members of %s", i, SchemaV1)
			}
		}
		return nil
	}
	nss := make(map[uint64]bool, len(s.Namespaces))
	for i, ns := range s.Namespaces {
		if ns.Inode == 0 {
			return fmt.Errorf("namespaces[%d].inode: missing", i)
		}
		if nss[ns.Inode] {
			return fmt.Errorf("namespaces[%d].inode: %d listed twice", i, ns.Inode)
		}
		nss[ns.Inode] = true
	}
	wls := make(map[string]bool, len(s.Workloads))
	for i, w := range s.Workloads {
		if w.Name == "" {
			return fmt.Errorf("workloads[%d].name: missing", i)
		}
		if wls[w.Name] {
			return fmt.Errorf("workloads[%d].name: %q listed twice", i, w.Name)
		}
		wls[w.Name] = true
	}
	check := func(what string, i int, netns uint64, wl string) error {
		if netns != 0 && !nss[netns] {
			return fmt.Errorf("%s[%d].netns: %d is not in namespaces", what, i, netns)
		}
		if wl != "" && !wls[wl] {
			return fmt.Errorf("%s[%d].workload: %q is not in workloads", what, i, wl)
		}
		return nil
	}
	for i, c := range s.Connections {
		if err := check("connections", i, c.Netns, c.Workload); err != nil {
			return err
		}
	}
	for i, l := range s.Listeners {
		if err := check("listeners", i, l.Netns, l.Workload); err != nil {
			return err
		}
	}
	return nil
}
