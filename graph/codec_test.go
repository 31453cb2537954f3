package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

func goldenDoc(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("testdata", "golden", "hostgroup.json"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestParseErrors(t *testing.T) {
	doc := goldenDoc(t)
	replace := func(old, new string) []byte {
		if !bytes.Contains(doc, []byte(old)) {
			t.Fatalf("golden file lacks %q", old)
		}
		return bytes.Replace(doc, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"unknown schema", replace(`"planet.graph/v1"`, `"planet.graph/v2"`), `unsupported schema "planet.graph/v2"`},
		{"a snapshot", replace(`"planet.graph/v1"`, `"planet.snapshot/v1"`), "unsupported schema"},
		{"no schema", replace(`"schema"`, `"scheme"`), "unsupported schema"},
		{"truncated", doc[:len(doc)/2], "truncated document"},
		{"trailing data", append(bytes.Clone(doc), "[]"...), "trailing data"},
		{"unknown field", replace(`"host_count": 2`, `"host_count": 2, "color": "red"`), "unknown field"},
		{"bad by", replace(`"by": "hostgroup"`, `"by": "rack"`), "by:"},
		{"bad external", replace(`"external": "ip"`, `"external": "cidr:99"`), "external:"},
		{"bad kind", replace(`"kind": "hostgroup"`, `"kind": "cluster"`), "unknown kind"},
		{"edge to nowhere", replace(`"to": "cache"`, `"to": "nowhere"`), "unknown node"},
		{"bad seen_from", replace(`"seen_from": "client"`, `"seen_from": "nobody"`), "seen_from"},
		{"duplicate node", replace(`"id": "api"`, `"id": "cache"`), "duplicate id"},
		{"port out of range", replace(`"port": 6379`, `"port": 70000`), "cannot unmarshal"},
		{"negative count", replace(`"sockets": 9`, `"sockets": -9`), "negative"},
		{"negative unowned sockets", replace(`"host_count": 2`, `"host_count": 2, "unowned_sockets": -1`), "negative"},
		{"null node", replace(`"nodes": [`, `"nodes": [null,`), "null"},
		{"duplicate member in an edge", replace(`"sockets": 9`, `"sockets": 9, "Sockets": 9`), "duplicate member"},
		{"duplicate member of the graph", replace(`"by": "hostgroup"`, `"by": "hostgroup", "BY": "host"`), "duplicate member"},
		{"truncated, where", doc[:len(doc)/2], "line "},
		{"unknown field, where", replace(`"host_count": 2`, `"host_count": 2, "color": "red"`), "line "},
	}
	base, err := Parse(doc, "base.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		// Read against the document itself (ReadShared): as strict.
		for _, shared := range []*Graph{nil, base} {
			t.Run(tt.name+map[bool]string{false: "", true: "/shared"}[shared != nil], func(t *testing.T) {
				_, err := ReadShared(bytes.NewReader(tt.doc), "graph.json", shared)
				if err == nil {
					t.Fatal("no error")
				}
				var se *snapshot.Error
				if !errors.As(err, &se) || se.Name != "graph.json" {
					t.Errorf("error %T %v does not name the file", err, err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q, want %q", err, tt.want)
				}
			})
		}
	}
	if _, err := Parse(replace(`"planet.graph/v1"`, `"planet.graph/v2"`), "x"); !errors.Is(err, snapshot.ErrSchema) {
		t.Errorf("unknown schema does not wrap ErrSchema: %v", err)
	}
}

func TestReadRebuildsGonumGraph(t *testing.T) {
	g, err := Read(bytes.NewReader(goldenDoc(t)), "hostgroup.json")
	if err != nil {
		t.Fatal(err)
	}
	gg := g.Gonum()
	if n := gg.Nodes().Len(); n != len(g.Nodes) {
		t.Errorf("gonum has %d nodes, graph %d", n, len(g.Nodes))
	}
	lines := gg.WeightedLines(g.GonumID("web"), g.GonumID("db"))
	if lines.Len() != 1 {
		t.Fatalf("web -> db: %d lines", lines.Len())
	}
	lines.Next()
	l := lines.WeightedLine()
	if e := g.EdgeOf(l); e.Port != 5432 || l.Weight() != 4 {
		t.Errorf("web -> db line: %+v weight %v", e, l.Weight())
	}
	if got := len(g.EdgesBetween("db", "db")); got != 1 {
		t.Errorf("db self-loop: %d edges", got)
	}
	if g.NodeOf(g.GonumID("web")) != g.Node("web") || g.NodeOf(-1) != nil || g.GonumID("nowhere") != -1 {
		t.Error("NodeOf")
	}
}

// roundTrip is the fuzz property: a document that reads OK, written and
// read back, is the same graph, and writing is then a fixed point.
func roundTrip(t *testing.T, doc []byte) {
	g1, err := Parse(doc, "fuzz")
	if err != nil {
		return
	}
	var b1 bytes.Buffer
	if err := Write(&b1, g1); err != nil {
		t.Fatalf("write: %v", err)
	}
	g2, err := Parse(b1.Bytes(), "rewritten")
	if err != nil {
		t.Fatalf("reading what was written: %v\n%s", err, b1.String())
	}
	if !g1.GeneratedAt.Equal(g2.GeneratedAt) {
		t.Fatalf("generated_at %v != %v", g1.GeneratedAt, g2.GeneratedAt)
	}
	g2.GeneratedAt = g1.GeneratedAt
	if !reflect.DeepEqual(g1.Nodes, g2.Nodes) || !reflect.DeepEqual(g1.Edges, g2.Edges) || !reflect.DeepEqual(g1.Traffic, g2.Traffic) ||
		g1.By != g2.By || g1.External != g2.External || g1.Snapshots != g2.Snapshots {
		t.Fatalf("round trip changed the graph:\n%s", b1.String())
	}
	var b2 bytes.Buffer
	if err := Write(&b2, g2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Fatalf("second write differs:\n%s\n%s", b1.String(), b2.String())
	}
}

// FuzzRead: seeds are in testdata/fuzz/FuzzRead plus the golden files.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, p := range files {
		doc, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
	}
	f.Fuzz(roundTrip)
}

// The fields issue #15 added read back: seen_from "mixed", a node's
// incomplete_hosts and unowned_sockets; a graph without them (every
// golden file, written before them) reads as before.
func TestParseIncompleteAndMixed(t *testing.T) {
	doc := goldenDoc(t)
	doc = bytes.Replace(doc, []byte(`"seen_from": "client"`), []byte(`"seen_from": "mixed"`), 1)
	doc = bytes.Replace(doc, []byte(`"host_count": 2`), []byte(`"host_count": 2, "incomplete_hosts": ["db2", "db1"], "unowned_sockets": 4`), 1)
	g, err := Parse(doc, "graph.json")
	if err != nil {
		t.Fatal(err)
	}
	var mixed, incomplete int
	for _, e := range g.Edges {
		if e.SeenFrom == SeenMixed {
			mixed++
		}
	}
	for _, n := range g.Nodes {
		if len(n.IncompleteHosts) > 0 {
			incomplete++
			if !reflect.DeepEqual(n.IncompleteHosts, []string{"db1", "db2"}) || n.UnownedSockets != 4 {
				t.Errorf("node %s: incomplete %v, unowned %d", n.ID, n.IncompleteHosts, n.UnownedSockets)
			}
		}
	}
	if mixed != 1 || incomplete != 1 {
		t.Errorf("%d mixed edges, %d incomplete nodes; want 1, 1", mixed, incomplete)
	}
}

// Write, which encodes one element at a time, gives the bytes encoding/json
// gives the whole graph (two-space indentation, no HTML escaping), names
// that need escaping included.
func TestWriteIsEncodingJSON(t *testing.T) {
	odd := "a<b>&c\"d\\e\u2028f\x01g\xffé"
	g := &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: 2, WindowedSnapshots: 1,
		GeneratedAt: time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC),
		Nodes:       []*Node{{ID: odd, Kind: KindHost, HostCount: 1, Hosts: []string{odd}}, {ID: "b", Kind: KindExternal}},
		Edges: []*Edge{{From: odd, To: "b", Protocol: "tcp", Port: 443, SeenFrom: SeenClient, EdgeNames: &EdgeNames{ClientProcesses: []string{odd}},
			Sockets: 3, EdgeBytes: &EdgeBytes{Windowed: true, BytesPerSecondToServer: 1e21, BytesPerSecondToClient: 0.000001}}},
		Traffic: []*Traffic{{From: odd, To: "b", Bytes: 7, SeenFrom: SeenSender}},
	}
	for _, g := range []*Graph{g, {Schema: Schema, By: ByHostgroup, External: "collapse"}} {
		var got, want bytes.Buffer
		if err := Write(&got, g); err != nil {
			t.Fatal(err)
		}
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		out := *g
		if out.Nodes == nil {
			out.Nodes = []*Node{}
		}
		if out.Edges == nil {
			out.Edges = []*Edge{}
		}
		if err := enc.Encode(&out); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("Write:\n%s\nencoding/json:\n%s", got.String(), want.String())
		}
	}
}

