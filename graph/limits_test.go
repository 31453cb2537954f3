package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

func TestMergeCountOverflow(t *testing.T) {
	sockets := host("web1", "web", "10.0.0.1", t0, up(5432, "app", "10.0.0.2", "db", math.MaxInt), up(5432, "app2", "10.0.0.2", "db", 1))
	bytesOver := host("web1", "web", "10.0.0.1", t0, up(5432, "app", "10.0.0.2", "db", 1), up(5432, "app2", "10.0.0.2", "db", 1))
	bytesOver.Connections[0].BytesSent = math.MaxUint64
	bytesOver.Connections[1].BytesSent = 1
	traffic := host("web1", "web", "10.0.0.1", t0)
	traffic.Traffic = &snapshot.Traffic{Peers: []snapshot.Peer{
		{RemoteIP: netip.MustParseAddr("10.0.0.2"), RemoteHostgroup: "db", EgressBytes: math.MaxUint64},
		{RemoteIP: netip.MustParseAddr("10.0.0.3"), RemoteHostgroup: "db", EgressBytes: 2},
	}}
	rates := windowedHost(host("web1", "web", "10.0.0.1", t0,
		withRate(up(5432, "app", "10.0.0.2", "db", 1), math.MaxFloat64, 0),
		withRate(up(5432, "app2", "10.0.0.2", "db", 1), math.MaxFloat64/2, 0)), 300)
	// A pair moved onto its DNAT backend adds to the client's direct
	// sockets to that backend: checked like every other sum.
	viaRouter := []*snapshot.Snapshot{
		host("app", "app", "10.0.0.1", t0, up(80, "direct", "10.0.9.2", "", math.MaxInt), up(8081, "viarouter", "10.0.0.5", "", 1)),
		host("router", "router", "10.0.0.5", t0, forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1)),
		host("backend", "backend", "10.0.9.2", t0, down(80, "web", "10.0.0.1", "", 3)),
	}
	if _, err := Merge(viaRouter, MergeOptions{}); err == nil || err.Error() != "merge: an edge's total of sockets overflows" {
		t.Errorf("forwarded pair: err = %v, want the sockets total's overflow", err)
	}
	for _, tt := range []struct {
		s    *snapshot.Snapshot
		want string
	}{
		{sockets, "host web1: connections[1]: its edge's total of sockets overflows"},
		{rates, "host web1: connections[1]: its edge's total of bytes per second overflows"},
		{bytesOver, "host web1: connections[1]: its edge's total of bytes overflows"},
		{traffic, "host web1: traffic.peers[1]: its node pair's total of bytes overflows"},
	} {
		_, err := Merge([]*snapshot.Snapshot{tt.s}, MergeOptions{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("err = %v, want %s", err, tt.want)
		}
	}
}

