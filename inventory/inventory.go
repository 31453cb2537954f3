// Package inventory maps IP addresses to the hostgroup and domain an
// operator's inventory feed gives them.
//
// The feed is a JSON array of objects or newline-delimited JSON (one object a
// line), read from an HTTP(S) URL or a local file:
//
//	[{"ip_address": "10.1.2.3", "domain": "xyz.service.consul", "hostgroup": "xyz"}, ...]
//
// Others write the feed, so reading it is lenient where that is safe and
// strict where a silent guess would mislabel traffic:
//   - unknown fields are ignored;
//   - an entry that cannot be used is skipped with a warning naming it (its
//     0-based index in an array, as jq '.[3]', and its 1-based line) and the
//     reason, and counted (Inventory.Skipped): one with neither domain nor
//     hostgroup, a missing or bad ip_address (including a zoned address
//     such as fe80::1%eth0), a field or the entry of the wrong JSON type.
//     One bad entry in 10,000 must not cost the other 9,999; but a document
//     none of whose entries is usable is an error ([ErrNoUsableEntry]), as
//     more likely a broken feed than an empty one;
//   - ip_address may be an address or a CIDR prefix; a prefix with host bits
//     set (10.2.3.4/16) is masked to 10.2.0.0/16 with a warning, since the
//     intent is plain and refusing the whole feed for it helps nobody;
//   - IPv4-mapped IPv6 (::ffff:10.1.2.3, ::ffff:10.0.0.0/104) is stored as
//     IPv4; other IPv6 prefixes never match IPv4 addresses, even ::/0;
//   - a later entry for the same prefix replaces an earlier one, with a warning;
//   - malformed JSON (an NDJSON line, an array entry) or a truncated array
//     is an error naming the source and the entry: its 0-based index in an
//     array, its 1-based line in NDJSON;
//   - an empty document (no bytes, or only white space) is an error
//     ([ErrEmpty]): a feed that returns nothing is more likely broken than
//     empty. An empty array "[]" is a valid, empty inventory.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
)

// Format names the layout of an inventory document.
type Format string

const (
	FormatAuto   Format = "auto"   // '[' starts an array, '{' starts NDJSON
	FormatArray  Format = "array"  // one JSON array of objects
	FormatNDJSON Format = "ndjson" // one JSON object a line
)

// ParseFormat turns a flag or config value into a Format; "" means auto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return FormatAuto, nil
	case FormatAuto, FormatArray, FormatNDJSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown inventory format %q (want %s, %s or %s)", s, FormatAuto, FormatArray, FormatNDJSON)
}

// ErrEmpty is wrapped when a document holds nothing but white space.
var ErrEmpty = errors.New("empty inventory document")

// ErrNoUsableEntry is wrapped when a document has entries and every one of
// them was skipped.
var ErrNoUsableEntry = errors.New("no entry of the inventory is usable")

