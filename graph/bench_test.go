package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchGraph is a by-host graph as a fleet gives it: hosts hosts, each
// calling others on a few ports and external addresses on 443, edges in
// all, half of them to external nodes, with process names and byte counts.
func benchGraph(hosts, edges int) *Graph {
	g := &Graph{Schema: Schema, GeneratedAt: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), By: ByHost, External: "ip", Snapshots: hosts}
	name := func(i int) string { return fmt.Sprintf("host-%05d.node.consul", i) }
	for i := range hosts {
		g.Nodes = append(g.Nodes, &Node{ID: name(i), Kind: KindHost, HostCount: 1, Hosts: []string{fmt.Sprintf("host-%05d", i)}})
	}
	const externals = 2048
	for i := range externals {
		g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprintf("198.18.%d.%d", i>>8, i&255), Kind: KindExternal, HostCount: 1})
	}
	procs := &EdgeNames{ClientProcesses: []string{"java"}, ServerProcesses: []string{"postgres"}}
	for i := range edges {
		e := &Edge{From: name(i % hosts), Protocol: "tcp", SeenFrom: SeenBoth, EdgeNames: procs, ClientHosts: 1, ServerHosts: 1,
			Sockets: 1 + i%16, EdgeBytes: &EdgeBytes{PortBytesToServer: uint64(i) * 1000, PortBytesToClient: uint64(i) * 7000}}
		if j := i / hosts; j%2 == 0 {
			e.To, e.Port, e.SeenFrom = g.Nodes[hosts+(j/2)%externals].ID, 443, SeenClient
		} else {
			e.To, e.Port = name((i+j*7919)%hosts), uint16(5000+j%3)
		}
		g.Edges = append(g.Edges, e)
	}
	if err := g.index(); err != nil {
		panic(err)
	}
	return g
}

// liveHeap is the heap in use after a collection, in MiB.
func liveHeap() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// BenchmarkDiffMemory reads two versions of a 200,000-edge by-host graph
// (the second with every socket count moved, as a later merge of the same
// fleet has) and compares them, side by side: both read with Read (as
// planet diff did) and the second with ReadForCompare against the first
// (as it does now). heap-MiB is the live heap with both graphs read;
// planet diff's peak RSS follows it.
//
//	go test ./graph -run '^$' -bench DiffMemory -benchtime 3x
func BenchmarkDiffMemory(b *testing.B) {
	g := benchGraph(10000, 200000)
	var oldDoc, newDoc bytes.Buffer
	if err := Write(&oldDoc, g); err != nil {
		b.Fatal(err)
	}
	sockets := regexp.MustCompile(`"sockets": (\d+)`)
	newDoc.Write(sockets.ReplaceAll(oldDoc.Bytes(), []byte(`"sockets": 1$1`)))
	g = nil
	for _, tt := range []struct {
		name string
		read func(old *Graph) (*Graph, error)
	}{
		{"Read", func(*Graph) (*Graph, error) { return Read(bytes.NewReader(newDoc.Bytes()), "new") }},
		{"ReadForCompare", func(old *Graph) (*Graph, error) {
			return ReadForCompare(bytes.NewReader(newDoc.Bytes()), "new", old, DiffOptions{})
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			before := liveHeap()
			var heap float64
			for b.Loop() {
				old, err := Read(bytes.NewReader(oldDoc.Bytes()), "old")
				if err != nil {
					b.Fatal(err)
				}
				new, err := tt.read(old)
				if err != nil {
					b.Fatal(err)
				}
				heap = liveHeap() - before
				if d := Compare(old, new, DiffOptions{}); !d.Empty() {
					b.Fatalf("diff: %s", d.Summary())
				}
			}
			b.ReportMetric(heap, "heap-MiB")
		})
	}
}

// BenchmarkWriteEdges encodes the edges of a by-host graph as Write does,
// with encoding/json (as it did) and with appendEdge (as it does now),
// side by side.
//
//	go test ./graph -run '^$' -bench WriteEdges
func BenchmarkWriteEdges(b *testing.B) {
	g := benchGraph(1000, 100000)
	b.Run("encoding/json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("    ", "  ")
		for b.Loop() {
			buf.Reset()
			for _, e := range g.Edges {
				if err := enc.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(g.Edges)), "ns/edge")
	})
	b.Run("appendEdge", func(b *testing.B) {
		var text []byte
		for b.Loop() {
			text = text[:0]
			for _, e := range g.Edges {
				var ok bool
				if text, ok = appendEdge(text, e); !ok {
					b.Fatalf("edge %s not taken", e)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(g.Edges)), "ns/edge")
	})
}

