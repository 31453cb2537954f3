package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The fast path: a decoder of snapshots exactly as planet writes them
// (member names spelled as in the struct tags, each once, integers without
// fraction or exponent, valid UTF-8), written for this one schema over the
// document's bytes. It takes no decision of its own: whatever it does not
// recognise (an unknown or look-alike member, a name given twice, a null
// where a value belongs, a malformed document) makes it give up, and
// DecodeStrict decodes the document again and has the last word, value
// or error. FuzzFastDecode checks that Parse and DecodeStrict agree on
// every input: the same snapshot, or the same error. BenchmarkDecode
// compares their speed (docs/performance.md).

// maxInterned bounds the strings and addresses a Decoder keeps to share
// between documents; when full it starts over.
const maxInterned = 1 << 14

// maxInternLen is the longest string shared between documents: names of
// processes, groups, domains and states, not commands or warnings.
const maxInternLen = 64

// Decoder reads snapshots one after another, sharing the strings and
// addresses they repeat (process names, hostgroups, peers) between them
// and reusing its read buffer (and the connection lists Recycle gives
// back). The snapshots it returns share nothing with it that changes. A
// Decoder is not safe for concurrent use; the zero value is ready.
type Decoder struct {
	strs  map[string]string
	addrs map[string]netip.Addr
	buf   []byte
	// The lengths of the last lists decoded, for the capacity of the next.
	conns, listeners, peers int
	// spare is a connection list given back by Recycle, cleared.
	spare []Connection
	// DropStates leaves every connection's States nil: the counts are
	// read and checked as always (a document Parse refuses is refused with
	// the same error), but not kept. A caller that never reads them (a
	// merge) saves a map per connection.
	DropStates bool
}

// Recycle gives s back to d once the caller is done with it: the next
// snapshot d decodes reuses the memory of s's connection list (the
// largest), which is cleared and taken from s. The caller must keep
// nothing that points into s.Connections; what the records point to
// (their strings, states, windows) is not reused and may be kept.
func (d *Decoder) Recycle(s *Snapshot) {
	c := s.Connections
	s.Connections = nil
	if cap(c) == 0 || cap(c) > maxKeptList {
		return
	}
	c = c[:cap(c)]
	clear(c)
	d.spare = c[:0]
}

// maxKeptBuffer is the largest read buffer a Decoder keeps between reads,
// and maxKeptList the largest capacity it gives a list at once.
const (
	maxKeptBuffer = 1 << 20
	maxKeptList   = 4096
)

// Parse is the package's Parse, sharing d's strings; d may be nil.
func (d *Decoder) Parse(doc []byte, name string) (*Snapshot, error) {
	s := new(Snapshot)
	if decodeFast(doc, s, d) {
		if err := s.Validate(); err != nil {
			return nil, &Error{Name: name, Offset: -1, Err: err}
		}
		return s, nil
	}
	s, err := parseStrict(doc, name)
	if err == nil && d != nil && d.DropStates {
		for i := range s.Connections {
			s.Connections[i].States = nil
		}
	}
	return s, err
}

