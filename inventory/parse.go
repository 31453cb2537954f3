package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// maxWarnings bounds the warnings of one kind a Parse logs one by one; the
// rest are counted in a summary, so a feed with 50,000 hostless entries does
// not flood a cron mail.
const maxWarnings = 20

// Parse parses an already-read document; source is only used in messages.
func Parse(doc []byte, source string, format Format, logger *slog.Logger) (*Inventory, error) {
	if format == "" {
		format = FormatAuto
	}
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, &Error{Source: source, Entry: -1, Err: err}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	doc = bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf")) // a BOM from an editor is not content
	start := len(doc) - len(bytes.TrimLeft(doc, " \t\r\n"))
	if start == len(doc) {
		return nil, &Error{Source: source, Entry: -1, Err: ErrEmpty}
	}
	if format == FormatAuto {
		switch doc[start] {
		case '[':
			format = FormatArray
		case '{':
			format = FormatNDJSON
		default:
			return nil, &Error{Source: source, Entry: -1, Line: lineAt(doc, start),
				Err: fmt.Errorf("not an inventory: starts with %q, want '[' (JSON array) or '{' (NDJSON)", firstRune(doc[start:]))}
		}
	}
	b := builder{inv: &Inventory{source: source}, log: logger, source: source}
	var err error
	if format == FormatArray {
		err = b.array(doc)
	} else {
		err = b.ndjson(doc)
	}
	if err != nil {
		return nil, err
	}
	b.summarize()
	if b.skipped > 0 {
		if b.inv.Len() == 0 {
			// Every entry unusable: the feed changed shape or broke, and an
			// empty inventory would relabel every series.
			first := *b.firstSkip
			first.Err = fmt.Errorf("%w; %w: %d of %d skipped", first.Err, ErrNoUsableEntry, b.skipped, b.skipped)
			return nil, &first
		}
		b.log.Warn("inventory entries skipped", "source", source, "skipped", b.skipped, "prefixes", b.inv.Len())
	}
	b.inv.skipped = b.skipped
	b.inv.v4.seal()
	b.inv.v6.seal()
	return b.inv, nil
}

// rawEntry is one object of the feed. Fields not named here are ignored.
type rawEntry struct {
	IPAddress *string `json:"ip_address"`
	Domain    *string `json:"domain"`
	Hostgroup *string `json:"hostgroup"`
}

// where identifies an entry in warnings and errors.
type where struct {
	entry int // array index, -1 in NDJSON
	line  int
}

func (w where) attrs() []any {
	if w.entry >= 0 {
		return []any{"entry", w.entry, "line", w.line}
	}
	return []any{"line", w.line}
}

type builder struct {
	inv        *Inventory
	log        *slog.Logger
	source     string
	warned     map[string]int
	suppressed map[string]int
	skipped    int    // entries left out
	firstSkip  *Error // why the first one was
}

// skip leaves out the entry at w, with a warning saying why (err, worded
// like an *Error), and counts it.
func (b *builder) skip(w where, kind string, err error) {
	b.skipped++
	if b.firstSkip == nil {
		b.firstSkip = &Error{Source: b.source, Entry: w.entry, Line: w.line, Err: err}
	}
	b.warn(w, "inventory entry skipped: "+kind, "error", err.Error())
}

func (b *builder) errorf(w where, format string, args ...any) error {
	return &Error{Source: b.source, Entry: w.entry, Line: w.line, Err: fmt.Errorf(format, args...)}
}

func (b *builder) warn(w where, msg string, args ...any) {
	if b.warned == nil {
		b.warned, b.suppressed = map[string]int{}, map[string]int{}
	}
	if b.warned[msg] >= maxWarnings {
		b.suppressed[msg]++
		return
	}
	b.warned[msg]++
	b.log.Warn(msg, append(append([]any{"source", b.source}, w.attrs()...), args...)...)
}

func (b *builder) summarize() {
	for _, msg := range slices.Sorted(maps.Keys(b.suppressed)) {
		b.log.Warn(msg+" (more not shown)", "source", b.source, "more", b.suppressed[msg])
	}
}

func (b *builder) array(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	lines := lineCounter{doc: doc}
	whole := where{entry: -1}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return b.errorf(whole, "not a JSON array")
	}
	for i := 0; dec.More(); i++ {
		w := where{entry: i, line: lines.at(skipSeparators(doc, dec.InputOffset()))}
		var raw rawEntry
		if err := dec.Decode(&raw); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				if at := lineAt(doc, int(syn.Offset)); at != w.line {
					return b.errorf(w, "malformed JSON at line %d: %w", at, err)
				}
				return b.errorf(w, "malformed JSON: %w", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return b.errorf(w, "document ends inside the entry (truncated?)")
			}
			// A wrong type: the decoder has read the whole entry, so the
			// next one can still be read.
			b.skip(w, "wrong JSON type", jsonTypeError(err))
			continue
		}
		b.add(w, raw)
	}
	tok, err = dec.Token()
	if err != nil || tok != json.Delim(']') {
		end := skipSeparators(doc, dec.InputOffset())
		if errors.Is(err, io.EOF) || end >= len(doc) {
			return b.errorf(whole, "array not closed: document ends without ']' (truncated?)")
		}
		return b.errorf(where{entry: -1, line: lineAt(doc, end)}, "malformed JSON in the array: %v", err)
	}
	if rest := bytes.TrimLeft(doc[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return b.errorf(where{entry: -1, line: lineAt(doc, len(doc)-len(rest))}, "data after the end of the array")
	}
	return nil
}

