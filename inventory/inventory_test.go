package inventory

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// hit is one expected Lookup answer; an empty hostgroup and domain means no entry.
type hit struct {
	ip        string
	prefix    string
	hostgroup string
	domain    string
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		format  Format
		len     int
		lookups []hit
		warns   []string // substrings the captured log must hold
	}{
		{
			name: "array",
			doc: `[{"ip_address": "10.1.2.3", "domain": "xyz.service.consul", "hostgroup": "xyz"},
			       {"ip_address": "10.2.3.4", "domain": "debugapp.service.consul", "hostgroup": "debugapp"}]`,
			format: FormatArray,
			len:    2,
			lookups: []hit{
				{"10.1.2.3", "10.1.2.3/32", "xyz", "xyz.service.consul"},
				{"10.2.3.4", "10.2.3.4/32", "debugapp", "debugapp.service.consul"},
				{"10.1.2.4", "", "", ""},
			},
		},
		{
			name: "ndjson with blank lines and CRLF",
			doc: "{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"xyz\"}\r\n\r\n   \n" +
				"{\"ip_address\": \"10.2.3.4\", \"domain\": \"debugapp.service.consul\"}",
			format: FormatNDJSON,
			len:    2,
			lookups: []hit{
				{"10.1.2.3", "10.1.2.3/32", "xyz", ""},
				{"10.2.3.4", "10.2.3.4/32", "", "debugapp.service.consul"},
			},
		},
		{
			name:    "auto detects array after white space",
			doc:     "\n\t [ {\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"xyz\"} ]\n",
			len:     1,
			lookups: []hit{{"10.1.2.3", "10.1.2.3/32", "xyz", ""}},
		},
		{
			name:    "auto detects ndjson",
			doc:     "  {\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"xyz\"}\n{\"ip_address\": \"10.1.2.4\", \"hostgroup\": \"abc\"}\n",
			format:  FormatAuto,
			len:     2,
			lookups: []hit{{"10.1.2.4", "10.1.2.4/32", "abc", ""}},
		},
		{
			name:    "byte order mark",
			doc:     "\xef\xbb\xbf[{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"xyz\"}]",
			len:     1,
			lookups: []hit{{"10.1.2.3", "10.1.2.3/32", "xyz", ""}},
		},
		{
			name: "longest prefix wins, exact beats all",
			doc: `[{"ip_address": "10.0.0.0/8", "hostgroup": "ten"},
			       {"ip_address": "10.2.0.0/16", "hostgroup": "two"},
			       {"ip_address": "10.2.3.0/24", "hostgroup": "three"},
			       {"ip_address": "10.2.3.4", "hostgroup": "exact"},
			       {"ip_address": "0.0.0.0/0", "hostgroup": "world"}]`,
			len: 5,
			lookups: []hit{
				{"10.2.3.4", "10.2.3.4/32", "exact", ""},
				{"10.2.3.5", "10.2.3.0/24", "three", ""},
				{"10.2.4.1", "10.2.0.0/16", "two", ""},
				{"10.9.9.9", "10.0.0.0/8", "ten", ""},
				{"192.0.2.1", "0.0.0.0/0", "world", ""},
				{"2001:db8::1", "", "", ""}, // IPv4 ::/0 is not IPv6's
			},
		},
		{
			name: "exact given as /32 is the same entry",
			doc: `[{"ip_address": "10.2.3.4/32", "hostgroup": "a"},
			       {"ip_address": "10.2.0.0/16", "hostgroup": "b"}]`,
			len:     2,
			lookups: []hit{{"10.2.3.4", "10.2.3.4/32", "a", ""}},
		},
		{
			name: "host bits masked with a warning",
			doc:  `[{"ip_address": "10.2.3.4/16", "hostgroup": "two"}]`,
			len:  1,
			lookups: []hit{
				{"10.2.200.1", "10.2.0.0/16", "two", ""},
			},
			warns: []string{"host bits set", "prefix=10.2.0.0/16", "entry=0"},
		},
		{
			name: "loopback is localhost whatever the inventory says",
			doc: `[{"ip_address": "127.0.0.1", "hostgroup": "nope"},
			       {"ip_address": "0.0.0.0/0", "hostgroup": "world"},
			       {"ip_address": "::/0", "hostgroup": "world6"}]`,
			len: 3,
			lookups: []hit{
				{"127.0.0.1", "127.0.0.0/8", "localhost", ""},
				{"127.9.8.7", "127.0.0.0/8", "localhost", ""},
				{"::1", "::1/128", "localhost", ""},
				{"::ffff:127.0.0.1", "127.0.0.0/8", "localhost", ""},
				{"128.0.0.1", "0.0.0.0/0", "world", ""},
				{"::2", "::/0", "world6", ""},
			},
		},
		{
			name: "IPv6",
			doc: `{"ip_address": "2001:db8::10", "domain": "a.example", "hostgroup": "a"}
{"ip_address": "2001:DB8:0:0::/64", "hostgroup": "net"}
{"ip_address": "2001:db8::/32", "hostgroup": "wide"}
{"ip_address": "fe80::/10", "hostgroup": "linklocal"}`,
			len: 4,
			lookups: []hit{
				{"2001:db8::10", "2001:db8::10/128", "a", "a.example"},
				{"2001:db8::11", "2001:db8::/64", "net", ""},
				{"2001:db8:1::1", "2001:db8::/32", "wide", ""},
				{"fe80::1%eth0", "fe80::/10", "linklocal", ""},
				{"2001:db9::1", "", "", ""},
				{"10.0.0.1", "", "", ""},
			},
		},
		{
			name: "IPv4-mapped entries and lookups are IPv4",
			doc: `[{"ip_address": "::ffff:10.1.2.3", "hostgroup": "mapped"},
			       {"ip_address": "::ffff:10.9.0.0/112", "hostgroup": "mappednet"},
			       {"ip_address": "::/8", "hostgroup": "v6only"}]`,
			len: 3,
			lookups: []hit{
				{"10.1.2.3", "10.1.2.3/32", "mapped", ""},
				{"::ffff:10.1.2.3", "10.1.2.3/32", "mapped", ""},
				{"10.9.1.1", "10.9.0.0/16", "mappednet", ""},
				{"::ffff:10.9.1.1", "10.9.0.0/16", "mappednet", ""},
				// ::/8 covers ::ffff:0:0/96, but IPv4 is looked up as IPv4.
				{"::ffff:10.8.0.1", "", "", ""},
				{"::5", "::/8", "v6only", ""},
			},
		},
		{
			name: "unknown fields and nulls are ignored",
			doc: `[{"ip_address": "10.1.2.3", "hostgroup": "xyz", "owner": {"team": ["a"]}, "ttl": 30, "domain": null},
			       {"IP_ADDRESS": "10.1.2.4", "hostgroup": "case"}]`,
			len: 2,
			lookups: []hit{
				{"10.1.2.3", "10.1.2.3/32", "xyz", ""},
				{"10.1.2.4", "10.1.2.4/32", "case", ""},
			},
		},
		{
			name: "white space trimmed",
			doc:  `[{"ip_address": " 10.1.2.3 ", "hostgroup": " xyz ", "domain": "\tx.consul"}]`,
			len:  1,
			lookups: []hit{
				{"10.1.2.3", "10.1.2.3/32", "xyz", "x.consul"},
			},
		},
		{
			name: "entries without domain and hostgroup are skipped",
			doc: `{"ip_address": "10.1.2.3"}
{"ip_address": "10.1.2.4", "hostgroup": "keep"}
{"ip_address": "10.1.2.5", "hostgroup": "  ", "domain": ""}`,
			len: 1,
			lookups: []hit{
				{"10.1.2.3", "", "", ""},
				{"10.1.2.4", "10.1.2.4/32", "keep", ""},
				{"10.1.2.5", "", "", ""},
			},
			warns: []string{"neither domain nor hostgroup", "line=1", "line=3", "ip_address=10.1.2.5"},
		},
		{
			name: "duplicate prefix: the later wins",
			doc: `[{"ip_address": "10.1.2.3", "hostgroup": "old"},
			       {"ip_address": "10.0.0.0/8", "hostgroup": "oldnet"},
			       {"ip_address": "10.1.2.3/32", "hostgroup": "new"},
			       {"ip_address": "10.9.9.9/8", "hostgroup": "newnet"}]`,
			len: 2,
			lookups: []hit{
				{"10.1.2.3", "10.1.2.3/32", "new", ""},
				{"10.5.5.5", "10.0.0.0/8", "newnet", ""},
			},
			warns: []string{"later one wins", "entry=2", "replaced_hostgroup=old", "entry=3", "replaced_hostgroup=oldnet"},
		},
		{
			name: "empty array",
			doc:  " [ ] ",
			len:  0,
			lookups: []hit{
				{"10.1.2.3", "", "", ""},
				{"127.0.0.1", "127.0.0.0/8", "localhost", ""},
			},
		},
		{
			name: "empty array forced as array",
			doc:  "[]",
			len:  0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			inv, err := Parse([]byte(tt.doc), "inv.json", tt.format, logger)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := inv.Len(); got != tt.len {
				t.Errorf("Len() = %d, want %d", got, tt.len)
			}
			if got := inv.Source(); got != "inv.json" {
				t.Errorf("Source() = %q", got)
			}
			for _, h := range tt.lookups {
				checkLookup(t, inv, h)
			}
			for _, w := range tt.warns {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			if len(tt.warns) == 0 && logs.Len() > 0 {
				t.Errorf("unexpected warnings:\n%s", logs.String())
			}
		})
	}
}