// Read is the package's Read (at most MaxSize bytes, read in full, then
// Parse), reusing d's buffer. size, when positive, is how many bytes r
// holds, to size the buffer at once.
func (d *Decoder) Read(r io.Reader, size int64, name string) (*Snapshot, error) {
	r = io.LimitReader(r, int64(maxSize)+1)
	buf := d.buf[:0]
	if size > 0 && int64(cap(buf)) < min(size, int64(maxSize))+1 {
		buf = make([]byte, 0, min(size, int64(maxSize))+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxSize {
			return nil, &Error{Name: name, Offset: -1, Err: fmt.Errorf("larger than %d bytes", maxSize)}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &Error{Name: name, Offset: -1, Err: err}
		}
	}
	if cap(buf) <= maxKeptBuffer {
		d.buf = buf[:0]
	} else {
		d.buf = nil
	}
	return d.Parse(buf, name)
}

// str returns b as a string, the same string as last time for a short one.
func (d *Decoder) str(b []byte) string {
	if len(b) > maxInternLen || d == nil {
		return string(b)
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if d.strs == nil || len(d.strs) >= maxInterned {
		d.strs = make(map[string]string, 256)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// addr parses b as netip.Addr.UnmarshalText does ("" is the zero Addr).
func (d *Decoder) addr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, true
	}
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	if d != nil {
		if a, ok := d.addrs[string(b)]; ok {
			return a, true
		}
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, false
	}
	if d != nil {
		if d.addrs == nil || len(d.addrs) >= maxInterned {
			d.addrs = make(map[string]netip.Addr, 256)
		}
		d.addrs[string(b)] = a
	}
	return a, true
}

// parseIPv4 parses b as dotted-decimal IPv4 the way netip.ParseAddr does
// (four fields of 0 to 255, no leading zero), and reports whether it
// could: anything else, netip.ParseAddr's errors included, is for
// ParseAddr to decide. It spares the lookup (an IPv4 Addr has nothing to
// share) and the string ParseAddr takes.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var out [4]byte
	field, i := 0, 0
	for ; field < 4; field++ {
		start, v := i, 0
		for i < len(b) && i-start < 3 && b[i] >= '0' && b[i] <= '9' {
			v = v*10 + int(b[i]-'0')
			i++
		}
		if n := i - start; n == 0 || v > 255 || n > 1 && b[start] == '0' {
			return netip.Addr{}, false
		}
		out[field] = byte(v)
		if field < 3 {
			if i == len(b) || b[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(out), true
}

// fastDec is the state of one fast decoding: doc, the read position, and
// whether it gave up (then i is len(b), so that every read after fails).
type fastDec struct {
	b   []byte
	i   int
	d   *Decoder
	bad bool
	// last holds the last value of the record members that mostly repeat
	// the record before's (see repeated).
	last [lastSlots]string
}

// The members of a connection record whose value repeat keeps (fastDec.last).
const (
	lastDirection = iota
	lastProtocol
	lastProcess
	lastHostgroup
	lastWorkload
	lastSlots
)

// decodeFast decodes doc into s, a zero Snapshot, if doc is a snapshot as
// planet writes it, and reports whether it did; s is garbage otherwise.
// d, which may be nil, shares strings between documents.
func decodeFast(doc []byte, s *Snapshot, d *Decoder) bool {
	p := &fastDec{b: doc, d: d}
	p.snapshot(s)
	p.ws()
	return !p.bad && p.i == len(p.b) && IsSchema(s.Schema)
}

func (p *fastDec) fail() {
	p.bad = true
	p.i = len(p.b)
}

func (p *fastDec) ws() {
	b, i := p.b, p.i // in registers, not through p
	for i < len(b) {
		switch b[i] {
		case ' ':
			// planet's indentation: runs of spaces, eight bytes at a time.
			for i+8 <= len(b) {
				d := binary.LittleEndian.Uint64(b[i:]) ^ 0x2020202020202020
				if d != 0 {
					i += bits.TrailingZeros64(d) / 8
					break
				}
				i += 8
			}
			for i < len(b) && b[i] == ' ' {
				i++
			}
		case '\t', '\n', '\r':
			i++
		default:
			p.i = i
			return
		}
	}
	p.i = i
}

// next skips whitespace and returns the next byte, 0 at the end.
func (p *fastDec) next() byte {
	if p.i < len(p.b) && p.b[p.i] > ' ' {
		return p.b[p.i]
	}
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// lit consumes the literal word (true, false, null) if it is next.
func (p *fastDec) lit(word string) bool {
	if p.next() == word[0] && bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		p.i += len(word)
		return true
	}
	return false
}

// open consumes c, '{' or '['; it reports false (having given up) when
// something else is next.
func (p *fastDec) open(c byte) bool {
	if p.next() != c {
		p.fail()
		return false
	}
	p.i++
	return true
}

// member returns the name of an object's next member, after its colon;
// first says whether it is the first (no comma before it). It reports
// false at the closing brace, or having given up.
func (p *fastDec) member(first bool) ([]byte, bool) {
	c := p.next()
	if c == '}' {
		p.i++
		return nil, false
	}
	if !first {
		if c != ',' {
			p.fail()
			return nil, false
		}
		p.i++
		p.ws()
	}
	name, escaped := p.rawString()
	if escaped || p.next() != ':' {
		// An escaped name is not as planet writes it.
		p.fail()
		return nil, false
	}
	p.i++
	if p.i+1 < len(p.b) && p.b[p.i] == ' ' && p.b[p.i+1] > ' ' {
		p.i++ // planet's one space after the colon
	}
	return name, !p.bad
}

// element reports whether an array has another element, consuming the
// comma before it or the closing bracket.
func (p *fastDec) element(first bool) bool {
	c := p.next()
	switch {
	case c == ']':
		p.i++
		return false
	case first:
		return !p.bad
	case c == ',':
		p.i++
		return true
	}
	p.fail()
	return false
}

// object decodes an object member by member: fn decodes the value of the
// member called name, checking with once (on seen, the object's mask) that
// no member is given twice. A member fn does not know makes it fail.
func (p *fastDec) object(fn func(name []byte, seen *uint64)) {
	if !p.open('{') {
		return
	}
	var seen uint64
	for first := true; ; first = false {
		name, ok := p.member(first)
		if !ok {
			return
		}
		fn(name, &seen)
	}
}

// once marks member bit of an object seen, giving up when it was already.
func (p *fastDec) once(seen *uint64, bit uint) {
	if *seen&(1<<bit) != 0 {
		p.fail()
	}
	*seen |= 1 << bit
}

// rawString consumes a string and returns its bytes between the quotes,
// and whether they hold escapes. It gives up on a control character,
// invalid UTF-8 or a string that does not end.
func (p *fastDec) rawString() (raw []byte, escaped bool) {
	if p.next() != '"' {
		p.fail()
		return nil, false
	}
	start := p.i + 1
	ascii := true
	j := start
	for j < len(p.b) {
		for j+8 <= len(p.b) {
			if m := special(binary.LittleEndian.Uint64(p.b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		for j < len(p.b) && plain[p.b[j]] {
			j++
		}
		if j == len(p.b) {
			break
		}
		switch c := p.b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(p.b[start:j]) {
				p.fail()
				return nil, false
			}
			p.i = j + 1
			return p.b[start:j], escaped
		case c == '\\':
			escaped = true
			j += 2 // past the escaped byte; AppendUnquote checks the escape
		case c < 0x20:
			p.fail()
			return nil, false
		default: // c >= 0x80
			ascii = false
			j++
		}
	}
	p.fail()
	return nil, false
}

// special marks, in the eight bytes of x (little-endian), the bytes that
// are not plain: the high bit of each is set for a '"', '\\', control
// character or non-ASCII byte. Bytes above the lowest marked one may be
// marked wrongly (a borrow), so only the lowest is meaningful.
func special(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return zero(x^(ones*'"')) | zero(x^(ones*'\\')) | (x-ones*0x20)&^x&highs | x&highs
}

// plain marks the bytes that stand for themselves in a JSON string: ASCII
// other than control characters, '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string consumes a string value.
func (p *fastDec) string() string {
	raw, escaped := p.rawString()
	if p.bad {
		return ""
	}
	if !escaped {
		return p.d.str(raw)
	}
	out, err := jsontext.AppendUnquote(nil, p.b[p.i-len(raw)-2:p.i])
	if err != nil {
		p.fail()
		return ""
	}
	return string(out)
}

// repeated consumes a string value, the same string as slot holds when
// the bytes are the same (a record's member mostly repeats the last
// record's), else as string does; slot gets it.
func (p *fastDec) repeated(slot int) string {
	raw, escaped := p.rawString()
	if p.bad {
		return ""
	}
	if !escaped && string(raw) == p.last[slot] {
		return p.last[slot]
	}
	var s string
	if !escaped {
		s = p.d.str(raw)
	} else {
		out, err := jsontext.AppendUnquote(nil, p.b[p.i-len(raw)-2:p.i])
		if err != nil {
			p.fail()
			return ""
		}
		s = string(out)
	}
	p.last[slot] = s
	return s
}

// addr consumes a string value holding an IP address.
func (p *fastDec) addr() netip.Addr {
	raw, escaped := p.rawString()
	if p.bad || escaped {
		p.fail()
		return netip.Addr{}
	}
	a, ok := p.d.addr(raw)
	if !ok {
		p.fail()
	}
	return a
}

// addrs consumes an array of addresses, or null.
func (p *fastDec) addrs() []netip.Addr {
	if p.lit("null") {
		return nil
	}
	out := []netip.Addr{}
	if !p.open('[') {
		return nil
	}
	for first := true; p.element(first); first = false {
		out = append(out, p.addr())
	}
	return out
}

// list consumes an array, or null, decoding each element with elem. hint,
// when not nil, is the length of the last list of its kind d decoded: the
// new one is given that capacity at once (the lists of a fleet's snapshots
// are alike), and hint gets its length.
func list[T any](p *fastDec, hint *int, elem func(*T)) []T {
	return listInto(p, hint, nil, elem)
}

// listInto is list decoding into spare's memory when it has the capacity.
func listInto[T any](p *fastDec, hint *int, spare []T, elem func(*T)) []T {
	if p.lit("null") {
		return nil
	}
	if !p.open('[') {
		return nil
	}
	var out []T
	if hint != nil {
		out = spare[:0]
		if cap(out) == 0 || cap(out) < *hint {
			out = make([]T, 0, *hint)
		}
	} else {
		out = []T{}
	}
	for first := true; p.element(first); first = false {
		var zero T
		out = append(out, zero)
		elem(&out[len(out)-1])
	}
	if hint != nil {
		*hint = min(len(out), maxKeptList)
	}
	return out
}

// hint returns the field of p.d that f selects, or nil without a Decoder.
func hint(p *fastDec, f func(*Decoder) *int) *int {
	if p.d == nil {
		return nil
	}
	return f(p.d)
}

// strings consumes an array of strings, or null.
func (p *fastDec) strings() []string {
	if p.lit("null") {
		return nil
	}
	out := []string{}
	if !p.open('[') {
		return nil
	}
	for first := true; p.element(first); first = false {
		out = append(out, p.string())
	}
	return out
}

// digits consumes a JSON number that is an integer written without
// fraction or exponent, and returns its magnitude and sign; it gives up on
// any other number and on one above math.MaxUint64.
func (p *fastDec) digits() (n uint64, neg bool) {
	p.ws()
	b, i := p.b, p.i // in registers, not through p
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(b) {
		d := uint64(b[i] - '0')
		if d > 9 {
			break
		}
		// Nineteen digits fit; from the twentieth on, check.
		if i-start >= 19 && n > (math.MaxUint64-d)/10 {
			p.fail()
			return 0, false
		}
		n = n*10 + d
		i++
	}
	p.i = i
	switch {
	case i == start, i-start > 1 && b[start] == '0':
		p.fail()
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		p.fail()
	}
	return n, neg
}

func (p *fastDec) int() int {
	n, neg := p.digits()
	if neg {
		if n > 1<<63 {
			p.fail()
		}
		return int(-n)
	}
	if n > math.MaxInt64 {
		p.fail()
	}
	return int(n)
}

func (p *fastDec) uint64() uint64 {
	n, neg := p.digits()
	if neg {
		p.fail()
	}
	return n
}

func (p *fastDec) uint16() uint16 {
	n := p.uint64()
	if n > math.MaxUint16 {
		p.fail()
	}
	return uint16(n)
}

// float consumes any JSON number.
func (p *fastDec) float() float64 {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	intStart := p.i
	if n := digits(); n == 0 || n > 1 && p.b[intStart] == '0' {
		p.fail()
		return 0
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			p.fail()
			return 0
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.fail()
			return 0
		}
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil {
		p.fail()
	}
	return f
}

func (p *fastDec) bool() bool {
	switch {
	case p.lit("true"):
		return true
	case p.lit("false"):
		return false
	}
	p.fail()
	return false
}

// time consumes a string holding a time, decoded as DecodeStrict decodes
// it (go-json-experiment's RFC 3339, stricter than time.Parse).
func (p *fastDec) time() time.Time {
	p.ws()
	from := p.i
	if _, escaped := p.rawString(); p.bad || escaped {
		p.fail()
		return time.Time{}
	}
	var t time.Time
	if err := jsonv2.Unmarshal(p.b[from:p.i], &t, strictOptions); err != nil {
		p.fail()
	}
	return t
}

// sub consumes a value by decoding it as DecodeStrict does, for the
// members of a snapshot that come once (the window, conntrack's summary,
// namespaces, workloads): not worth a decoder of their own. It gives up
// where DecodeStrict would report something (scanMembers' checks too).
func (p *fastDec) sub(v any) {
	p.ws()
	from := p.i
	p.skip()
	if p.bad {
		return
	}
	raw := p.b[from:p.i]
	if dup, crowded := scanMembers(raw); dup != nil || crowded != nil {
		p.fail()
		return
	}
	if err := jsonv2.Unmarshal(raw, v, strictOptions); err != nil {
		p.fail()
	}
}

// skip consumes one value without checking it beyond finding its end
// (sub's Unmarshal checks it): a string, or brackets balanced outside
// strings, or a bare word.
func (p *fastDec) skip() {
	if p.next() == '"' {
		p.rawString()
		return
	}
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			p.rawString()
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return
			}
			depth--
			if depth == 0 {
				p.i++
				return
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return
			}
		}
		p.i++
	}
	if depth != 0 {
		p.fail()
	}
}

// The schema, member by member. Each object's members are marked seen in a
// bit mask (the bit is the member's place in its struct), so that a name
// given twice gives up.

func (p *fastDec) snapshot(s *Snapshot) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "schema":
			p.once(seen, 0)
			s.Schema = p.string()
		case "planet_version":
			p.once(seen, 1)
			s.PlanetVersion = p.string()
		case "scanned_at":
			p.once(seen, 2)
			s.ScannedAt = p.time()
		case "host":
			p.once(seen, 3)
			p.host(&s.Host)
		case "sources":
			p.once(seen, 4)
			s.Sources = p.sources()
		case "listeners":
			p.once(seen, 5)
			s.Listeners = p.listeners()
		case "connections":
			p.once(seen, 6)
			s.Connections = p.connections()
		case "unowned_sockets":
			p.once(seen, 7)
			s.UnownedSockets = p.int()
		case "byte_counters":
			p.once(seen, 8)
			s.ByteCounters = p.string()
		case "traffic":
			p.once(seen, 9)
			if !p.lit("null") {
				s.Traffic = new(Traffic)
				p.traffic(s.Traffic)
			}
		case "conntrack":
			p.once(seen, 10)
			p.sub(&s.Conntrack)
		case "warnings":
			p.once(seen, 11)
			s.Warnings = p.strings()
		case "window":
			p.once(seen, 12)
			p.sub(&s.Window)
		case "namespaces":
			p.once(seen, 13)
			p.sub(&s.Namespaces)
		case "workloads":
			p.once(seen, 14)
			p.sub(&s.Workloads)
		default:
			p.fail()
		}
	})
}

