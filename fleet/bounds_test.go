package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/planetdeps/planet/snapshot"
)

// A file over snapshot.MaxSize is refused from its size, before a byte of
// it is read (the first pass used to decode the leading members of any
// file whole: a 512 MiB string cost 2 GiB).
func TestOversizedFileRefusedUnread(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "pad.json")
	head, tail := `{"pad":"`, `","schema":"planet.snapshot/v1"}`
	doc := make([]byte, snapshot.MaxSize+1)
	copy(doc, head)
	for i := len(head); i < len(doc)-len(tail); i++ {
		doc[i] = 'A'
	}
	copy(doc[len(doc)-len(tail):], tail)
	writeFile(t, big, doc)
	doc = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, MergeOptions{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), big+": larger than 33554432 bytes") {
		t.Errorf("err = %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("refusing a file over the limit allocated %d bytes", alloc)
	}
}

// The first pass keeps nothing of a snapshot but what choosing needs: of
// many snapshots of one host, from files or a stream, only the best one's
// host header is alive when the second pass starts, whatever the files
// hold (eight 60 MB files with large hosts used to take 3 GiB).
func TestFirstPassKeepsOneHostHeaderPerHost(t *testing.T) {
	addrs := make([]netip.Addr, 2000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	var stream bytes.Buffer
	dir := t.TempDir()
	const n = 12
	for i := range n {
		s := host("big", "web", "", t0.Add(time.Duration(i*37%n)*time.Minute), up(5432, "app", "10.0.0.2", "db", 1))
		s.Host.Addresses = addrs
		doc := encode(t, s)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%02d.json", i)), doc)
		stream.Write(doc)
	}
	for _, tt := range []struct {
		name  string
		paths []string
	}{{"files", []string{dir}}, {"stdin", []string{"-"}}} {
		t.Run(tt.name, func(t *testing.T) {
			var snaps []weak.Pointer[snapshot.Snapshot]
			var hosts []weak.Pointer[netip.Addr]
			var mu sync.Mutex // the hooks run in the first pass's workers
			testHookParsed = func(s *snapshot.Snapshot) {
				mu.Lock()
				defer mu.Unlock()
				snaps = append(snaps, weak.Make(s))
				hosts = append(hosts, weak.Make(&s.Host.Addresses[0]))
			}
			testHookHeader = func(h *snapshot.Host) {
				mu.Lock()
				defer mu.Unlock()
				hosts = append(hosts, weak.Make(&h.Addresses[0]))
			}
			defer func() { testHookParsed, testHookHeader = nil, nil }()
			c, winners, err := collect(context.Background(), tt.paths, bytes.NewReader(stream.Bytes()), InputOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if len(winners) != 1 || !winners[0].cd.scannedAt.Equal(t0.Add((n-1)*time.Minute)) {
				t.Fatalf("winners: %v", winners)
			}
			runtime.GC()
			aliveSnaps, aliveHosts := 0, 0
			for _, p := range snaps {
				if p.Value() != nil {
					aliveSnaps++
				}
			}
			for _, p := range hosts {
				if p.Value() != nil {
					aliveHosts++
				}
			}
			// Every snapshot is read in full once: the losers in the first
			// pass, the winner in the second (a stream's in the first).
			wantParsed := n - 1
			if tt.name == "stdin" {
				wantParsed = n
			}
			if len(snaps) != wantParsed || len(hosts) < n || aliveSnaps != 0 || aliveHosts != 1 {
				t.Errorf("%d parsed, %d hosts decoded: %d snapshots and %d host headers still alive, want %d parsed, 0 and 1 alive",
					len(snaps), len(hosts), aliveSnaps, aliveHosts, wantParsed)
			}
			s, err := c.load(winners[0].cd)
			if err != nil || !s.ScannedAt.Equal(winners[0].cd.scannedAt) {
				t.Errorf("second pass: %v", err)
			}
		})
	}
}

// A snapshot dated far ahead of the merge's clock is a warning, loses to
// a sane one of its host, is left out under MaxAge and never sets
// generated_at.
func TestFutureSnapshot(t *testing.T) {
	now := t0.Add(time.Hour)
	dir := t.TempDir()
	recent := writeFile(t, filepath.Join(dir, "recent.json"), encode(t, host("a", "web", "10.0.0.1", now.Add(-2*time.Minute), up(6379, "app", "10.0.0.9", "cache", 1))))
	future := writeFile(t, filepath.Join(dir, "future.json"), encode(t, host("a", "web", "10.0.0.1", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), up(11211, "app", "10.0.0.9", "memcache", 1))))
	// A little ahead (clocks drift) is still a sane time.
	drift := writeFile(t, filepath.Join(dir, "drift.json"), encode(t, host("b", "db", "10.0.0.2", now.Add(MaxClockSkew-time.Second))))

	for _, maxAge := range []time.Duration{0, time.Hour} {
		g, notes, err := MergeInputs(context.Background(), []string{recent, future, drift}, nil, InputOptions{Now: now, MaxAge: maxAge}, MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Node("cache") == nil || g.Node("memcache") != nil {
			t.Errorf("max-age %v: the 2099 snapshot won", maxAge)
		}
		if !hasNote(notes, Warning, future, "ahead of this machine's clock") || hasNote(notes, Warning, drift, "ahead") {
			t.Errorf("max-age %v: notes %v", maxAge, notes)
		}
		if maxAge > 0 && !hasNote(notes, Warning, future, "left out") {
			t.Errorf("max-age %v: the future snapshot is not left out: %v", maxAge, notes)
		}
		if want := now.Add(MaxClockSkew - time.Second); !g.GeneratedAt.Equal(want) {
			t.Errorf("max-age %v: generated_at %v, want %v", maxAge, g.GeneratedAt, want)
		}
	}
	// Alone, it is merged (with the warning), and the merge's clock dates
	// the graph.
	g, notes, err := MergeInputs(context.Background(), []string{future}, nil, InputOptions{Now: now}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Node("memcache") == nil || !hasNote(notes, Warning, future, "ahead") || !g.GeneratedAt.Equal(now) {
		t.Errorf("future alone: generated_at %v, notes %v", g.GeneratedAt, notes)
	}
}

// Every file is validated in full, even one a newer snapshot of its host
// makes irrelevant: a broken input fails the merge (warning with KeepGoing).
func TestEveryInputValidated(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.json"), encode(t, host("web1", "web", "10.0.0.1", t0, up(5432, "app", "10.0.0.2", "db", 1))))
	old := encode(t, host("web1", "web", "10.0.0.1", t0.Add(-time.Hour), up(5432, "app", "10.0.0.2", "db", 1)))
	for name, doc := range map[string][]byte{
		"truncated-copy.json": old[:len(old)-30],
		"negative.json":       bytes.Replace(old, []byte(`"sockets": 1`), []byte(`"sockets": -1`), 1),
		"same-time.json":      encode(t, host("web1", "web", "10.0.0.1", t0))[:200],
		// Newer, so chosen on its header: the second pass finds it broken.
		"newer-broken.json": bytes.Replace(encode(t, host("web1", "web", "10.0.0.1", t0.Add(time.Hour), up(5432, "app", "10.0.0.2", "db", 1))), []byte(`"sockets": 1`), []byte(`"sockets": -1`), 1),
	} {
		bad := writeFile(t, filepath.Join(dir, "bad", name), doc)
		_, _, err := MergeInputs(context.Background(), []string{good, bad}, nil, InputOptions{}, MergeOptions{})
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: err = %v", name, err)
		}
		g, notes, err := MergeInputs(context.Background(), []string{good, bad}, nil, InputOptions{KeepGoing: true}, MergeOptions{})
		if err != nil || g.Node("db") == nil || !hasNote(notes, Warning, bad, "skipped") {
			t.Errorf("%s, keep going: err %v, notes %v", name, err, notes)
		}
	}
}

// A snapshot replaced (atomically, as planet scan -o does) after the first
// pass chose it is merged from what the first pass read: the descriptor is
// held, so the merge neither fails nor drops the host.
func TestReplacedDuringMerge(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one worker: a, then b
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), encode(t, host("a", "web", "10.0.0.1", t0, up(5432, "app", "10.0.0.2", "db", 1))))
	b := filepath.Join(dir, "b.json")
	replace := func(done, total int) {
		if done != 1 {
			return
		}
		tmp := b + ".tmp"
		writeFile(t, tmp, encode(t, host("b", "api", "10.0.0.3", t0.Add(time.Minute), up(11211, "app", "10.0.0.4", "memcache", 1))))
		if err := os.Rename(tmp, b); err != nil {
			t.Error(err)
		}
	}
	for _, keepGoing := range []bool{false, true} {
		writeFile(t, b, encode(t, host("b", "api", "10.0.0.3", t0, up(6379, "app", "10.0.0.4", "cache", 1))))
		g, notes, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{Progress: replace, KeepGoing: keepGoing}, MergeOptions{})
		if err != nil {
			t.Fatalf("keep going %v: %v", keepGoing, err)
		}
		if g.Snapshots != 2 || g.Node("cache") == nil || len(notes) != 0 {
			t.Errorf("keep going %v: %d snapshots, notes %v", keepGoing, g.Snapshots, notes)
		}
	}
}

