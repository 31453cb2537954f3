package document

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
)

// TestParse: a document is told apart by its schema and decoded strictly.
func TestParse(t *testing.T) {
	tests := []struct {
		name, doc string
		snapshot  bool
		errSubstr string
	}{
		{name: "snapshot", doc: `{"schema":"planet.snapshot/v1","scanned_at":"2025-03-01T00:00:00Z","host":{"hostname":"h"}}`, snapshot: true},
		{name: "graph", doc: `{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"hostgroup","external":"ip","snapshots":0,"nodes":[],"edges":[]}`},
		{name: "future", doc: `{"schema":"planet.graph/v9"}`, errSubstr: `in.json: unsupported schema "planet.graph/v9"`},
		{name: "no schema", doc: `{"nodes":[]}`, errSubstr: `in.json: unsupported schema: no "schema" member`},
		{name: "not json", doc: "nodes: []\n", errSubstr: "in.json: line 1"},
		{name: "empty", doc: "\n", errSubstr: "in.json: empty file"},
		{name: "trailing", doc: `{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"hostgroup","external":"ip","snapshots":0,"nodes":[],"edges":[]} {}`, errSubstr: "in.json: line 1"},
		{name: "unknown field", doc: `{"schema":"planet.snapshot/v1","scanned_at":"2025-03-01T00:00:00Z","host":{"hostname":"h"},"extra":1}`, errSubstr: "in.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse([]byte(tt.doc), "in.json")
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (in.Snapshot != nil) != tt.snapshot || (in.Graph != nil) == tt.snapshot {
				t.Fatalf("snapshot %v graph %v, want snapshot=%v", in.Snapshot != nil, in.Graph != nil, tt.snapshot)
			}
		})
	}
}