func (p *fastDec) host(h *Host) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "hostname":
			p.once(seen, 0)
			h.Hostname = p.string()
		case "addresses":
			p.once(seen, 1)
			h.Addresses = p.addrs()
		case "hostgroup":
			p.once(seen, 2)
			h.Hostgroup = p.string()
		case "domain":
			p.once(seen, 3)
			h.Domain = p.string()
		case "link_local":
			p.once(seen, 4)
			h.LinkLocal = p.addrs()
		default:
			p.fail()
		}
	})
}

func (p *fastDec) sources() []Source {
	return list(p, nil, p.source)
}

func (p *fastDec) source(src *Source) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "name":
			p.once(seen, 0)
			src.Name = p.string()
		case "ok":
			p.once(seen, 1)
			src.OK = p.bool()
		case "detail":
			p.once(seen, 2)
			src.Detail = p.string()
		case "error":
			p.once(seen, 3)
			src.Error = p.string()
		case "fetched_at":
			p.once(seen, 4)
			if !p.lit("null") {
				t := p.time()
				src.FetchedAt = &t
			}
		case "skipped":
			p.once(seen, 5)
			src.Skipped = p.int()
		default:
			p.fail()
		}
	})
}

func (p *fastDec) listeners() []Listener {
	return list(p, hint(p, func(d *Decoder) *int { return &d.listeners }), p.listener)
}