func checkLookup(t *testing.T, inv *Inventory, h hit) {
	t.Helper()
	got, ok := inv.Lookup(netip.MustParseAddr(h.ip))
	if h.hostgroup == "" && h.domain == "" {
		if ok {
			t.Errorf("Lookup(%s) = %+v, want no entry", h.ip, got)
		}
		return
	}
	want := Entry{Prefix: netip.MustParsePrefix(h.prefix), Hostgroup: h.hostgroup, Domain: h.domain}
	if !ok || got != want {
		t.Errorf("Lookup(%s) = %+v, %v; want %+v", h.ip, got, ok, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		format Format
		want   []string // substrings of the error
		entry  int
		line   int
	}{
		{name: "zero bytes", doc: "", want: []string{"src.json: ", "empty inventory document"}, entry: -1},
		{name: "only white space", doc: " \n\t\r\n", want: []string{"empty inventory document"}, entry: -1},
		{name: "not JSON", doc: "\n<html>", want: []string{"src.json: line 2: ", `starts with "<"`}, entry: -1, line: 2},
		{name: "JSON but a string", doc: `"hello"`, want: []string{`starts with "\""`}, entry: -1, line: 1},
		{name: "unknown format", doc: "[]", format: "xml", want: []string{`unknown inventory format "xml"`}, entry: -1},
		{name: "array forced on ndjson", doc: `{"ip_address": "10.1.2.3"}`, format: FormatArray, want: []string{"not a JSON array"}, entry: -1},
		{name: "ndjson forced on array", doc: "[{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"x\"}]", format: FormatNDJSON,
			want: []string{"src.json: line 1: ", "want an object"}, entry: -1, line: 1},
		{
			name:  "every entry bad: the first named, all counted",
			doc:   "{\"ip_address\": \"10.1.2.300\", \"hostgroup\": \"a\"}\n\n{\"ip_address\": \"nope\", \"hostgroup\": \"b\"}\n",
			want:  []string{"src.json: line 1: bad ip_address", `"10.1.2.300"`, "no entry of the inventory is usable: 2 of 2 skipped"},
			entry: -1, line: 1,
		},
		{name: "missing ip", doc: `[{"hostgroup": "a"}]`, want: []string{"entry 0 (line 1): no ip_address"}, entry: 0, line: 1},
		{name: "empty ip", doc: `{"ip_address": "", "hostgroup": "a"}`, want: []string{"line 1: no ip_address"}, entry: -1, line: 1},
		{name: "null entry", doc: `[null]`, want: []string{"entry 0", "no ip_address"}, entry: 0, line: 1},
		{name: "ip is a number", doc: `[{"ip_address": 10, "hostgroup": "a"}]`, want: []string{"entry 0", "ip_address is a JSON number, want a string"}, entry: 0, line: 1},
		{name: "hostgroup is a list", doc: `{"ip_address": "10.1.2.3", "hostgroup": ["a"]}`, want: []string{"line 1: ", "hostgroup is a JSON array, want a string"}, entry: -1, line: 1},
		{name: "entry is a string", doc: `["10.1.2.4"]`, want: []string{"entry 0", "entry is a JSON string, want an object"}, entry: 0, line: 1},
		{name: "prefix length out of range", doc: `[{"ip_address": "10.0.0.0/33", "hostgroup": "a"}]`, want: []string{"entry 0", "bad ip_address", "10.0.0.0/33"}, entry: 0, line: 1},
		{name: "zoned address", doc: `[{"ip_address": "fe80::1%eth0", "hostgroup": "a"}]`, want: []string{"entry 0", "zoned"}, entry: 0, line: 1},
		{name: "hostname instead of ip", doc: `[{"ip_address": "db1.example", "hostgroup": "a"}]`, want: []string{"entry 0", "bad ip_address"}, entry: 0, line: 1},
		{
			name:  "malformed ndjson line names the line",
			doc:   "{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"}\n{\"ip_address\": \"10.1.2.4\", \"hostgroup\": \n{\"ip_address\": \"10.1.2.5\", \"hostgroup\": \"c\"}\n",
			want:  []string{"src.json: line 2: malformed JSON"},
			entry: -1, line: 2,
		},
		{
			name:  "two objects on one ndjson line",
			doc:   "{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"} {\"ip_address\": \"10.1.2.4\", \"hostgroup\": \"b\"}\n",
			want:  []string{"line 1: malformed JSON"},
			entry: -1, line: 1,
		},
		{
			name:  "pretty-printed objects are not ndjson",
			doc:   "{\n  \"ip_address\": \"10.1.2.3\"\n}\n",
			want:  []string{"line 1: malformed JSON", "one whole object a line"},
			entry: -1, line: 1,
		},
		{
			name:  "malformed array entry",
			doc:   "[\n{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"},\n{\"ip_address\": \"10.1.2.4\" \"hostgroup\": \"b\"}\n]",
			want:  []string{"entry 1 (line 3): malformed JSON: "},
			entry: 1, line: 3,
		},
		{
			name:  "missing comma between entries",
			doc:   "[\n{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"}\n{\"ip_address\": \"10.1.2.4\", \"hostgroup\": \"b\"}\n]",
			want:  []string{"entry 1", "malformed JSON"},
			entry: 1, line: 3,
		},
		{
			name:  "malformed inside a multi-line entry",
			doc:   "[\n  {\n    \"ip_address\": \"10.1.2.3\",\n    \"hostgroup\" \"a\"\n  }\n]",
			want:  []string{"entry 0 (line 2): malformed JSON at line 4"},
			entry: 0, line: 2,
		},
		{
			name:  "truncated array",
			doc:   "[{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"},\n{\"ip_address\": \"10.1.2.4\", \"hostg",
			want:  []string{"entry 1 (line 2)", "truncated"},
			entry: 1, line: 2,
		},
		{
			name:  "array never closed",
			doc:   "[{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"}\n",
			want:  []string{"src.json: array not closed"},
			entry: -1,
		},
		{
			name:  "data after the array",
			doc:   "[{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"}]\n[]",
			want:  []string{"src.json: line 2: data after the end of the array"},
			entry: -1, line: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse([]byte(tt.doc), "src.json", tt.format, nil)
			if err == nil {
				t.Fatalf("Parse succeeded with %d entries, want an error", inv.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "src.json"); n != 1 {
				t.Errorf("error %q names the source %d times, want once", err, n)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *inventory.Error", err)
			}
			if ie.Entry != tt.entry || ie.Line != tt.line {
				t.Errorf("Error{Entry: %d, Line: %d}, want {%d, %d}", ie.Entry, ie.Line, tt.entry, tt.line)
			}
		})
	}
}