// TestParseSeenFrom: each SeenFrom value reads back from its name, which
// is what the JSON holds; any other text is an error naming it.
func TestParseSeenFrom(t *testing.T) {
	for _, v := range []SeenFrom{SeenBoth, SeenClient, SeenServer, SeenMixed, SeenSender, SeenReceiver} {
		got, err := ParseSeenFrom(v.String())
		if err != nil || got != v {
			t.Errorf("ParseSeenFrom(%q) = %v, %v; want %v", v.String(), got, err, v)
		}
		text, _ := json.Marshal(v)
		if want := `"` + v.String() + `"`; string(text) != want {
			t.Errorf("JSON of %v: %s, want %s", v, text, want)
		}
	}
	for _, bad := range []string{"", "Both", "nobody", "both "} {
		if v, err := ParseSeenFrom(bad); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("ParseSeenFrom(%q) = %v, %v; want an error quoting it", bad, v, err)
		}
	}
}

// TestParseNodeKind: each kind reads back from its name; any other text is
// an error naming it.
func TestParseNodeKind(t *testing.T) {
	for _, k := range []NodeKind{KindHostgroup, KindHost, KindExternal, KindWorkload} {
		if got, err := ParseNodeKind(string(k)); err != nil || got != k {
			t.Errorf("ParseNodeKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, bad := range []string{"", "Host", "peer", "host "} {
		if k, err := ParseNodeKind(bad); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("ParseNodeKind(%q) = %q, %v; want an error quoting it", bad, k, err)
		}
	}
}

// TestReadShared reads versions of the golden graph against it: the graph
// is the one Read gives, and the edges equal in every field are the base
// graph's own.
func TestReadShared(t *testing.T) {
	doc := goldenDoc(t)
	base, err := Parse(doc, "base.json")
	if err != nil {
		t.Fatal(err)
	}
	// The same graph with its edges written in reverse order.
	rev := *base
	rev.Edges = slices.Clone(base.Edges)
	slices.Reverse(rev.Edges)
	var reversed bytes.Buffer
	if err := writeGraph(&reversed, &rev, len(rev.Edges), func(i int) *Edge { return rev.Edges[i] }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		doc    []byte
		shared int // edges that are base's
	}{
		{"itself", doc, len(base.Edges)},
		{"edges in reverse order", reversed.Bytes(), len(base.Edges)},
		{"one edge's sockets", bytes.Replace(doc, []byte(`"sockets": 9`), []byte(`"sockets": 10`), 1), len(base.Edges) - 1},
		{"one edge's processes", bytes.Replace(doc, []byte(`"nginx"`), []byte(`"apache"`), 1), len(base.Edges) - 1},
		{"one edge's seen_from", bytes.Replace(doc, []byte(`"seen_from": "server"`), []byte(`"seen_from": "both"`), 1), len(base.Edges) - 1},
		{"one edge's key", bytes.Replace(doc, []byte(`"port": 80,`), []byte(`"port": 81,`), 1), len(base.Edges) - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := Parse(tt.doc, "new.json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadShared(bytes.NewReader(tt.doc), "new.json", base)
			if err != nil {
				t.Fatal(err)
			}
			var a, b bytes.Buffer
			if err := Write(&a, want); err != nil {
				t.Fatal(err)
			}
			if err := Write(&b, got); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Errorf("ReadShared gave\n%s\nRead\n%s", &b, &a)
			}
			shared := 0
			for _, e := range got.Edges {
				if slices.Contains(base.Edges, e) {
					shared++
				}
			}
			if shared != tt.shared {
				t.Errorf("%d edges shared with the base graph, want %d", shared, tt.shared)
			}
		})
	}
	// An edge equal to one of base's, twice: both are base's edge, and
	// still a duplicate.
	first := doc[bytes.Index(doc, []byte(`"edges": [`))+len(`"edges": [`):]
	first = first[:bytes.Index(first, []byte("},"))+2]
	dup := bytes.Replace(doc, []byte(`"edges": [`), append([]byte(`"edges": [`), first...), 1)
	if _, err := ReadShared(bytes.NewReader(dup), "dup.json", base); err == nil || !strings.Contains(err.Error(), "duplicate edge") {
		t.Errorf("a duplicated shared edge: error %v, want a duplicate edge", err)
	}
}