func (p *fastDec) listener(l *Listener) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "protocol":
			p.once(seen, 0)
			l.Protocol = p.string()
		case "address":
			p.once(seen, 1)
			l.Address = p.addr()
		case "port":
			p.once(seen, 2)
			l.Port = p.uint16()
		case "process":
			p.once(seen, 3)
			l.Process = p.string()
		case "sockets":
			p.once(seen, 4)
			l.Sockets = p.int()
		case "workload":
			p.once(seen, 5)
			l.Workload = p.string()
		case "netns":
			p.once(seen, 6)
			l.Netns = p.uint64()
		default:
			p.fail()
		}
	})
}

func (p *fastDec) connections() []Connection {
	if p.d == nil {
		return list(p, nil, p.connection)
	}
	spare := p.d.spare
	p.d.spare = nil
	return listInto(p, &p.d.conns, spare, p.connection)
}

func (p *fastDec) connection(c *Connection) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "direction":
			p.once(seen, 0)
			c.Direction = Direction(p.repeated(lastDirection))
		case "protocol":
			p.once(seen, 1)
			c.Protocol = p.repeated(lastProtocol)
		case "port":
			p.once(seen, 2)
			c.Port = p.uint16()
		case "process":
			p.once(seen, 3)
			c.Process = p.repeated(lastProcess)
		case "remote_ip":
			p.once(seen, 4)
			c.RemoteIP = p.addr()
		case "remote_hostgroup":
			p.once(seen, 5)
			c.RemoteHostgroup = p.repeated(lastHostgroup)
		case "remote_domain":
			p.once(seen, 6)
			c.RemoteDomain = p.string()
		case "sockets":
			p.once(seen, 7)
			c.Sockets = p.int()
		case "states":
			p.once(seen, 8)
			c.States = p.states()
		case "bytes_sent":
			p.once(seen, 9)
			c.BytesSent = p.uint64()
		case "bytes_received":
			p.once(seen, 10)
			c.BytesReceived = p.uint64()
		case "flows":
			p.once(seen, 11)
			c.Flows = p.int()
		case "ended_flows":
			p.once(seen, 12)
			c.EndedFlows = p.int()
		case "dialled_ip":
			p.once(seen, 13)
			c.DialledIP = p.addr()
		case "dialled_port":
			p.once(seen, 14)
			c.DialledPort = p.uint16()
		case "backend_ip":
			p.once(seen, 15)
			c.BackendIP = p.addr()
		case "backend_port":
			p.once(seen, 16)
			c.BackendPort = p.uint16()
		case "origin_ip":
			p.once(seen, 17)
			c.OriginIP = p.addr()
		case "window":
			p.once(seen, 18)
			if !p.lit("null") {
				c.Window = new(ConnWindow)
				p.connWindow(c.Window)
			}
		case "workload":
			p.once(seen, 19)
			c.Workload = p.repeated(lastWorkload)
		case "netns":
			p.once(seen, 20)
			c.Netns = p.uint64()
		default:
			p.fail()
		}
	})
}