// BenchmarkDiffAllChanged compares two versions of a 200,000-edge by-host
// graph whose every edge changed (every port_bytes_to_server count moved,
// compared with --bytes-change 5 --external-changes: nothing is shared),
// side by side: the new graph read whole against the old one
// (ReadForCompare), then compared (as planet diff did), and compared while
// it is read (ReadCompare, as it does now). heap-MiB is the most live heap
// at once beside the old graph: the new graph the old way, the diff;
// B/edge is that per edge. planet diff's peak RSS follows them.
//
//	go test ./graph -run '^$' -bench DiffAllChanged -benchtime 3x
func BenchmarkDiffAllChanged(b *testing.B) {
	g := benchGraph(10000, 200000)
	var oldDoc, newDoc bytes.Buffer
	if err := Write(&oldDoc, g); err != nil {
		b.Fatal(err)
	}
	toServer := regexp.MustCompile(`"port_bytes_to_server": (\d+)`)
	newDoc.Write(toServer.ReplaceAll(oldDoc.Bytes(), []byte(`"port_bytes_to_server": 2$1`)))
	edges := len(toServer.FindAllIndex(oldDoc.Bytes(), -1)) // all but the first
	// The same changes, and each edge's client host count made one of its
	// own: no two changes have the same new side (sideTable's worst case).
	clientHosts := regexp.MustCompile(`"client_hosts": \d+`)
	n := 0
	distinct := clientHosts.ReplaceAllFunc(newDoc.Bytes(), func([]byte) []byte {
		n++
		return []byte(`"client_hosts": ` + strconv.Itoa(1000000+n))
	})
	g = nil
	opts := DiffOptions{BytesChangePercent: 5, ExternalChanges: true}
	for _, doc := range []struct {
		name    string
		new     []byte
		changed int
	}{{"sidesRepeat", newDoc.Bytes(), edges}, {"sidesDistinct", distinct, -1}} { // -1: every edge
		for _, tt := range []struct {
			name string
			// diff returns the diff and the most live heap it saw.
			diff func(old *Graph) (*Diff, float64, error)
		}{
			{"ReadForCompare+Compare", func(old *Graph) (*Diff, float64, error) {
				new, err := ReadForCompare(bytes.NewReader(doc.new), "new", old, opts)
				if err != nil {
					return nil, 0, err
				}
				heap := liveHeap()
				d := Compare(old, new, opts)
				runtime.KeepAlive(new) // Compare gives no hold on it: held until now
				return d, heap, nil
			}},
			{"ReadCompare", func(old *Graph) (*Diff, float64, error) {
				d, err := ReadCompare(bytes.NewReader(doc.new), "new", old, opts)
				return d, 0, err
			}},
		} {
			b.Run(doc.name+"/"+tt.name, func(b *testing.B) {
				var heap float64
				var changed int
				for b.Loop() {
					old, err := Read(bytes.NewReader(oldDoc.Bytes()), "old")
					if err != nil {
						b.Fatal(err)
					}
					want := doc.changed
					if want < 0 {
						want = len(old.Edges)
					}
					oldHeap := liveHeap()
					d, during, err := tt.diff(old)
					if err != nil {
						b.Fatal(err)
					}
					heap = max(during, liveHeap()) - oldHeap
					changed = want
					if len(d.ChangedEdges) != want {
						b.Fatalf("%d edges changed, want %d", len(d.ChangedEdges), want)
					}
					runtime.KeepAlive(old)
				}
				b.ReportMetric(heap, "heap-MiB")
				b.ReportMetric(heap*(1<<20)/float64(changed), "B/edge")
			})
		}
	}
}

// BenchmarkWriteWeigh is what checking a graph before writing it costs
// beside writing it: Write (which weighs first, see MaxDecoded, and checks
// each entry's text against MaxEntrySize) and that check alone (weigh), on
// a 200,000-edge by-host graph.
//
//	go test ./graph -run '^$' -bench WriteWeigh
func BenchmarkWriteWeigh(b *testing.B) {
	g := benchGraph(2000, 200_000)
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			if err := Write(io.Discard, g); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("weigh", func(b *testing.B) {
		for b.Loop() {
			if _, err := weigh(g, len(g.Edges), func(i int) *Edge { return g.Edges[i] }, newWeigher()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