// TestAppendEdge: the hand-written edge encoding is encoding/json's, byte
// for byte, for every edge it takes, and it takes the common ones.
func TestAppendEdge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"api", "db-01.node.consul", "198.18.0.7", "2001:db8::1", "tcp", "udp", "nginx", "java",
		"a<b>&c", "quo\"te", `back\slash`, "tab\there", "naïve", "\u2028", "x\x7fy", "", "10.0.0.1:443"}
	pick := func(n int) []string {
		var out []string
		for range r.IntN(n + 1) {
			out = append(out, words[r.IntN(len(words))])
		}
		return out
	}
	edges := []*Edge{
		{From: "a", To: "b", Protocol: "tcp", Port: 443, SeenFrom: SeenBoth},
		{From: "a", To: "b", Protocol: "tcp", Port: 65535, SeenFrom: SeenMixed, ClientHosts: math.MaxInt, ServerHosts: 0, Sockets: -1,
			EdgeBytes: &EdgeBytes{PortBytesToServer: math.MaxUint64, Windowed: true}},
		{From: "a", To: "b", Protocol: "udp", Port: 53, SeenFrom: SeenFrom(9)},
		{From: "a", To: "b", Protocol: "tcp", Port: 1, SeenFrom: SeenClient, EdgeBytes: &EdgeBytes{BytesPerSecondToServer: 1.5e-7}},
	}
	for range 2000 {
		e := &Edge{From: words[r.IntN(len(words))], To: words[r.IntN(len(words))], Protocol: words[r.IntN(6)],
			Port: uint16(r.IntN(65536)), SeenFrom: SeenFrom(1 + r.IntN(4)),
			ClientHosts: r.IntN(1000), ServerHosts: r.IntN(3), Sockets: r.IntN(1 << 20)}
		if r.IntN(2) == 0 {
			e.EdgeNames = &EdgeNames{ClientProcesses: pick(3), ServerProcesses: pick(2), ClientWorkloads: pick(1), ServerWorkloads: pick(1), Dialled: pick(2)}
		}
		if r.IntN(2) == 0 {
			e.EdgeBytes = &EdgeBytes{PortBytesToServer: r.Uint64() >> r.IntN(64), PortBytesToClient: r.Uint64() >> r.IntN(64), Windowed: r.IntN(2) == 0}
		}
		edges = append(edges, e)
	}
	common := regexp.MustCompile(`^[ !#-\[\]-~]*$`) // printable ASCII but '"' and '\\'
	for _, e := range edges {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("    ", "  ")
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(buf.String(), "\n")
		got, ok := appendEdge([]byte("prefix"), e)
		n := e.Names()
		strs := slices.Concat([]string{e.From, e.To, e.Protocol, e.SeenFrom.String()},
			n.ClientProcesses, n.ServerProcesses, n.ClientWorkloads, n.ServerWorkloads, n.Dialled)
		if plain := !slices.ContainsFunc(strs, func(s string) bool { return !common.MatchString(s) }) &&
			e.Bytes().BytesPerSecondToServer == 0 && e.Bytes().BytesPerSecondToClient == 0; ok != plain {
			t.Errorf("edge %s: taken %v, want %v", e, ok, plain)
		}
		if !ok {
			if string(got) != "prefix" {
				t.Errorf("edge %s: refused after writing %q", e, got)
			}
			continue
		}
		if string(got) != "prefix"+want {
			t.Errorf("edge %s:\n%s\nencoding/json:\n%s", e, got[len("prefix"):], want)
		}
	}
}