// states consumes a connection's count per TCP state: at most MaxMembers,
// no name twice whatever its case (scanMembers' rules).
func (p *fastDec) states() map[string]int {
	if p.lit("null") {
		return nil
	}
	if !p.open('{') {
		return nil
	}
	// The names as they are in the document (an escaped one gives up in
	// member), in room for the usual few.
	var nameRoom [4][]byte
	var countRoom [4]int
	names, counts := nameRoom[:0], countRoom[:0]
	for first := true; ; first = false {
		name, ok := p.member(first)
		if !ok {
			break
		}
		if len(names) == MaxMembers {
			p.fail()
			return nil
		}
		for _, seen := range names {
			if bytes.EqualFold(seen, name) {
				p.fail()
				return nil
			}
		}
		names = append(names, name)
		counts = append(counts, p.int())
	}
	if p.bad {
		return nil
	}
	if p.d != nil && p.d.DropStates && !slices.ContainsFunc(counts, func(c int) bool { return c < 0 }) {
		// Checked: no name twice, and no negative count for Validate to
		// report (it does, from the map, when there is one).
		return nil
	}
	out := make(map[string]int, len(names))
	for i, name := range names {
		out[p.d.str(name)] = counts[i]
	}
	return out
}

func (p *fastDec) connWindow(w *ConnWindow) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "opened":
			p.once(seen, 0)
			w.Opened = p.int()
		case "closed":
			p.once(seen, 1)
			w.Closed = p.int()
		case "opened_per_second":
			p.once(seen, 2)
			w.OpenedPerSecond = p.float()
		case "bytes_sent":
			p.once(seen, 3)
			w.BytesSent = p.uint64()
		case "bytes_received":
			p.once(seen, 4)
			w.BytesReceived = p.uint64()
		case "bytes_sent_per_second":
			p.once(seen, 5)
			w.BytesSentPerSecond = p.float()
		case "bytes_received_per_second":
			p.once(seen, 6)
			w.BytesReceivedPerSecond = p.float()
		case "first_seen":
			p.once(seen, 7)
			w.FirstSeen = p.time()
		case "last_seen":
			p.once(seen, 8)
			w.LastSeen = p.time()
		case "bytes_unknown":
			p.once(seen, 9)
			w.BytesUnknown = p.bool()
		default:
			p.fail()
		}
	})
}

func (p *fastDec) traffic(t *Traffic) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "source":
			p.once(seen, 0)
			t.Source = p.string()
		case "format":
			p.once(seen, 1)
			t.Format = p.string()
		case "peers":
			p.once(seen, 2)
			t.Peers = p.peers()
		default:
			p.fail()
		}
	})
}

func (p *fastDec) peers() []Peer {
	return list(p, hint(p, func(d *Decoder) *int { return &d.peers }), p.peer)
}

func (p *fastDec) peer(peer *Peer) {
	p.object(func(name []byte, seen *uint64) {
		switch string(name) {
		case "remote_ip":
			p.once(seen, 0)
			peer.RemoteIP = p.addr()
		case "remote_hostgroup":
			p.once(seen, 1)
			peer.RemoteHostgroup = p.string()
		case "remote_domain":
			p.once(seen, 2)
			peer.RemoteDomain = p.string()
		case "ingress_bytes":
			p.once(seen, 3)
			peer.IngressBytes = p.uint64()
		case "egress_bytes":
			p.once(seen, 4)
			peer.EgressBytes = p.uint64()
		default:
			p.fail()
		}
	})
}
