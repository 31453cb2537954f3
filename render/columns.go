package render

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/rivo/uniseg"
)

// columnGap is the number of spaces between two columns.
const columnGap = 2

// columns lines up tab-separated cells the way text/tabwriter does with
// padding 2 and no flags, but measures each cell in terminal columns rather
// than in runes: a CJK or fullwidth character takes two columns, a combining
// mark none, an emoji (one grapheme cluster, however many runes) two. Widths
// are uniseg's reading of Unicode's East Asian Width (UAX #11) and emoji
// presentation (UTS #51) properties, per grapheme cluster (UAX #29);
// East Asian Ambiguous characters count as one column, as terminals outside
// CJK locales draw them.
//
// Every line of one table has the same number of cells, so a column is as
// wide as its widest cell in any line (tabwriter's column blocks, which end
// at a line with fewer cells, never come into play).
//
// Write buffers text; Flush writes it to the underlying writer with every
// cell but a line's last padded to its column's widest cell plus columnGap.
// A table of millions of lines is given as a generator instead (rows),
// which Flush runs once per pass, so its text is never held whole.
// A line's text after its last tab is not a column cell and is never padded,
// as with tabwriter. Cells must hold no tab or newline (see cell).
//
// With fit, a table wider than its maximum width is narrowed by steps, in
// order, until it fits: a column cut to at most so many terminal columns
// (its cells ending in "…"; a list keeps "+N more"), or a column left out
// (a line under the table names those).
type columns struct {
	out      io.Writer
	text     bytes.Buffer
	source   func(w io.Writer) // rows' generator, or nil: text
	maxWidth int
	steps    []narrowing
}

// narrowing is one step of fitting a table: cut column col to width
// columns, or, with width 0, leave it out.
type narrowing struct{ col, width int }

// listSep joins the names of a list cell (see cells): a control character,
// which no cell holds otherwise, so the list can be cut by whole names. It
// is written as ",".
const listSep = "\x1f"

func newColumns(out io.Writer) *columns { return &columns{out: out} }

// rows makes gen the table's text, in place of what Write buffered: Flush
// calls it once for each pass over the lines (two, three with fit), and
// it must write the same text each time.
func (c *columns) rows(gen func(w io.Writer)) *columns {
	c.source = gen
	return c
}

// lineSplitter calls fn with each complete line written to it (without its
// newline); end passes on a last line without one.
type lineSplitter struct {
	partial []byte
	fn      func(line []byte, newline bool)
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			return n, nil
		}
		if len(s.partial) > 0 {
			s.partial = append(s.partial, p[:i]...)
			s.fn(s.partial, true)
			s.partial = s.partial[:0]
		} else {
			s.fn(p[:i], true)
		}
		p = p[i+1:]
	}
}

func (s *lineSplitter) end() {
	if len(s.partial) > 0 {
		s.fn(s.partial, false)
		s.partial = s.partial[:0]
	}
}

// fit limits the table to width terminal columns (0: no limit), narrowing
// it by steps as needed.
func (c *columns) fit(width int, steps ...narrowing) *columns {
	c.maxWidth, c.steps = width, steps
	return c
}

// Write buffers p; it never fails.
func (c *columns) Write(p []byte) (int, error) { return c.text.Write(p) }

// Flush writes the buffered lines, aligned, and empties the buffer. A final
// line without a newline is written without one. The lines are read in
// passes (widths, then text), each splitting one line at a time, so a table
// of millions of lines takes its text and not a cell array besides.
func (c *columns) Flush() {
	text := c.text.Bytes()
	if len(text) == 0 && c.source == nil {
		return
	}
	var cells []string // one line's, reused
	// lastNewline: whether the last line ends in a newline (a final line
	// without one is written without one).
	lastNewline := true
	each := func(fn func(i int, row []string)) {
		i := 0
		split := &lineSplitter{fn: func(line []byte, newline bool) {
			lastNewline = newline
			cells = splitCells(cells[:0], line)
			fn(i, cells)
			i++
		}}
		if c.source != nil {
			c.source(split)
		} else {
			_, _ = split.Write(text)
		}
		split.end()
	}
	var (
		dropped []string
		gone    []bool
		cut     []int // a column's narrowed width; 0: not narrowed
	)
	if c.maxWidth > 0 {
		gone, cut, dropped = c.narrow(each)
	}
	// shown is a row's cells as written: narrowed columns cut, lists
	// joined with ",", and columns left out dropped.
	var shownCells []string
	shown := func(row []string) []string {
		shownCells = shownCells[:0]
		for j, cell := range row {
			if j < len(gone) && gone[j] {
				continue
			}
			if j < len(cut) && cut[j] > 0 {
				cell = truncate(cell, cut[j])
			}
			shownCells = append(shownCells, strings.ReplaceAll(cell, listSep, ","))
		}
		return shownCells
	}
	var widths []int
	each(func(i int, row []string) {
		row = shown(row)
		for j, cell := range row[:len(row)-1] {
			if j == len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], termWidth(cell))
		}
	})
	var out bytes.Buffer
	lines := 0
	each(func(i int, row []string) {
		lines = i + 1
		if i > 0 {
			out.WriteByte('\n')
		}
		row = shown(row)
		last := len(row) - 1
		for j, cell := range row[:last] {
			out.WriteString(cell)
			pad := widths[j] - termWidth(cell) + columnGap
			for range pad {
				out.WriteByte(' ')
			}
		}
		out.WriteString(row[last])
		if out.Len() >= 64<<10 {
			_, _ = c.out.Write(out.Bytes())
			out.Reset()
		}
	})
	if lines > 0 && lastNewline {
		out.WriteByte('\n')
	}
	_, _ = c.out.Write(out.Bytes())
	c.text.Reset()
	c.source = nil
	if len(dropped) > 0 {
		fmt.Fprintf(c.out, "(not shown in %d columns: %s)\n", c.maxWidth, strings.Join(dropped, ", "))
	}
}