func TestParseEmptyIsErrEmpty(t *testing.T) {
	for _, doc := range []string{"", "  \n", "\xef\xbb\xbf"} {
		if _, err := Parse([]byte(doc), "x", FormatAuto, nil); !errors.Is(err, ErrEmpty) {
			t.Errorf("Parse(%q) = %v, want ErrEmpty", doc, err)
		}
	}
}

// One bad entry in a large inventory costs that entry, not the inventory:
// each is skipped with a warning naming it and the reason, and counted.
func TestParseSkipsBadEntries(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		len     int
		skipped int
		warns   []string
	}{
		{
			name: "bad ip in array names the index and line",
			doc: `[{"ip_address": "10.1.2.3", "hostgroup": "a"},
{"ip_address": "10.1.2.4", "hostgroup": "b"},
{"ip_address": "10.1.2.5", "hostgroup": "c"},
{"ip_address": "10.1.2.300", "hostgroup": "d"}]`,
			len: 3, skipped: 1,
			warns: []string{"inventory entry skipped: bad ip_address", "source=src.json entry=3 line=4", "10.1.2.300", "skipped=1 prefixes=3"},
		},
		{
			name: "bad ip in ndjson names the line",
			doc:  "{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"}\n\n{\"ip_address\": \"nope\", \"hostgroup\": \"b\"}\n",
			len:  1, skipped: 1,
			warns: []string{"inventory entry skipped: bad ip_address", "line=3", `\"nope\"`},
		},
		{
			name: "every kind of unusable entry",
			doc: `[{"ip_address": "10.1.2.3", "hostgroup": "a"}, "10.1.2.4", null, {"hostgroup": "x"},
{"ip_address": 10, "hostgroup": "a"}, {"ip_address": "10.1.2.6", "hostgroup": ["a"]},
{"ip_address": "fe80::1%eth0", "hostgroup": "a"}, {"ip_address": "db1.example", "hostgroup": "a"},
{"ip_address": "10.1.2.7"}, {"ip_address": "10.0.0.0/33", "hostgroup": "a"}]`,
			len: 1, skipped: 9,
			warns: []string{"entry=1 line=1", "entry is a JSON string, want an object", "entry=2 line=1", "no ip_address",
				"entry=4 line=2", "ip_address is a JSON number", "entry=5 line=2", "hostgroup is a JSON array",
				"entry=6 line=3", "zoned", "entry=7 line=3", "db1.example", "neither domain nor hostgroup", "entry=9 line=4", "10.0.0.0/33",
				"skipped=9 prefixes=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			inv, err := Parse([]byte(tt.doc), "src.json", FormatAuto, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if inv.Len() != tt.len || inv.Skipped() != tt.skipped {
				t.Errorf("Len() = %d, Skipped() = %d; want %d, %d", inv.Len(), inv.Skipped(), tt.len, tt.skipped)
			}
			for _, w := range tt.warns {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
		})
	}
}