func (b *builder) ndjson(doc []byte) error {
	for n := 1; len(doc) > 0; n++ {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		w := where{entry: -1, line: n}
		var raw rawEntry
		if err := json.Unmarshal(line, &raw); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return b.errorf(w, "malformed JSON (NDJSON wants one whole object a line): %w", err)
			}
			b.skip(w, "wrong JSON type", jsonTypeError(err))
			continue
		}
		b.add(w, raw)
	}
	return nil
}

// jsonTypeError rewords a type mismatch in the feed's terms rather than the
// decoder's Go struct names.
func jsonTypeError(err error) error {
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		return err
	}
	if typ.Field == "" {
		return fmt.Errorf("entry is a JSON %s, want an object", typ.Value)
	}
	return fmt.Errorf("%s is a JSON %s, want a string", typ.Field, typ.Value)
}

// add stores the entry raw, or skips it (see skip) when it has no usable
// address or names neither domain nor hostgroup.
func (b *builder) add(w where, raw rawEntry) {
	if raw.IPAddress == nil || strings.TrimSpace(*raw.IPAddress) == "" {
		b.skip(w, "no ip_address", errors.New("no ip_address"))
		return
	}
	text := strings.TrimSpace(*raw.IPAddress)
	prefix, err := parsePrefix(text)
	if err != nil {
		b.skip(w, "bad ip_address", fmt.Errorf("bad ip_address: %w", err))
		return
	}
	if masked := prefix.Masked(); masked != prefix {
		b.warn(w, "inventory prefix has host bits set; using the masked prefix", "ip_address", text, "prefix", masked.String())
		prefix = masked
	}
	e := Entry{Prefix: prefix, Hostgroup: trimmed(raw.Hostgroup), Domain: trimmed(raw.Domain)}
	if e.Hostgroup == "" && e.Domain == "" {
		b.skipped++
		if b.firstSkip == nil {
			b.firstSkip = &Error{Source: b.source, Entry: w.entry, Line: w.line, Err: fmt.Errorf("%s: neither domain nor hostgroup", text)}
		}
		b.warn(w, "inventory entry has neither domain nor hostgroup; skipped", "ip_address", text)
		return
	}
	t := &b.inv.v6
	if prefix.Addr().Is4() {
		t = &b.inv.v4
	}
	if old, dup := t.put(e); dup {
		b.warn(w, "inventory has another entry for this prefix; the later one wins", "prefix", prefix.String(),
			"hostgroup", e.Hostgroup, "domain", e.Domain, "replaced_hostgroup", old.Hostgroup, "replaced_domain", old.Domain)
	}
}

func trimmed(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// parsePrefix reads an address (as a full-length prefix) or a CIDR prefix,
// storing IPv4-mapped IPv6 as IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.ContainsRune(s, '%') {
		return netip.Prefix{}, fmt.Errorf("%q: zoned addresses are not supported", s)
	}
	if !strings.ContainsRune(s, '/') {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	// A mapped prefix of /96 or longer lies wholly inside ::ffff:0:0/96 and is
	// an IPv4 prefix in disguise; a shorter one also covers real IPv6 space
	// and stays IPv6.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// skipSeparators returns the offset of the first byte at or after off that is
// not white space or a comma: where the next array element starts.
func skipSeparators(doc []byte, off int64) int {
	i := int(off)
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\r', '\n', ',':
			i++
			continue
		}
		break
	}
	return i
}

// lineCounter numbers the lines of doc for offsets that only grow, so naming
// the line of every array entry stays linear in the document's size.
type lineCounter struct {
	doc  []byte
	off  int
	line int // lines before off, minus one
}

func (c *lineCounter) at(off int) int {
	off = min(max(off, 0), len(c.doc))
	if off < c.off {
		return lineAt(c.doc, off)
	}
	c.line += bytes.Count(c.doc[c.off:off], []byte("\n"))
	c.off = off
	return 1 + c.line
}

// lineAt returns the 1-based line holding doc[off].
func lineAt(doc []byte, off int) int {
	off = min(max(off, 0), len(doc))
	return 1 + bytes.Count(doc[:off], []byte("\n"))
}

func firstRune(b []byte) string {
	s := string(b[:min(len(b), 4)])
	for _, r := range s {
		return string(r)
	}
	return s
}