// splitCells appends line's tab-separated cells to cells.
func splitCells(cells []string, line []byte) []string {
	for {
		cell, rest, more := bytes.Cut(line, []byte{'\t'})
		cells = append(cells, string(cell))
		if !more {
			return cells
		}
		line = rest
	}
}

// termWidth is uniseg.StringWidth, at once for printable ASCII (one
// column a byte).
func termWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return uniseg.StringWidth(s)
		}
	}
	return len(s)
}

// narrow takes c's steps until every line fits c.maxWidth (or the steps
// run out) and returns the columns it leaves out, the width each narrowed
// column is cut to (0 where it is not), and the headers (first row) of the
// columns left out. Every row has the same number of cells.
func (c *columns) narrow(each func(func(i int, row []string))) (gone []bool, cut []int, dropped []string) {
	var widths []int
	var header []string
	each(func(i int, row []string) {
		if i == 0 {
			header = slices.Clone(row)
			widths = make([]int, len(row))
		}
		for j, cell := range row {
			if j < len(widths) {
				widths[j] = max(widths[j], dispWidth(cell))
			}
		}
	})
	n := len(widths)
	gone = make([]bool, n)
	cut = make([]int, n)
	total := func() int {
		t := -columnGap
		for j, w := range widths {
			if !gone[j] {
				t += w + columnGap
			}
		}
		return t
	}
	for _, st := range c.steps {
		if total() <= c.maxWidth {
			break
		}
		if st.col >= n || gone[st.col] {
			continue
		}
		if st.width == 0 {
			gone[st.col] = true
			dropped = append(dropped, header[st.col])
			continue
		}
		if widths[st.col] > st.width {
			widths[st.col] = max(st.width, widths[st.col]-(total()-c.maxWidth))
		}
	}
	// A column's cells are cut to its final width (truncate leaves a cell
	// that fits as it is).
	copy(cut, widths)
	return gone, cut, dropped
}

// truncate cuts s to at most width terminal columns. A list (names joined
// by listSep, perhaps ending in "+N more") keeps as many whole names as fit
// and counts the rest in "+N more"; anything else is cut by whole grapheme
// clusters and ends in "…".
func truncate(s string, width int) string {
	if dispWidth(s) <= width {
		return s
	}
	if strings.Contains(s, listSep) {
		names := strings.Split(s, listSep)
		more := 0
		if last := names[len(names)-1]; strings.HasPrefix(last, "+") && strings.HasSuffix(last, " more") {
			if m, err := strconv.Atoi(strings.TrimSuffix(last[1:], " more")); err == nil {
				more, names = m, names[:len(names)-1]
			}
		}
		for k := len(names) - 1; k >= 1; k-- {
			cand := strings.Join(names[:k], listSep) + listSep + "+" + strconv.Itoa(more+len(names)-k) + " more"
			if dispWidth(cand) <= width {
				return cand
			}
		}
		rest := listSep + "+" + strconv.Itoa(more+len(names)-1) + " more"
		if w := width - dispWidth(rest); w >= 2 {
			return truncate(names[0], w) + rest
		}
		s = strings.Join(names, ",")
	}
	var b strings.Builder
	w := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		if w+g.Width() > width-1 {
			break
		}
		w += g.Width()
		b.WriteString(g.Str())
	}
	return b.String() + "…"
}

// dispWidth is the terminal columns s takes once written (listSep as ",").
func dispWidth(s string) int { return termWidth(strings.ReplaceAll(s, listSep, ",")) }