func TestWarningsAreCapped(t *testing.T) {
	var doc strings.Builder
	doc.WriteString(`{"ip_address": "10.1.0.1", "hostgroup": "good"}` + "\n")
	for i := range 100 {
		doc.WriteString(`{"ip_address": "10.0.0.` + itoa(i) + `"}` + "\n")
	}
	var logs bytes.Buffer
	inv, err := Parse([]byte(doc.String()), "x", FormatAuto, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Len() != 1 || inv.Skipped() != 100 {
		t.Errorf("Len() = %d, Skipped() = %d; want 1, 100", inv.Len(), inv.Skipped())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != maxWarnings+2 {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), maxWarnings+2, logs.String())
	}
	if more := lines[len(lines)-2]; !strings.Contains(more, "more=80") {
		t.Errorf("summary line %q lacks more=80", more)
	}
	if count := lines[len(lines)-1]; !strings.Contains(count, "skipped=100 prefixes=1") {
		t.Errorf("count line %q lacks skipped=100 prefixes=1", count)
	}
}

func itoa(i int) string {
	return netip.AddrFrom4([4]byte{0, 0, 0, byte(i)}).String()[6:]
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"", FormatAuto, false},
		{"auto", FormatAuto, false},
		{"array", FormatArray, false},
		{"ndjson", FormatNDJSON, false},
		{" NDJSON ", FormatNDJSON, false},
		{"json", "", true},
		{"yaml", "", true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+tt.in+`"`) {
			t.Errorf("ParseFormat(%q) error %q does not name the value", tt.in, err)
		}
	}
}

