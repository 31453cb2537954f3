package darkstat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Kinds of failure a caller may want to tell apart (errors.Is).
var (
	// ErrNotDarkstat: the page or text is not something darkstat serves.
	ErrNotDarkstat = errors.New("not darkstat")
	// ErrNoHostTable: a darkstat page, but not one with the host table.
	ErrNoHostTable = errors.New("no host table")
	// ErrTruncated: the page or the host table ends early.
	ErrTruncated = errors.New("truncated")
	// ErrPartial: one page of a paged host table (no full=yes).
	ErrPartial = errors.New("only part of the host table")
)

// rangeRE matches darkstat's "(1-30 of 43)" above the host table.
var rangeRE = regexp.MustCompile(`\(([0-9][0-9,]*)-([0-9][0-9,]*) of ([0-9][0-9,]*)\)`)

// emptyTable is what darkstat 3.0.719 prints instead of a table with no rows.
const emptyTable = "The table is empty."

// ParseHTML reads darkstat's host table (the /hosts/ page) and returns one
// Host per IP, sorted by IP. Columns are found by their header names (IP,
// In, Out), so the sort order and extra or reordered columns do not matter.
// It is strict: anything but a complete darkstat host page is an error, as
// is one page of a paged table (read it with full=yes).
func ParseHTML(page []byte) ([]Host, error) {
	p, err := scanPage(page)
	if err != nil {
		return nil, err
	}
	return p.hosts()
}

type cell struct {
	text   string
	header bool
}

type table struct {
	rows   [][]cell
	closed bool
	span   *span // printed just before the table, if at all
}

// span is darkstat's "(from-to of total)" above a paged table.
type span struct{ from, to, total uint64 }

// page is what one pass of the tokenizer saw.
type page struct {
	darkstat  bool   // <meta name="generator" content="darkstat ...">
	hostsLink string // href of the menu's "hosts" link
	ended     bool   // saw </html>
	empty     bool   // saw "The table is empty." outside any table
	hostTable *table // first table headed IP ... In ... Out
	tables    int
}

func scanPage(data []byte) (*page, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty page", ErrNotDarkstat)
	}
	p := &page{}
	z := html.NewTokenizer(bytes.NewReader(data))
	var (
		cur      *table // table being read; nil outside tables
		cellText *strings.Builder
		inA      bool
		aHref    string
		aText    strings.Builder
		pending  *span // seen outside tables, for the next table
	)
	endCell := func() {
		if cur != nil && cellText != nil && len(cur.rows) > 0 {
			row := cur.rows[len(cur.rows)-1]
			row[len(row)-1].text = cellText.String()
		}
		cellText = nil
	}
	endTable := func(closed bool) {
		endCell()
		cur.closed = closed
		if p.hostTable == nil && isHostHeader(cur) {
			p.hostTable = cur
		}
		cur = nil
	}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				return nil, fmt.Errorf("%w: %v", ErrNotDarkstat, z.Err())
			}
			break
		}
		name, hasAttr := z.TagName()
		tag := atom.Lookup(name)
		switch tt {
		case html.TextToken:
			text := string(z.Text())
			if cellText != nil {
				cellText.WriteString(text)
			}
			if inA {
				aText.WriteString(text)
			}
			if cur == nil && p.hostTable == nil {
				if strings.Contains(text, emptyTable) {
					p.empty = true
				}
				if m := rangeRE.FindStringSubmatch(text); m != nil {
					pending = &span{mustCount(m[1]), mustCount(m[2]), mustCount(m[3])}
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			attrs := readAttrs(z, hasAttr)
			switch tag {
			case atom.Meta:
				if strings.EqualFold(attrs["name"], "generator") &&
					strings.HasPrefix(strings.ToLower(strings.TrimSpace(attrs["content"])), "darkstat") {
					p.darkstat = true
				}
			case atom.A:
				inA, aHref = true, attrs["href"]
				aText.Reset()
			case atom.Table:
				if cur != nil { // darkstat never nests tables; treat as the end of the outer one
					endTable(false)
				}
				cur = &table{span: pending}
				pending = nil
				p.tables++
			case atom.Tr:
				if cur != nil {
					endCell()
					cur.rows = append(cur.rows, nil)
				}
			case atom.Td, atom.Th:
				if cur != nil {
					endCell()
					if len(cur.rows) == 0 {
						cur.rows = append(cur.rows, nil)
					}
					r := &cur.rows[len(cur.rows)-1]
					*r = append(*r, cell{header: tag == atom.Th})
					cellText = &strings.Builder{}
				}
			}
		case html.EndTagToken:
			switch tag {
			case atom.A:
				if inA && p.hostsLink == "" && strings.EqualFold(strings.TrimSpace(aText.String()), "hosts") {
					p.hostsLink = aHref
				}
				inA = false
			case atom.Td, atom.Th, atom.Tr:
				endCell()
			case atom.Table:
				if cur != nil {
					endTable(true)
				}
			case atom.Html:
				p.ended = true
			}
		}
	}
	if cur != nil {
		endTable(false)
	}
	return p, nil
}