// Counts that overflow when added up are an error naming the record, not
// a wrapped (then clamped to 0) total.
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

// Merge, on snapshots held in memory, prefers a sane scan time the same way.
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

// With more files than descriptors to hold, the chosen ones are opened
// again by name: the merge is the same, and a file replaced meanwhile is
// an error saying so (a warning with KeepGoing, the older one used).
func TestMergeWithoutHeldDescriptors(t *testing.T) {
	defer func(f func() int) { descriptorBudget = f }(descriptorBudget)
	descriptorBudget = func() int { return 0 }
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), encode(t, host("a", "web", "10.0.0.1", t0, up(5432, "app", "10.0.0.2", "db", 1))))
	writeFile(t, filepath.Join(dir, "b-old.json"), encode(t, host("b", "api", "10.0.0.3", t0.Add(-time.Hour), up(9092, "app", "10.0.0.4", "mq", 1))))
	b := filepath.Join(dir, "b.json")
	writeFile(t, b, encode(t, host("b", "api", "10.0.0.3", t0, up(6379, "app", "10.0.0.4", "cache", 1))))
	g, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, MergeOptions{})
	if err != nil || g.Node("cache") == nil || g.Node("mq") != nil {
		t.Fatalf("err %v", err)
	}
	replace := func(done, total int) {
		if done == 1 {
			writeFile(t, b+".tmp", encode(t, host("b", "api", "10.0.0.3", t0.Add(time.Minute), up(11211, "app", "10.0.0.4", "memcache", 1))))
			if err := os.Rename(b+".tmp", b); err != nil {
				t.Error(err)
			}
		}
	}
	_, _, err = MergeInputs(context.Background(), []string{dir}, nil, InputOptions{Progress: replace}, MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "b.json: replaced while being merged") {
		t.Errorf("err = %v", err)
	}
	writeFile(t, b, encode(t, host("b", "api", "10.0.0.3", t0, up(6379, "app", "10.0.0.4", "cache", 1))))
	g, notes, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{Progress: replace, KeepGoing: true}, MergeOptions{})
	if err != nil || g.Node("mq") == nil || !hasNote(notes, Info, "b-old.json", "used instead") {
		t.Errorf("keep going: err %v, notes %v", err, notes)
	}
}

// What merge writes, render and diff read: a graph over MaxEntries is
// refused by Parse as soon as it reads one entry too many, by Write before a byte is
// written, and by the Merger as soon as it grows past the limit.
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
	if err := m.Add(s); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "--external collapse") {
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

// One node, edge or traffic pair of more than MaxEntrySize bytes is refused
// where it starts, before the rest of it is held, with the file, line and
// byte.
func TestGraphEntryTooLarge(t *testing.T) {
	var doc bytes.Buffer
	doc.WriteString("{\"schema\": \"planet.graph/v1\", \"generated_at\": \"2025-03-01T12:00:00Z\", \"by\": \"host\", \"external\": \"ip\", \"snapshots\": 1,\n\"nodes\": [{\"id\": \"a\", \"kind\": \"host\", \"host_count\": 1, \"hosts\": [\"")
	doc.WriteString(strings.Repeat("x", MaxEntrySize))
	doc.WriteString("\"]}], \"edges\": []}")
	_, err := Parse(doc.Bytes(), "big.json")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.json: line 2 (byte 128): graph too large: nodes[0]: larger than 16777216 bytes") {
		t.Errorf("Parse: %v", err)
	}
}
