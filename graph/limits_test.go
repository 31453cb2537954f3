package graph

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
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