func TestMergePrefersSaneTime(t *testing.T) {
	now := t0.Add(time.Hour)
	recent := host("a", "web", "10.0.0.1", now, up(6379, "app", "10.0.0.9", "cache", 1))
	future := host("a", "web", "10.0.0.1", now.Add(time.Hour), up(11211, "app", "10.0.0.9", "memcache", 1))
	g, err := Merge([]*snapshot.Snapshot{recent, future}, MergeOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if g.Node("cache") == nil || !g.GeneratedAt.Equal(now) {
		t.Errorf("the future snapshot won: generated_at %v", g.GeneratedAt)
	}
}

func TestGraphLimitsAgree(t *testing.T) {
	defer func(n int) { maxEntries = n }(maxEntries)
	maxEntries = 1000
	var doc bytes.Buffer
	doc.WriteString(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T12:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[`)
	for i := range maxEntries + 1 {
		if i > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, `{"id":"n%d","kind":"external","host_count":1}`, i)
	}
	doc.WriteString(`],"edges":[]}`)
	_, err := Parse(doc.Bytes(), "big.json")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.json: line 1 (byte 47007): graph too large: more than 1000 nodes, edges and traffic pairs") {
		t.Errorf("Parse: %v", err)
	}

	s := host("big", "web", "10.0.0.1", t0)
	for i := range maxEntries {
		s.Connections = append(s.Connections, up(443, "app", netip.AddrFrom4([4]byte{198, byte(i >> 16), byte(i >> 8), byte(i)}).String(), "", 1))
	}
	m, _ := NewMerger(MergeOptions{By: ByHost})
	if err := m.Add(s); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "group external peers (collapse, or cidr:N)") || strings.Contains(err.Error(), "--") {
		t.Errorf("Merger.Add: %v", err)
	}

	g := &Graph{Schema: Schema, By: ByHost, External: "ip"}
	for i := range maxEntries + 1 {
		g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprint(i), Kind: KindExternal, HostCount: 1})
	}
	var out bytes.Buffer
	if err := Write(&out, g); !errors.Is(err, ErrTooLarge) || out.Len() != 0 {
		t.Errorf("Write: %v, %d bytes written", err, out.Len())
	}
}

func TestGraphEntryTooLarge(t *testing.T) {
	var doc bytes.Buffer
	doc.WriteString("{\"schema\": \"planet.graph/v1\", \"generated_at\": \"2025-03-01T12:00:00Z\", \"by\": \"host\", \"external\": \"ip\", \"snapshots\": 1,\n\"nodes\": [{\"id\": \"a\", \"kind\": \"host\", \"host_count\": 1, \"hosts\": [\"")
	doc.WriteString(strings.Repeat("x", MaxEntrySize))
	doc.WriteString("\"]}], \"edges\": []}")
	_, err := Parse(doc.Bytes(), "big.json")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("big.json: line 2 (byte 128): graph too large: nodes[0]: larger than %d bytes", MaxEntrySize)) {
		t.Errorf("Parse: %v", err)
	}
}

// TestWriteEntryTooLarge: Write refuses a node whose text passes
// MaxEntrySize, which render and diff would refuse.
func TestWriteEntryTooLarge(t *testing.T) {
	defer func(n int64) { maxDecoded = n }(maxDecoded)
	maxDecoded = 1 << 40
	hosts := make([]string, MaxEntrySize/8+1)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%05x", i)
	}
	g := &Graph{Schema: Schema, By: ByHostgroup, External: "ip", Snapshots: 1,
		Nodes: []*Node{{ID: "web", Kind: KindHostgroup, HostCount: len(hosts), Hosts: hosts}}}
	err := Write(io.Discard, g)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("nodes[0]: larger than %d bytes", MaxEntrySize)) {
		t.Errorf("Write: %v", err)
	}
	// Nine bytes a host without white space, 17 indented: what is
	// written is read back, whatever its indentation.
	g.Nodes[0].Hosts = hosts[:MaxEntrySize/10]
	g.Nodes[0].HostCount = len(g.Nodes[0].Hosts)
	var doc bytes.Buffer
	if err := Write(&doc, g); err != nil {
		t.Fatalf("Write of fewer hosts: %v", err)
	}
	if doc.Len() < MaxEntrySize {
		t.Fatalf("the document is %d bytes: the node's text must pass MaxEntrySize once indented", doc.Len())
	}
	if _, err := Parse(doc.Bytes(), "indented.json"); err != nil {
		t.Errorf("Parse of what Write wrote: %v", err)
	}
}

func TestTextSize(t *testing.T) {
	for _, tt := range []struct {
		text string
		want int
	}{
		{`{"a": [1, 2]}`, 11},
		{"{\n  \"a b\": \"x \\\" y\"\n}", 16},
		{`" "`, 3},
		{`[ ]`, 2},
	} {
		if got := textSize([]byte(tt.text)); got != tt.want {
			t.Errorf("textSize(%s) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

// TestWriteRefusesFirst: Write refuses a graph render and diff would
// refuse (its weight passes MaxDecoded, or one entry's text passes
// MaxEntrySize) before it writes a byte, naming the element at fault;
// the reader of the same document names the same element.
func TestWriteRefusesFirst(t *testing.T) {
	defer func(n int64) { maxDecoded = n }(maxDecoded)
	// 1,000 nodes, 2 edges from each, 5 traffic pairs, in order: more
	// text before the last nodes than Write buffers.
	valid := func() *Graph {
		g := &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: 1000}
		for i := range 1000 {
			g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprintf("n%03d", i), Kind: KindHost, HostCount: 1, Hosts: []string{fmt.Sprintf("host-%d", i)}})
		}
		for i := range 1000 {
			for port := range 2 {
				g.Edges = append(g.Edges, &Edge{From: g.Nodes[i].ID, To: g.Nodes[(i+1)%1000].ID, Protocol: "tcp", Port: uint16(1 + port),
					SeenFrom: SeenBoth, ClientHosts: 1, ServerHosts: 1, Sockets: 1,
					EdgeNames: &EdgeNames{ClientProcesses: []string{fmt.Sprintf("p%d", i%7)}}})
			}
		}
		for i := range 5 {
			g.Traffic = append(g.Traffic, &Traffic{From: g.Nodes[i].ID, To: g.Nodes[i+1].ID, Bytes: 1, SeenFrom: SeenBoth})
		}
		return g
	}
	// limitAt is the weight limit that the element at is the first to
	// pass: the weight of the elements before it.
	limitAt := func(g *Graph, at string) int64 {
		w := newWeigher()
		w.limit = math.MaxInt64
		for i, n := range g.Nodes {
			if fmt.Sprintf("nodes[%d]", i) == at {
				return w.size
			}
			_ = w.weighNode(n)
		}
		for i, e := range g.Edges {
			if fmt.Sprintf("edges[%d]", i) == at {
				return w.size
			}
			_ = w.weighEdge(e)
		}
		for i, tr := range g.Traffic {
			if fmt.Sprintf("traffic[%d]", i) == at {
				return w.size
			}
			_ = w.weighTraffic(tr)
		}
		t.Fatalf("no element %s", at)
		return 0
	}
	// names returns n names of 6 bytes (9 bytes of text each, quoted
	// and separated): more than MaxEntrySize in all past MaxEntrySize/9.
	names := func(n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("h%05x", i)
		}
		return l
	}
	for _, tt := range []struct {
		name string
		// at, for a weight limit: the first element past it
		at    string
		graph func() *Graph
		want  string
		// other: an error not wrapping ErrTooLarge
		other bool
	}{
		{name: "weight at a node", at: "nodes[915]", graph: valid, want: "nodes[915]: graph too large: more than"},
		{name: "weight at an edge", at: "edges[1234]", graph: valid, want: "edges[1234]: graph too large: more than"},
		{name: "weight at a traffic pair", at: "traffic[3]", graph: valid, want: "traffic[3]: graph too large: more than"},
		{name: "node text", graph: func() *Graph {
			g := valid()
			g.Nodes[901].Hosts = names(MaxEntrySize/9 + 1)
			return g
		}, want: fmt.Sprintf("nodes[901]: larger than %d bytes", MaxEntrySize)},
		{name: "edge text", graph: func() *Graph {
			g := valid()
			g.Edges[1057].Dialled = names(MaxEntrySize/9 + 1)
			return g
		}, want: fmt.Sprintf("edges[1057]: larger than %d bytes", MaxEntrySize)},
		{name: "edge text escaped", graph: func() *Graph {
			// Each control character is written as 6 bytes (\u0001).
			g := valid()
			g.Edges[1999].ClientProcesses = []string{strings.Repeat("\x01", MaxEntrySize/6)}
			return g
		}, want: fmt.Sprintf("edges[1999]: larger than %d bytes", MaxEntrySize)},
		{name: "traffic text", graph: func() *Graph {
			g := valid()
			g.Traffic[4].To = strings.Repeat("x", MaxEntrySize)
			return g
		}, want: fmt.Sprintf("traffic[4]: larger than %d bytes", MaxEntrySize)},
		// maxSize lowered below the graph's text (set in the run).
		{name: "text size", graph: valid, want: "more than 100000 bytes"},
		// JSON has no NaN, and the reader refuses a negative rate.
		{name: "rate NaN", graph: func() *Graph {
			g := valid()
			g.Edges[1500].EdgeBytes = &EdgeBytes{Windowed: true, BytesPerSecondToClient: math.NaN()}
			return g
		}, want: "edges[1500]: n750 -> n751 tcp/1: bytes per second to server 0, to client NaN: negative, infinite or NaN", other: true},
		{name: "rate negative", graph: func() *Graph {
			g := valid()
			g.Edges[1501].EdgeBytes = &EdgeBytes{Windowed: true, BytesPerSecondToServer: -1}
			return g
		}, want: "edges[1501]: n750 -> n751 tcp/2: bytes per second to server -1, to client 0: negative", other: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.graph()
			maxDecoded = 1 << 40
			if tt.name == "text size" {
				defer func(n int64) { maxSize = n }(maxSize)
				maxSize = 100000
			}
			var doc bytes.Buffer
			if tt.at != "" {
				if err := Write(&doc, g); err != nil {
					t.Fatal(err)
				}
				maxDecoded = limitAt(g, tt.at)
			}
			var out bytes.Buffer
			err := Write(&out, g)
			if err == nil || errors.Is(err, ErrTooLarge) == tt.other || !strings.Contains(err.Error(), tt.want) || out.Len() != 0 {
				t.Errorf("Write: %v, %d bytes written; want an error naming %q and nothing written", err, out.Len(), tt.want)
			}
			if tt.at != "" {
				if _, err := Parse(doc.Bytes(), "doc.json"); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Parse: %v, want an error naming %q", err, tt.want)
				}
			}
		})
	}
}

// TestEntryBound: entryBound bounds what an entry's text is, as Write
// writes it and the reader counts it (textSize), at its longest: every
// member, numbers at their longest, strings escaped at their longest.
func TestEntryBound(t *testing.T) {
	odd := "\"\\\x01\n\t\u2028\u2029\xff\xe2\x80<>&é日本\u007f"
	for _, s := range []string{"", "plain", odd, "\xed\xa0\x80", "\xf4\x90\x80\x80"} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // as Write
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		text := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := quotedLen(s); got < len(text) || got > 6*len(s)+2 {
			t.Errorf("quotedLen(%q) = %d, written %d (%s)", s, got, len(text), text)
		}
	}
	long := []string{"", odd}
	for _, v := range []any{
		&Node{Kind: KindExternal, HostCount: math.MinInt, Hosts: []string{""}, Domains: []string{""}, IncompleteHosts: []string{""}, UnownedSockets: math.MinInt},
		&Node{ID: odd, Kind: NodeKind(odd), HostCount: 1, Hosts: long, Domains: long, IncompleteHosts: long},
		&Edge{Port: math.MaxUint16, SeenFrom: SeenFrom(math.MaxUint8), ClientHosts: math.MinInt, ServerHosts: math.MinInt, Sockets: math.MinInt,
			EdgeNames: &EdgeNames{[]string{""}, []string{""}, []string{""}, []string{""}, []string{""}},
			EdgeBytes: &EdgeBytes{math.MaxUint64, math.MaxUint64, true, -1.2345678901234567e-300, -1.2345678901234567e-300}},
		&Edge{From: odd, To: odd, Protocol: odd, Port: 1, SeenFrom: SeenBoth, EdgeNames: &EdgeNames{long, long, long, long, long}},
		&Edge{From: "a", To: "b", Protocol: "tcp", Port: 1, SeenFrom: SeenBoth, EdgeNames: &EdgeNames{Dialled: []string{"10.0.0.1:80"}}}, // appendEdge's
		&Traffic{Bytes: math.MaxUint64, SeenFrom: SeenFrom(math.MaxUint8)},
		&Traffic{From: odd, To: odd},
	} {
		text, err := newEntryEncoder().encode(v)
		if err != nil {
			t.Fatal(err)
		}
		size, exact, bound := textSize(text), entryBound1(v, true), entryBound1(v, false)
		if size > exact || exact > bound {
			t.Errorf("%T %s: text %d bytes, exact bound %d, bound %d", v, text, size, exact, bound)
		}
		if over := size - (exact - entryOverhead); over > 500 {
			t.Errorf("%T %s: %d bytes beside its strings, more than the 500 entryOverhead's comment says", v, text, over)
		}
	}
}

// TestWriteEntryAtLimit: an entry whose text is MaxEntrySize bytes is
// written and read back; a byte more, Write refuses it and writes
// nothing. The escaped names ("\t" is written in 2 bytes, weighed at 6
// by the quick bounds) are measured in full.
func TestWriteEntryAtLimit(t *testing.T) {
	defer func(n int64) { maxDecoded = n }(maxDecoded)
	maxDecoded = 1 << 40
	hosts := make([]string, 500_000)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%05x", i)
	}
	for _, tt := range []struct {
		name string
		// graph has the entry at fault with a name of tabs and plain
		// bytes, at entry
		graph func(tabs, plain int) *Graph
		entry func(g *Graph) any
	}{
		{"node", func(tabs, plain int) *Graph {
			return &Graph{Schema: Schema, By: ByHostgroup, External: "ip", Snapshots: 1, Nodes: []*Node{{ID: "web", Kind: KindHostgroup,
				HostCount: 1, Hosts: append(slices.Clone(hosts), strings.Repeat("\t", tabs)+strings.Repeat("x", plain))}}}
		}, func(g *Graph) any { return g.Nodes[0] }},
		{"edge", func(tabs, plain int) *Graph {
			return &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: 1,
				Nodes: []*Node{{ID: "a", Kind: KindHost, HostCount: 1}, {ID: "b", Kind: KindHost, HostCount: 1}},
				Edges: []*Edge{{From: "a", To: "b", Protocol: "tcp", Port: 1, SeenFrom: SeenClient, ClientHosts: 1, Sockets: 1,
					EdgeNames: &EdgeNames{ClientProcesses: []string{strings.Repeat("\t", tabs) + strings.Repeat("x", plain)}}}}}
		}, func(g *Graph) any { return g.Edges[0] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text, err := newEntryEncoder().encode(tt.entry(tt.graph(0, 0)))
			if err != nil {
				t.Fatal(err)
			}
			room := MaxEntrySize - textSize(text)
			g := tt.graph(room/2, room%2)
			if text, _ := newEntryEncoder().encode(tt.entry(g)); textSize(text) != MaxEntrySize {
				t.Fatalf("the entry's text is %d bytes, want %d", textSize(text), MaxEntrySize)
			}
			var doc bytes.Buffer
			if err := Write(&doc, g); err != nil {
				t.Fatalf("Write at the limit: %v", err)
			}
			if _, err := Parse(doc.Bytes(), "doc.json"); err != nil {
				t.Errorf("Parse at the limit: %v", err)
			}
			var out bytes.Buffer
			if err := Write(&out, tt.graph(room/2, room%2+1)); !errors.Is(err, ErrTooLarge) || out.Len() != 0 {
				t.Errorf("Write a byte over the limit: %v, %d bytes written", err, out.Len())
			}
		})
	}
}

// entryBound1 is entryBound's bound alone.
func entryBound1(v any, exact bool) int { b, _ := entryBound(v, exact); return b }

// TestSizeBound: sizeBound, which says whether Write writes a graph to
// nothing first to check its size, is never under what Write writes; and
// a graph whose text is exactly MaxSize is written, one byte more is
// refused with nothing written.
func TestSizeBound(t *testing.T) {
	defer func(n int64) { maxSize = n }(maxSize)
	for i, g := range weightGraphs(t) {
		var buf bytes.Buffer
		if err := Write(&buf, g); err != nil {
			t.Fatal(err)
		}
		if b := sizeBound(g, len(g.Edges), func(i int) *Edge { return g.Edges[i] }); b < int64(buf.Len()) {
			t.Errorf("graph %s: bound %d under its %d bytes of text", i, b, buf.Len())
		}
		for _, limit := range []int64{int64(buf.Len()), int64(buf.Len()) - 1} {
			maxSize = limit
			var out bytes.Buffer
			err := Write(&out, g)
			if fits := limit == int64(buf.Len()); fits != (err == nil) || !fits && (!errors.Is(err, ErrTooLarge) || out.Len() != 0) {
				t.Errorf("graph %s, %d bytes, limit %d: %v, %d bytes written", i, buf.Len(), limit, err, out.Len())
			}
			if _, err := Parse(buf.Bytes(), "doc.json"); (limit == int64(buf.Len())) != (err == nil) {
				t.Errorf("graph %s, %d bytes, limit %d: Parse: %v", i, buf.Len(), limit, err)
			}
		}
		maxSize = MaxSize
	}
}

// spaces is an endless stream of white space.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = " \n\t"[i%3]
	}
	return len(p), nil
}

// TestReadEndlessSpace: white space without end, from a pipe, between
// the document's members, between elements or after the document, is
// refused once the text passes MaxSize: the reader does not wait for it
// to end.
func TestReadEndlessSpace(t *testing.T) {
	defer func(n int64) { maxSize = n }(maxSize)
	maxSize = 1 << 20
	head := `{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[{"id":"a","kind":"host","host_count":1}`
	for _, tt := range []struct{ name, before string }{
		{"between members", `{"schema":"planet.graph/v1",`},
		{"between elements", head + ","},
		{"after the document", head + `],"edges":[]}`},
	} {
		_, err := Read(io.MultiReader(strings.NewReader(tt.before), spaces{}), "pipe")
		if !errors.Is(err, ErrTooLarge) || strings.Count(err.Error(), "pipe") != 1 || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
			t.Errorf("%s: %v, want the text refused past 1048576 bytes, naming pipe once", tt.name, err)
		}
	}
}