func readAttrs(z *html.Tokenizer, more bool) map[string]string {
	var attrs map[string]string
	for more {
		var k, v []byte
		k, v, more = z.TagAttr()
		if attrs == nil {
			attrs = make(map[string]string)
		}
		attrs[string(k)] = string(v)
	}
	return attrs
}

// columns finds the IP, In and Out columns in a table's first row.
func columns(t *table) (ip, in, out int, ok bool) {
	ip, in, out = -1, -1, -1
	if len(t.rows) == 0 {
		return ip, in, out, false
	}
	for i, c := range t.rows[0] {
		if !c.header {
			continue
		}
		switch strings.ToLower(strings.Join(strings.Fields(c.text), " ")) {
		case "ip":
			ip = i
		case "in":
			in = i
		case "out":
			out = i
		}
	}
	return ip, in, out, ip >= 0 && in >= 0 && out >= 0
}

func isHostHeader(t *table) bool {
	_, _, _, ok := columns(t)
	return ok
}

func (p *page) hosts() ([]Host, error) {
	if !p.darkstat {
		return nil, fmt.Errorf("%w: page has no darkstat generator tag", ErrNotDarkstat)
	}
	t := p.hostTable
	if t == nil {
		switch {
		case !p.ended:
			return nil, fmt.Errorf("%w: page ends before its host table", ErrTruncated)
		case p.empty && p.tables == 0:
			return []Host{}, nil
		default:
			return nil, fmt.Errorf("%w: darkstat page without a table headed IP, In, Out (not the /hosts/ page?)", ErrNoHostTable)
		}
	}
	data := t.rows[1:]
	if !t.closed {
		return nil, fmt.Errorf("%w: page ends inside the host table, after %d rows", ErrTruncated, len(data))
	}
	if !p.ended {
		return nil, fmt.Errorf("%w: page ends after the host table but before </html>", ErrTruncated)
	}
	if s := t.span; s != nil && s.total > 0 {
		if s.from != 1 || s.to != s.total {
			return nil, fmt.Errorf("%w: page shows hosts %d-%d of %d (read /hosts/?full=yes)", ErrPartial, s.from, s.to, s.total)
		}
		if uint64(len(data)) != s.total {
			return nil, fmt.Errorf("%w: page announces %d hosts but its table has %d rows", ErrTruncated, s.total, len(data))
		}
	}
	ipCol, inCol, outCol, _ := columns(t)
	need := max(ipCol, inCol, outCol) + 1
	acc := newAccumulator()
	for i, row := range data {
		n := i + 1
		if len(row) < need {
			return nil, fmt.Errorf("row %d: %d cells, want at least %d", n, len(row), need)
		}
		ipText := strings.TrimSpace(row[ipCol].text)
		ip, err := netip.ParseAddr(ipText)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("row %d: bad IP %q", n, ipText)
		}
		in, err := parseCount(row[inCol].text)
		if err != nil {
			return nil, fmt.Errorf("row %d (%s): bad In: %w", n, ip, err)
		}
		out, err := parseCount(row[outCol].text)
		if err != nil {
			return nil, fmt.Errorf("row %d (%s): bad Out: %w", n, ip, err)
		}
		if err := acc.add(ip, in, out); err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
	}
	return acc.sorted(), nil
}

// parseCount reads darkstat's byte counts: digits with "," between
// thousands, e.g. 52,613,507.
func parseCount(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	digits := strings.ReplaceAll(t, ",", "")
	if digits == "" || strings.HasPrefix(t, ",") || strings.HasSuffix(t, ",") || strings.Contains(t, ",,") {
		return 0, fmt.Errorf("bad number %q", t)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("bad number %q", t)
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q: out of range", t)
	}
	return n, nil
}

// mustCount reads a number the range regexp already matched; an absurd
// one becomes 0, which disables the range checks rather than fail.
func mustCount(s string) uint64 {
	n, err := strconv.ParseUint(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