// TestCompareFile: CompareFile gives the diff graph.Compare gives of the
// graphs read whole, or ReadFile's error, from a file, a standard input
// that seeks (read again from where it started when its edges are out of
// order) and one that does not; so for a graph whose edges are in order,
// out of order, or repeat a key, and for a snapshot.
func TestCompareFile(t *testing.T) {
	head := `{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":2,` +
		`"nodes":[{"id":"a","kind":"host","host_count":1},{"id":"b","kind":"host","host_count":1},{"id":"c","kind":"host","host_count":1}],"edges":[`
	edge := func(from, to string, hosts int) string {
		return fmt.Sprintf(`{"from":%q,"to":%q,"protocol":"tcp","port":80,"seen_from":"both","client_hosts":%d,"server_hosts":1,"sockets":1}`, from, to, hosts)
	}
	doc := func(edges ...string) string { return head + strings.Join(edges, ",") + "]}" }
	old, err := graph.Parse([]byte(doc(edge("a", "b", 1), edge("b", "c", 1), edge("c", "a", 1))), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, doc string }{
		{"in order", doc(edge("a", "b", 2), edge("a", "c", 1), edge("c", "a", 1))},
		{"out of order", doc(edge("c", "a", 1), edge("a", "c", 1), edge("a", "b", 2))},
		{"a key twice", doc(edge("a", "b", 2), edge("a", "b", 2), edge("c", "a", 1))},
		{"out of order, then broken", doc(edge("c", "a", 1), edge("a", "b", 2)) + "x"},
		{"a snapshot", `{"schema":"planet.snapshot/v1","scanned_at":"2025-03-01T00:00:00Z","host":{"hostname":"a"}}`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
		// Standard input starts after a prefix another reader took.
		if err := os.WriteFile(path, []byte("used:"+tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		plain := filepath.Join(dir, "plain.json")
		if err := os.WriteFile(plain, []byte(tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, opts := range []graph.DiffOptions{{}, {ExternalChanges: true}} {
			var want string
			in, wantErr := ReadFile(context.Background(), plain, nil)
			if wantErr == nil {
				g, err := in.AsGraph()
				if err != nil {
					t.Fatal(err)
				}
				want = diffText(t, graph.Compare(old, g, opts))
			}
			stdin, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stdin.Seek(int64(len("used:")), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			sources := []struct {
				name  string
				path  string
				stdin io.Reader
			}{{"file", plain, nil}, {"seekable stdin", "-", stdin}, {"pipe", "-", strings.NewReader(tt.doc)}}
			for _, src := range sources {
				d, err := CompareFile(context.Background(), src.path, src.stdin, graph.ForCompare(old, opts), opts)
				switch {
				case wantErr != nil:
					if err == nil || strings.ReplaceAll(err.Error(), "-:", plain+":") != wantErr.Error() {
						t.Errorf("%s, %s, %+v: error\n%v\nwant ReadFile's\n%v", tt.name, src.name, opts, err, wantErr)
					}
				case err != nil:
					t.Errorf("%s, %s, %+v: %v", tt.name, src.name, opts, err)
				default:
					if got := diffText(t, d); got != want {
						t.Errorf("%s, %s, %+v: diff\n%s\nwant\n%s", tt.name, src.name, opts, got, want)
					}
				}
			}
			stdin.Close()
		}
	}
}

func diffText(t *testing.T, d *graph.Diff) string {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pipeOf is the read end of a real pipe (os.Pipe) that a goroutine writes
// doc into and then closes; the test's end closes the read end first, so
// a writer the reader left behind ends (EPIPE).
func pipeOf(t *testing.T, doc string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.WriteString(w, doc) // a reader that stops early makes it fail
		w.Close()
	}()
	t.Cleanup(func() {
		r.Close()
		<-done
	})
	return r
}

// spoolsIn lists the descriptors this process holds open on unnamed
// spool files made in dir (a link "dir/planet-diff-N.spool (deleted)").
func spoolsIn(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, filepath.Join(dir, "planet-diff-")) {
			found = append(found, target)
		}
	}
	return found
}

// bigGraph is a graph document of n edges a -> b tcp, ports 1..n, in key
// order, with client_hosts hosts; order, when given, lists the ports in
// the order they are written instead. Past the 64 KiB a pipe holds, it is
// read as it is written.
func bigGraph(n, hosts int, order []int) string {
	var b strings.Builder
	b.WriteString(`{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":2,` +
		`"nodes":[{"id":"a","kind":"host","host_count":1},{"id":"b","kind":"host","host_count":1}],"edges":[`)
	if order == nil {
		for p := 1; p <= n; p++ {
			order = append(order, p)
		}
	}
	for i, p := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"from":"a","to":"b","protocol":"tcp","port":%d,"seen_from":"both","client_hosts":%d,"server_hosts":1,"sockets":1}`, p, hosts)
	}
	b.WriteString("]}\n")
	return b.String()
}

// TestCompareFilePipe: the new graph on a real pipe gives the diff, or the
// error (its name "-" for the path, the same offset), that the same bytes
// give from a file. Edges in order are compared as they come, never read
// again (the whole graph is not held); out of order, they are read again
// from their start: the file from its descriptor, the pipe from a spool,
// in memory (no $TMPDIR needed: it is not there) or, past spoolMemory, in
// an unnamed file in $TMPDIR. No spool is left behind, named or open.
func TestCompareFilePipe(t *testing.T) {
	const n = 3000 // about 390 KB, six pipe buffers
	old, err := graph.Parse([]byte(bigGraph(n, 1, nil)), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	ports := func(swap ...int) []int {
		o := make([]int, n)
		for i := range o {
			o[i] = i + 1
		}
		for i := 0; i+1 < len(swap); i += 2 {
			o[swap[i]], o[swap[i+1]] = o[swap[i+1]], o[swap[i]]
		}
		return o
	}
	inOrder := bigGraph(n, 2, nil)
	tests := []struct {
		name, doc string
		again     bool // read again with the reader that holds the graph
	}{
		{"in order", inOrder, false},
		{"in order, unchanged", bigGraph(n, 1, nil), false},
		{"out of order early", bigGraph(n, 2, ports(1, 2)), true},
		{"out of order late", bigGraph(n, 2, ports(n-2, n-1)), true},
		{"a key twice", bigGraph(n, 2, append(ports(), n)), true},
		{"out of order, then truncated", strings.TrimSuffix(bigGraph(n, 2, ports(5, 6)), "]}\n"), true},
		{"out of order, then invalid", strings.Replace(bigGraph(n, 2, ports(5, 6)), `"port":2000,`, `"port":2000,,`, 1), true},
		{"truncated in an edge", inOrder[:len(inOrder)/2], false},
		{"truncated in the header", inOrder[:40], false},
		{"invalid edge", strings.Replace(inOrder, `"port":2000,`, `"port":-2000,`, 1), false},
		{"trailing data", inOrder + "{}", false},
		{"empty", "", false},
		{"a snapshot", `{"schema":"planet.snapshot/v1","scanned_at":"2025-03-01T00:00:00Z","host":{"hostname":"a"}}`, false},
	}
	defer func(n int) { spoolMemory = n }(spoolMemory)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new.json")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := graph.DiffOptions{}
			base := graph.ForCompare(old, opts)
			var want string
			in, wantErr := ReadFile(context.Background(), path, nil)
			if wantErr == nil {
				g, err := in.AsGraph()
				if err != nil {
					t.Fatal(err)
				}
				want = diffText(t, graph.Compare(old, g, opts))
			}
			for _, src := range []string{"file", "pipe", "pipe, spooled to a file"} {
				// A file and a pipe kept in memory (all of it, at
				// SpoolMemory) never touch $TMPDIR: it is not there.
				tmp, spooled := filepath.Join(t.TempDir(), "gone"), false
				spoolMemory = SpoolMemory
				if src == "pipe, spooled to a file" {
					tmp, spooled = t.TempDir(), true
					// Passed by the first 64 KiB, read at once to find
					// the schema (sniffSize).
					spoolMemory = sniffSize / 2
				}
				t.Setenv("TMPDIR", tmp)
				p, stdin := "-", io.Reader(pipeOf(t, tt.doc))
				if src == "file" {
					p, stdin = path, nil
				}
				agains := 0
				again := func(r io.Reader, name string) (*Document, error) {
					agains++
					// Read again from the spool: in memory, or
					// from a file that is open and unnamed.
					if got := spoolsIn(t, tmp); spooled && (len(got) != 1 || !strings.HasSuffix(got[0], " (deleted)")) || !spooled && len(got) > 0 {
						t.Errorf("%s: spools open while read again: %q, want one unnamed: %v", src, got, spooled)
					}
					return forCompare(base, opts)(r, name)
				}
				d, err := compareFile(context.Background(), p, stdin, base, opts, again)
				switch {
				case wantErr != nil:
					if err == nil || strings.ReplaceAll(err.Error(), "-:", path+":") != wantErr.Error() {
						t.Errorf("%s: error\n%v\nwant ReadFile's\n%v", src, err, wantErr)
					}
				case err != nil:
					t.Errorf("%s: %v", src, err)
				default:
					if got := diffText(t, d); got != want {
						t.Errorf("%s: diff\n%.300s\nwant\n%.300s", src, got, want)
					}
				}
				if (agains > 0) != tt.again || agains > 1 {
					t.Errorf("%s: read again %d times, want again=%v", src, agains, tt.again)
				}
				if got := spoolsIn(t, tmp); len(got) > 0 {
					t.Errorf("%s: spools still open: %q", src, got)
				}
				if left, err := os.ReadDir(tmp); spooled && (err != nil || len(left) > 0) {
					t.Errorf("%s: TMPDIR holds %v (%v), want nothing", src, left, err)
				}
			}
		})
	}
}

// TestCompareFilePipeSpoolFails: a pipe whose graph must be read again but
// cannot be kept (no temp dir past SpoolMemory; more than the spool's
// limit) is an error naming "-" and the temp dir or the limit; one in
// order needs no spool, and one within SpoolMemory no temp dir, and each
// is compared all the same.
func TestCompareFilePipeSpoolFails(t *testing.T) {
	const n = 200
	old, err := graph.Parse([]byte(bigGraph(n, 1, nil)), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	unordered := make([]int, n)
	for i := range unordered {
		unordered[i] = n - i
	}
	// Past SpoolMemory: the first n edges as in the small one, then more;
	// out of order at its end (what the first reading took is kept, and
	// it stops at the first edge out of order).
	const large = 40_000
	largeUnordered := make([]int, large)
	for i := range largeUnordered {
		largeUnordered[i] = i + 1
	}
	largeUnordered[large-2], largeUnordered[large-1] = large, large-1
	if doc := bigGraph(large, 2, nil); len(doc) <= SpoolMemory {
		t.Fatalf("the large graph is %d bytes, not more than SpoolMemory", len(doc))
	}
	noDir := filepath.Join(t.TempDir(), "gone")
	tests := []struct {
		name, doc, tmp string
		limit          int64
		errSubstr      string // "" for a diff
		tooLarge       bool
	}{
		{"no temp dir, in order", bigGraph(n, 2, nil), noDir, spoolLimit, "", false},
		{"no temp dir, in order, past SpoolMemory", bigGraph(large, 2, nil), noDir, spoolLimit, "", false},
		{"no temp dir, out of order, in memory", bigGraph(n, 2, unordered), noDir, spoolLimit, "", false},
		{"no temp dir, out of order, past SpoolMemory", bigGraph(large, 2, largeUnordered), noDir, spoolLimit, "-: keeping what was read in " + noDir + " to read it again from its start: open " + noDir + "/planet-diff-", false},
		{"over the limit, in order", bigGraph(n, 2, nil), "", 1000, "", false},
		{"over the limit, out of order", bigGraph(n, 2, unordered), "", 1000, "-: reading again from the start: graph too large: larger than 1000 bytes", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := tt.tmp
			if tmp == "" {
				tmp = t.TempDir()
			}
			t.Setenv("TMPDIR", tmp)
			defer func(l int64) { spoolLimit = l }(spoolLimit)
			spoolLimit = tt.limit
			base := graph.ForCompare(old, graph.DiffOptions{})
			d, err := CompareFile(context.Background(), "-", pipeOf(t, tt.doc), base, graph.DiffOptions{})
			if tt.errSubstr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(d.ChangedEdges) != n {
					t.Fatalf("%d edges changed, want %d", len(d.ChangedEdges), n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
				t.Fatalf("error %v, want %q", err, tt.errSubstr)
			}
			if errors.Is(err, graph.ErrTooLarge) != tt.tooLarge {
				t.Fatalf("error %v: ErrTooLarge %v, want %v", err, errors.Is(err, graph.ErrTooLarge), tt.tooLarge)
			}
		})
	}
}

// TestCompareFilePipeDiskFull: a spool on a full disk (a 64 KiB tmpfs as
// $TMPDIR) fails a pipe whose edges must be read again, with an error
// naming "-", the temp dir and ENOSPC; a pipe in order needs no spool and
// is compared all the same.
func TestCompareFilePipeDiskFull(t *testing.T) {
	testenv.NeedRoot(t)
	tmp := t.TempDir()
	if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount a 64 KiB tmpfs on %s: %v", tmp, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(tmp, 0); err != nil {
			t.Errorf("unmount %s: %v", tmp, err)
		}
	})
	t.Setenv("TMPDIR", tmp)
	const n = 3000 // about 390 KB
	old, err := graph.Parse([]byte(bigGraph(n, 1, nil)), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	// Past SpoolMemory (some 4.6 MB), in memory up to it.
	const large = 40_000
	late := make([]int, large)
	for i := range late {
		late[i] = i + 1
	}
	late[large-2], late[large-1] = late[large-1], late[large-2]
	base := graph.ForCompare(old, graph.DiffOptions{})
	d, err := CompareFile(context.Background(), "-", pipeOf(t, bigGraph(n, 2, nil)), base, graph.DiffOptions{})
	if err != nil {
		t.Fatalf("in order: %v", err)
	}
	if len(d.ChangedEdges) != n {
		t.Fatalf("in order: %d edges changed, want %d", len(d.ChangedEdges), n)
	}
	_, err = CompareFile(context.Background(), "-", pipeOf(t, bigGraph(large, 2, late)), base, graph.DiffOptions{})
	if want := "-: keeping what was read in " + tmp + " to read it again from its start: write "; err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("out of order: error %v, want %q... wrapping ENOSPC", err, want)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("TMPDIR holds %v (%v), want nothing", left, err)
	}
}

// TestSpool: a spool keeps what is written to it in memory up to
// spoolMemory, and past it all of it in an unnamed file; read back, it is
// what was written, in order.
func TestSpool(t *testing.T) {
	defer func(n int) { spoolMemory = n }(spoolMemory)
	spoolMemory = 10
	for _, tt := range []struct {
		name   string
		writes []string
		inFile bool
	}{
		{"empty", nil, false},
		{"in memory", []string{"abc", "", "defg", "hij"}, false},
		{"passed at a write", []string{"abc", "defg", "hij", "k", "lmnop"}, true},
		{"passed at the first write", []string{"abcdefghijk", "l"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			sp := &spool{limit: spoolLimit}
			defer sp.close()
			for _, w := range tt.writes {
				if n, err := sp.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if sp.err != nil {
				t.Fatal(sp.err)
			}
			if (sp.f != nil) != tt.inFile || sp.f != nil && sp.mem != nil || len(sp.mem) > spoolMemory {
				t.Fatalf("file %v, %d bytes in memory; want a file: %v, the memory given back", sp.f != nil, len(sp.mem), tt.inFile)
			}
			if got := spoolsIn(t, tmp); tt.inFile != (len(got) == 1 && strings.HasSuffix(got[0], " (deleted)")) {
				t.Errorf("spools open: %q", got)
			}
			var got []byte
			if sp.f != nil {
				var err error
				if got, err = io.ReadAll(sp.f); err != nil {
					t.Fatal(err)
				}
			} else {
				got = sp.mem
			}
			if want := strings.Join(tt.writes, ""); string(got) != want || sp.n != int64(len(want)) {
				t.Errorf("kept %q (%d bytes), want %q", got, sp.n, want)
			}
		})
	}
}
