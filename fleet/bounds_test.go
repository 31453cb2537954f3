package fleet

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/planetdeps/planet/graph"
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
	_, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{})
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
			s, err := c.load(nil, winners[0].cd)
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
	drift := writeFile(t, filepath.Join(dir, "drift.json"), encode(t, host("b", "db", "10.0.0.2", now.Add(graph.MaxClockSkew-time.Second))))

	for _, maxAge := range []time.Duration{0, time.Hour} {
		g, notes, err := MergeInputs(context.Background(), []string{recent, future, drift}, nil, InputOptions{Now: now, MaxAge: maxAge}, graph.MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Node("cache") == nil || g.Node("memcache") != nil {
			t.Errorf("max-age %v: the 2099 snapshot won", maxAge)
		}
		if !hasNote(notes, graph.Warning, future, "ahead of this machine's clock") || hasNote(notes, graph.Warning, drift, "ahead") {
			t.Errorf("max-age %v: notes %v", maxAge, notes)
		}
		if maxAge > 0 && !hasNote(notes, graph.Warning, future, "left out") {
			t.Errorf("max-age %v: the future snapshot is not left out: %v", maxAge, notes)
		}
		if want := now.Add(graph.MaxClockSkew - time.Second); !g.GeneratedAt.Equal(want) {
			t.Errorf("max-age %v: generated_at %v, want %v", maxAge, g.GeneratedAt, want)
		}
	}
	// Alone, it is merged (with the warning), and the merge's clock dates
	// the graph.
	g, notes, err := MergeInputs(context.Background(), []string{future}, nil, InputOptions{Now: now}, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Node("memcache") == nil || !hasNote(notes, graph.Warning, future, "ahead") || !g.GeneratedAt.Equal(now) {
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
		_, _, err := MergeInputs(context.Background(), []string{good, bad}, nil, InputOptions{}, graph.MergeOptions{})
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: err = %v", name, err)
		}
		g, notes, err := MergeInputs(context.Background(), []string{good, bad}, nil, InputOptions{KeepGoing: true}, graph.MergeOptions{})
		if err != nil || g.Node("db") == nil || !hasNote(notes, graph.Warning, bad, "skipped") {
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
		g, notes, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{Progress: replace, KeepGoing: keepGoing}, graph.MergeOptions{})
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

// Merge, on snapshots held in memory, prefers a sane scan time the same way.

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
	g, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{})
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
	_, _, err = MergeInputs(context.Background(), []string{dir}, nil, InputOptions{Progress: replace}, graph.MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "b.json: replaced while being merged") {
		t.Errorf("err = %v", err)
	}
	writeFile(t, b, encode(t, host("b", "api", "10.0.0.3", t0, up(6379, "app", "10.0.0.4", "cache", 1))))
	g, notes, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{Progress: replace, KeepGoing: true}, graph.MergeOptions{})
	if err != nil || g.Node("mq") == nil || !hasNote(notes, graph.Info, "b-old.json", "used instead") {
		t.Errorf("keep going: err %v, notes %v", err, notes)
	}
}

// What merge writes, render and diff read: a graph over MaxEntries is

// refused by Parse as soon as it reads one entry too many, by Write before a byte is

// written, and by the Merger as soon as it grows past the limit.

// One node, edge or traffic pair of more than MaxEntrySize bytes is refused

// where it starts, before the rest of it is held, with the file, line and

// byte.