// TestReadForCompare: comparing with a graph read by ReadForCompare gives
// the diff Read's gives, for documents whose counts, bytes, processes or
// node kinds moved, with every DiffOptions; the edges that did not change
// are the base graph's.
func TestReadForCompare(t *testing.T) {
	doc := goldenDoc(t)
	base, err := Parse(doc, "base.json")
	if err != nil {
		t.Fatal(err)
	}
	sockets := regexp.MustCompile(`"sockets": (\d+)`)
	portBytes := regexp.MustCompile(`"port_bytes_to_(server|client)": (\d+)`)
	edit := func(doc []byte, moreSockets, moreBytes bool, old, new string) []byte {
		if moreSockets {
			doc = sockets.ReplaceAllFunc(doc, func(m []byte) []byte {
				n, _ := strconv.Atoi(string(sockets.FindSubmatch(m)[1]))
				return []byte(`"sockets": ` + strconv.Itoa(n+1))
			})
		}
		if moreBytes {
			doc = portBytes.ReplaceAll(doc, []byte(`"port_bytes_to_$1": 7$2`))
		}
		if old != "" {
			if !bytes.Contains(doc, []byte(old)) {
				t.Fatalf("golden file lacks %q", old)
			}
			doc = bytes.Replace(doc, []byte(old), []byte(new), 1)
		}
		return doc
	}
	// The nodes after the edges (a hand-written order): the kinds are
	// not known while the edges are read.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(edit(doc, true, false, "", ""), &members); err != nil {
		t.Fatal(err)
	}
	var late bytes.Buffer
	late.WriteString("{")
	for i, m := range []string{"schema", "generated_at", "by", "external", "snapshots", "edges", "nodes", "traffic"} {
		if i > 0 {
			late.WriteString(",")
		}
		late.WriteString(strconv.Quote(m) + ":" + string(members[m]))
	}
	late.WriteString("}")
	tests := []struct {
		name string
		doc  []byte
		// shared: edges that are base's with the default options.
		shared int
	}{
		{"itself", doc, len(base.Edges)},
		{"every socket count", edit(doc, true, false, "", ""), len(base.Edges)},
		{"socket and byte counts", edit(doc, true, true, "", ""), len(base.Edges)},
		{"a process", edit(doc, true, false, `"nginx"`, `"apache"`), len(base.Edges) - 1},
		{"a host count", edit(doc, true, false, `"client_hosts": 1`, `"client_hosts": 3`), len(base.Edges) - 1},
		{"an external node becomes a host", edit(doc, true, false, `"kind": "external"`, `"kind": "host"`), len(base.Edges) - 1},
		{"nodes after edges", late.Bytes(), 0},
	}
	for _, tt := range tests {
		for _, opts := range []DiffOptions{{}, {ExternalChanges: true}, {BytesChangePercent: 10}, {BytesChangePercent: 10, ExternalChanges: true}} {
			t.Run(fmt.Sprintf("%s/%+v", tt.name, opts), func(t *testing.T) {
				want, err := Parse(tt.doc, "new.json")
				if err != nil {
					t.Fatal(err)
				}
				got, err := ReadForCompare(bytes.NewReader(tt.doc), "new.json", base, opts)
				if err != nil {
					t.Fatal(err)
				}
				a, _ := json.MarshalIndent(Compare(base, want, opts), "", " ")
				b, _ := json.MarshalIndent(Compare(base, got, opts), "", " ")
				if string(a) != string(b) {
					t.Errorf("diff with ReadForCompare's graph:\n%s\nwith Read's:\n%s", b, a)
				}
				// As planet diff holds them: each graph as Compare
				// compares it, the new one read against the old one so.
				forCompare := ForCompare(base, opts)
				got, err = ReadForCompare(bytes.NewReader(tt.doc), "new.json", forCompare, opts)
				if err != nil {
					t.Fatal(err)
				}
				c, _ := json.MarshalIndent(Compare(forCompare, ForCompare(got, opts), opts), "", " ")
				if string(a) != string(c) {
					t.Errorf("diff of the graphs as ForCompare gives them:\n%s\nof Read's:\n%s", c, a)
				}
				if again := ForCompare(forCompare, opts); again != forCompare {
					t.Errorf("ForCompare of its own result made another graph")
				}
				// Collapsed, it holds none of base's edges (which Read
				// allocates in blocks: one would keep a block alive).
				for _, e := range forCompare.Edges {
					if forCompare != base && slices.Contains(base.Edges, e) {
						t.Fatalf("ForCompare kept base's edge %s", e)
					}
				}
				got, _ = ReadForCompare(bytes.NewReader(tt.doc), "new.json", base, opts)
				shared := 0
				for _, e := range got.Edges {
					if slices.Contains(base.Edges, e) {
						shared++
					}
				}
				if opts == (DiffOptions{}) && shared != tt.shared {
					t.Errorf("%d edges shared with the base graph, want %d", shared, tt.shared)
				}
			})
		}
	}
	// Still as strict: a negative count is an error, shared or not.
	if _, err := ReadForCompare(bytes.NewReader(edit(doc, false, false, `"sockets": 9`, `"sockets": -9`)), "neg.json", base, DiffOptions{}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("a negative socket count: error %v", err)
	}
}