func TestNilInventory(t *testing.T) {
	var inv *Inventory
	if inv.Len() != 0 || inv.Source() != "" {
		t.Errorf("nil inventory: Len %d, Source %q", inv.Len(), inv.Source())
	}
	for _, h := range []hit{
		{"127.0.0.1", "127.0.0.0/8", "localhost", ""},
		{"::1", "::1/128", "localhost", ""},
		{"::ffff:127.1.2.3", "127.0.0.0/8", "localhost", ""},
		{"10.1.2.3", "", "", ""},
		{"2001:db8::1", "", "", ""},
	} {
		checkLookup(t, inv, h)
	}
	if e, ok := inv.Lookup(netip.Addr{}); ok {
		t.Errorf("Lookup(zero Addr) = %+v, true", e)
	}
}

// TestConcurrentLookup lets -race check that Lookup only reads.
func TestConcurrentLookup(t *testing.T) {
	inv, err := Parse([]byte(`[{"ip_address": "10.0.0.0/8", "hostgroup": "ten"}, {"ip_address": "10.1.2.3", "hostgroup": "one"}]`), "x", FormatAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				ip := netip.AddrFrom4([4]byte{10, 1, byte(g), byte(i)})
				if e, ok := inv.Lookup(ip); !ok || !e.Prefix.Contains(ip) {
					t.Errorf("Lookup(%s) = %+v, %v", ip, e, ok)
					return
				}
			}
		})
	}
	wg.Wait()
}
