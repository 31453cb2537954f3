package render

import (
	"bytes"
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
// Write buffers text; Flush writes it to the underlying buffer with every
// cell but a line's last padded to its column's widest cell plus columnGap.
// A line's text after its last tab is not a column cell and is never padded,
// as with tabwriter. Cells must hold no tab or newline (see cell).
type columns struct {
	out  *bytes.Buffer
	text bytes.Buffer
}

func newColumns(out *bytes.Buffer) *columns { return &columns{out: out} }

// Write buffers p; it never fails.
func (c *columns) Write(p []byte) (int, error) { return c.text.Write(p) }

// Flush writes the buffered lines, aligned, and empties the buffer. A final
// line without a newline is written without one.
func (c *columns) Flush() {
	text := c.text.String()
	c.text.Reset()
	if text == "" {
		return
	}
	lines := strings.Split(text, "\n")
	trailingNewline := lines[len(lines)-1] == ""
	if trailingNewline {
		lines = lines[:len(lines)-1]
	}
	rows := make([][]string, len(lines))
	var widths []int
	for i, line := range lines {
		rows[i] = strings.Split(line, "\t")
		for j, cell := range rows[i][:len(rows[i])-1] {
			if j == len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], uniseg.StringWidth(cell))
		}
	}
	for i, row := range rows {
		last := len(row) - 1
		for j, cell := range row[:last] {
			c.out.WriteString(cell)
			c.out.WriteString(strings.Repeat(" ", widths[j]-uniseg.StringWidth(cell)+columnGap))
		}
		c.out.WriteString(row[last])
		if i < len(rows)-1 || trailingNewline {
			c.out.WriteByte('\n')
		}
	}
}
