package graph

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/planetdeps/planet/snapshot"
)

func windowedHost(s *snapshot.Snapshot, secs float64) *snapshot.Snapshot {
	s.Window = &snapshot.Window{Start: s.ScannedAt.Add(-300e9), Seconds: secs, Method: snapshot.WindowEvents}
	return s
}

func withRate(c snapshot.Connection, sent, recv float64) snapshot.Connection {
	c.Window = &snapshot.ConnWindow{BytesSentPerSecond: sent, BytesReceivedPerSecond: recv}
	return c
}

// TestMergeWindow: an edge carries bytes per second each way when the
// snapshots that saw it had a window: each end's records summed (the
// client's sent is toward the server, the server's sent toward the client),
// the larger end taken; without a window the edge has none, and says so.
func TestMergeWindow(t *testing.T) {
	app := windowedHost(host("app-1", "app", "10.0.0.1", t0,
		withRate(up(5432, "backup", "10.0.0.2", "db", 0), 1_600_000, 4_000),
		withRate(up(5432, "api", "10.0.0.2", "db", 3), 400_000, 10_000),
		up(80, "api", "10.0.0.9", "web", 1),
	), 300)
	db := windowedHost(host("db-1", "db", "10.0.0.2", t0,
		withRate(down(5432, "postgres", "10.0.0.1", "app", 3), 9_000, 1_900_000),
	), 300)
	web := host("web-1", "web", "10.0.0.9", t0, down(80, "nginx", "10.0.0.1", "app", 1))
	g, err := Merge([]*snapshot.Snapshot{app, db, web}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.WindowedSnapshots != 2 {
		t.Errorf("windowed_snapshots %d, want 2", g.WindowedSnapshots)
	}
	pg, httpE := edgeBetween(t, g, "app", "db", 5432), edgeBetween(t, g, "app", "web", 80)
	if !pg.Bytes().Windowed || pg.Bytes().BytesPerSecondToServer != 2_000_000 || pg.Bytes().BytesPerSecondToClient != 14_000 {
		t.Errorf("app->db: windowed %v, %v B/s to server and %v to client; want 2e6 (client's sum, larger) and 14000", pg.Windowed, pg.BytesPerSecondToServer, pg.Bytes().BytesPerSecondToClient)
	}
	if httpE.Bytes().Windowed || httpE.Bytes().BytesPerSecondToServer != 0 {
		t.Errorf("app->web: %+v, want no window figures", httpE)
	}
	var buf bytes.Buffer
	if err := Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(buf.Bytes(), "graph.json")
	if err != nil {
		t.Fatal(err)
	}
	if e := edgeBetween(t, back, "app", "db", 5432); e.Bytes().BytesPerSecondToServer != 2_000_000 || back.WindowedSnapshots != 2 {
		t.Errorf("round trip lost the window: %+v", e)
	}
	bad := bytes.Replace(buf.Bytes(), []byte(`"windowed_snapshots": 2`), []byte(`"windowed_snapshots": 9`), 1)
	if _, err := Parse(bad, "bad.json"); err == nil {
		t.Errorf("windowed_snapshots above snapshots accepted:\n%s", bad)
	}
}

// TestMergeWindowHostPairs: bytes per second go through the host-pair
// model like bytes: per client/server host pair the larger of the two ends'
// sums, then summed over the pairs. Two clients each see 1 MB/s to the one
// server, which sees 1.1 and 0.9 MB/s from them: 1.1 + 1 MB/s, not the
// larger of the two ends' totals (2 MB/s each). A pair whose other end was
// declared and never added still counts, and an end without a window adds
// no rate to one with.
func TestMergeWindowHostPairs(t *testing.T) {
	app1 := windowedHost(host("app-1", "app", "10.0.0.1", t0,
		withRate(up(5432, "api", "10.0.0.3", "db", 2), 1_000_000, 50_000)), 300)
	app2 := windowedHost(host("app-2", "app", "10.0.0.2", t0,
		withRate(up(5432, "api", "10.0.0.3", "db", 2), 1_000_000, 50_000)), 300)
	db := windowedHost(host("db-1", "db", "10.0.0.3", t0,
		withRate(down(5432, "postgres", "10.0.0.1", "app", 2), 30_000, 1_100_000),
		withRate(down(5432, "postgres", "10.0.0.2", "app", 2), 70_000, 900_000)), 300)
	for _, order := range [][]*snapshot.Snapshot{{app1, app2, db}, {db, app2, app1}} {
		g, err := Merge(order, MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e := edgeBetween(t, g, "app", "db", 5432)
		if !e.Bytes().Windowed || e.Bytes().BytesPerSecondToServer != 2_100_000 || e.Bytes().BytesPerSecondToClient != 120_000 {
			t.Errorf("app->db: windowed %v, %v B/s to server, %v to client; want 2.1e6 and 120000 (per pair the larger end)", e.Windowed, e.BytesPerSecondToServer, e.Bytes().BytesPerSecondToClient)
		}
	}
	// app-2 declared (db's records resolve to it) and never added: the pair
	// stays pending and is folded by Graph with the server's view alone.
	m, err := NewMerger(MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*snapshot.Snapshot{app1, app2, db} {
		m.Declare(s.Host)
	}
	for _, s := range []*snapshot.Snapshot{app1, db} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	g, err := m.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if e := edgeBetween(t, g, "app", "db", 5432); e.Bytes().BytesPerSecondToServer != 2_000_000 || e.Bytes().BytesPerSecondToClient != 120_000 {
		t.Errorf("app-2 never added: %v and %v B/s, want 1.1e6+0.9e6 and 50000+70000", e.BytesPerSecondToServer, e.Bytes().BytesPerSecondToClient)
	}
	// An unwindowed client and a windowed server: the server's rates.
	plain := host("app-1", "app", "10.0.0.1", t0, up(5432, "api", "10.0.0.3", "db", 2))
	g, err = Merge([]*snapshot.Snapshot{plain, db}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := edgeBetween(t, g, "app", "db", 5432); !e.Bytes().Windowed || e.Bytes().BytesPerSecondToServer != 2_000_000 {
		t.Errorf("half windowed: windowed %v, %v B/s to server, want the server's 2e6", e.Windowed, e.Bytes().BytesPerSecondToServer)
	}
}

// edgeBetween finds the edge from -> to on TCP port, failing t if absent.
func edgeBetween(t *testing.T, g *Graph, from, to string, port uint16) *Edge {
	t.Helper()
	for _, e := range g.Edges {
		if e.From == from && e.To == to && e.Port == port && e.Protocol == "tcp" {
			return e
		}
	}
	t.Fatalf("no edge %s -> %s :%d in %+v", from, to, port, g.Edges)
	return nil
}

// TestMergeWindowForwards: a pair that a DNAT router's forward moves to its
// backend keeps its bytes per second: the client's records through the
// router and directly add up, set against the backend's (the larger end).
func TestMergeWindowForwards(t *testing.T) {
	app := windowedHost(host("app", "app", "10.0.0.1", t0,
		withRate(up(80, "direct", "10.0.9.2", "", 2), 1_000_000, 10_000),
		withRate(up(8081, "viarouter", "10.0.0.5", "", 1), 500_000, 5_000)), 300)
	router := host("router", "router", "10.0.0.5", t0, forwarded(8081, "10.0.0.1", "10.0.9.2", 80, 1))
	backend := windowedHost(host("backend", "backend", "10.0.9.2", t0,
		withRate(down(80, "web", "10.0.0.1", "", 3), 20_000, 1_400_000)), 300)
	for _, order := range [][]*snapshot.Snapshot{{app, router, backend}, {backend, router, app}, {router, backend, app}} {
		g, err := Merge(order, MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e := edgeBetween(t, g, "app", "backend", 80)
		if !e.Bytes().Windowed || e.Bytes().BytesPerSecondToServer != 1_500_000 || e.Bytes().BytesPerSecondToClient != 20_000 {
			t.Errorf("app->backend: windowed %v, %v and %v B/s; want 1.5e6 (the client's two records) and 20000 (the backend's)", e.Windowed, e.BytesPerSecondToServer, e.Bytes().BytesPerSecondToClient)
		}
	}
}

// TestMergeWindowBytesUnknown: a windowed record without byte counters (a
// namespace read through /proc) gives its edge no bytes per second: the
// edge is not windowed by it, rather than windowed at 0 B/s.
func TestMergeWindowBytesUnknown(t *testing.T) {
	unknown := up(5432, "backup", "10.0.0.2", "db", 0)
	unknown.Window = &snapshot.ConnWindow{Opened: 4, Closed: 4, BytesUnknown: true}
	app := windowedHost(host("app-1", "app", "10.0.0.1", t0, unknown), 300)
	g, err := Merge([]*snapshot.Snapshot{app}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := edgeBetween(t, g, "app", "db", 5432); e.Bytes().Windowed {
		t.Errorf("app->db: %+v, want no window figures from a record with unknown bytes", e.Bytes())
	}
}

// TestWindowSumsDeterministic: bytes per second summed over the host pairs
// a DNAT router moves onto one edge come out the same on every Graph (the
// moved pairs were folded in map order, and a float sum depends on its
// order: 1e16 + 1 + 1 is not 1 + 1 + 1e16).
func TestWindowSumsDeterministic(t *testing.T) {
	rates := []float64{1e16, 1, 1, 3, 1e16 / 3}
	var snaps []*snapshot.Snapshot
	var flows []snapshot.Connection
	for i, r := range rates {
		addr := fmt.Sprintf("10.0.1.%d", i+1)
		snaps = append(snaps, windowedHost(host(fmt.Sprint("c", i), "app", addr, t0, withRate(up(8081, "curl", "10.0.0.5", "", 1), r, 0)), 60))
		flows = append(flows, forwarded(8081, addr, "10.0.9.2", 80, 1))
	}
	snaps = append(snaps, host("router", "router", "10.0.0.5", t0, flows...),
		host("backend", "backend", "10.0.9.2", t0))
	var first float64
	for i := range 30 {
		g, err := Merge(snaps, MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e := edgeBetween(t, g, "app", "backend", 80)
		got := e.Bytes().BytesPerSecondToServer
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("merge %d: %v bytes per second, merge 0: %v", i, got, first)
		}
	}
}