// Error is a problem with an inventory document, or with one entry in it.
type Error struct {
	Source string
	Entry  int // 0-based index of the array entry; -1 for NDJSON or the whole document
	Line   int // 1-based line of the entry (where it starts); 0 when unknown
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Entry >= 0 && e.Line > 0:
		return fmt.Sprintf("%s: entry %d (line %d): %v", e.Source, e.Entry, e.Line, e.Err)
	case e.Entry >= 0:
		return fmt.Sprintf("%s: entry %d: %v", e.Source, e.Entry, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s: line %d: %v", e.Source, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Entry is what the inventory knows about one address or prefix.
type Entry struct {
	Prefix    netip.Prefix // masked; a single address is a /32 or /128; IPv4 is never 4-in-6
	Hostgroup string
	Domain    string
}

// Options bound a Load. Zero values take the defaults.
type Options struct {
	Format   Format        // "" is auto
	Timeout  time.Duration // whole fetch; default fetch.DefaultTimeout (10s)
	MaxBytes int64         // default fetch.DefaultMaxBytes (32 MiB)
	Logger   *slog.Logger  // warnings about skipped or replaced entries; nil discards
	// StateDir, when set, is where Load keeps the last good inventory of
	// each source (see KeptPath) and falls back to it when a fetch fails,
	// so that one outage does not relabel every series of a fleet.
	StateDir string
	Now      func() time.Time // when a fetch happened; default time.Now
}

// Load reads the inventory from an http(s) URL or a local file path. Errors
// name the source once ("SOURCE: line 4: malformed JSON: ..."), without an
// "inventory" prefix, which is the caller's to add; a fetch that times out
// wraps context.DeadlineExceeded, an oversized one fetch.ErrTooLarge, and a
// parse error is an *Error.
//
// With opts.StateDir, a fetched inventory that parses is kept there, and
// when a later fetch or parse fails the kept copy is returned instead, with
// a warning; its Kept method then says when it was fetched and why this
// fetch failed. The error is returned only when no copy was kept (or it is
// unusable), or ctx was cancelled.
func Load(ctx context.Context, source string, opts Options) (*Inventory, error) {
	if source == "" {
		return nil, errors.New("no inventory source given")
	}
	format := opts.Format
	if format == "" {
		format = FormatAuto
	}
	// Refuse a bad format before fetching: a typo should not cost a download.
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, err
	}
	doc, err := fetch.Get(ctx, source, fetch.Options{Timeout: opts.Timeout, MaxBytes: opts.MaxBytes})
	var inv *Inventory
	if err == nil {
		inv, err = Parse(doc, source, format, opts.Logger)
	}
	if opts.StateDir == "" {
		return inv, err
	}
	return loadOrKept(ctx, source, opts, inv, err)
}

// Inventory answers which entry an address belongs to. It is read-only once
// built, so Lookup is safe from many goroutines.
type Inventory struct {
	source  string
	v4, v6  table
	skipped int
	// Set by Load when it falls back on the kept copy: see Kept.
	kept *Kept
}

// table holds one address family: full-length prefixes in exact, shorter ones
// in one map per prefix length, so a lookup costs one map probe per length
// present rather than a scan of the entries.
type table struct {
	exact map[netip.Addr]Entry
	lens  []int                          // prefix lengths present below full length, longest first
	byLen []map[netip.Prefix]Entry       // parallel to lens
	index map[int]map[netip.Prefix]Entry // by length, while building
}

func (t *table) len() int {
	n := len(t.exact)
	for _, m := range t.byLen {
		n += len(m)
	}
	return n
}

// put stores e and returns the entry it replaced, if any.
func (t *table) put(e Entry) (Entry, bool) {
	p := e.Prefix
	if p.IsSingleIP() {
		if t.exact == nil {
			t.exact = make(map[netip.Addr]Entry)
		}
		old, dup := t.exact[p.Addr()]
		t.exact[p.Addr()] = e
		return old, dup
	}
	if t.index == nil {
		t.index = make(map[int]map[netip.Prefix]Entry)
	}
	m := t.index[p.Bits()]
	if m == nil {
		m = make(map[netip.Prefix]Entry)
		t.index[p.Bits()] = m
	}
	old, dup := m[p]
	m[p] = e
	return old, dup
}

// seal fixes the lookup order once all entries are in.
func (t *table) seal() {
	t.lens = t.lens[:0]
	for bits := range t.index {
		t.lens = append(t.lens, bits)
	}
	slices.SortFunc(t.lens, func(a, b int) int { return b - a })
	t.byLen = make([]map[netip.Prefix]Entry, len(t.lens))
	for i, bits := range t.lens {
		t.byLen[i] = t.index[bits]
	}
	t.index = nil
}

func (t *table) lookup(ip netip.Addr) (Entry, bool) {
	if e, ok := t.exact[ip]; ok {
		return e, true
	}
	for i, bits := range t.lens {
		p, err := ip.Prefix(bits)
		if err != nil {
			continue
		}
		if e, ok := t.byLen[i][p]; ok {
			return e, true
		}
	}
	return Entry{}, false
}

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.MustParsePrefix("::1/128")
)

// Lookup returns the entry for ip: loopback (127.0.0.0/8, ::1) is always
// hostgroup "localhost", even on a nil Inventory, with Prefix set to the
// loopback prefix so that every returned Prefix contains the address looked
// up. Otherwise an exact address entry wins, then the longest matching prefix.
// IPv4-mapped IPv6 addresses are looked up as IPv4, and a zone is ignored.
func (inv *Inventory) Lookup(ip netip.Addr) (Entry, bool) {
	if !ip.IsValid() {
		return Entry{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		p := loopback6
		if ip.Is4() {
			p = loopback4
		}
		return Entry{Prefix: p, Hostgroup: "localhost"}, true
	}
	if inv == nil {
		return Entry{}, false
	}
	if ip.Is4() {
		return inv.v4.lookup(ip)
	}
	return inv.v6.lookup(ip)
}

// Len returns the number of distinct prefixes held (after skipped and
// replaced entries). A nil Inventory has none.
func (inv *Inventory) Len() int {
	if inv == nil {
		return 0
	}
	return inv.v4.len() + inv.v6.len()
}

// Skipped returns how many entries of the document were left out as
// unusable (see the package documentation), each with a warning.
func (inv *Inventory) Skipped() int {
	if inv == nil {
		return 0
	}
	return inv.skipped
}

// Source returns where the inventory was read from ("" when nil).
func (inv *Inventory) Source() string {
	if inv == nil {
		return ""
	}
	return inv.source
}
