package render

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableGolden(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, fx.snap()); err != nil {
				t.Fatal(err)
			}
			golden(t, fx.name+".table.golden", buf.Bytes())
		})
	}
}

// A hostile name must neither reach the terminal raw (escape sequences,
// bidi overrides) nor break a row into several lines or columns.
func TestTableHostileNames(t *testing.T) {
	s := hostile()
	var buf bytes.Buffer
	if err := Table(&buf, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	for i, line := range lines {
		for _, r := range line {
			if r < 0x20 || r == 0x7f || r == '\u202e' {
				t.Errorf("line %d holds %U: %q", i+1, r, line)
			}
		}
	}
	for _, c := range s.Connections {
		want := c.RemoteIP.String() + "  "
		found := false
		for _, line := range lines {
			if strings.Contains(line, want) && strings.Contains(line, cell(c.Process)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no single line shows %s with process %s", c.RemoteIP, cell(c.Process))
		}
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "-"},
		{"sshd", "sshd"},
		{"日本語", "日本語"},
		{"two words", "two words"},
		{"a\tb", `"a\tb"`},
		{"a\nb", `"a\nb"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"bad\xff", `"bad\xff"`},
		{`say "hi"`, `"say \"hi\""`},
		{"rtl\u202e", `"rtl\u202e"`},
	} {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBytesIEC(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {126_014_316, "120.2 MiB"},
		{1 << 40, "1.0 TiB"}, {^uint64(0), "16.0 EiB"},
	} {
		if got := bytesIEC(tc.in); got != tc.want {
			t.Errorf("bytesIEC(%d) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestTableNil(t *testing.T) {
	if err := Table(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("Table(nil) succeeded")
	}
}
