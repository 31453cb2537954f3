package fleet

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

func encode(t *testing.T, s *snapshot.Snapshot) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fetchTree lays snapshots out the way ansible's fetch does.
func fetchTree(t *testing.T, snaps ...*snapshot.Snapshot) string {
	t.Helper()
	dir := t.TempDir()
	for _, s := range snaps {
		writeFile(t, filepath.Join(dir, s.Host.Hostname, "var/lib/planet/snapshot.json"), encode(t, s))
	}
	return dir
}

func hasNote(notes []graph.Note, level graph.Level, name, msg string) bool {
	for _, n := range notes {
		if n.Level == level && strings.Contains(n.Name, name) && strings.Contains(n.Msg, msg) {
			return true
		}
	}
	return false
}

func hostnames(snaps []*snapshot.Snapshot) []string {
	var out []string
	for _, s := range snaps {
		out = append(out, s.Host.Hostname)
	}
	return out
}

func TestReadInputsDirectory(t *testing.T) {
	dir := fetchTree(t,
		host("web1", "web", "10.0.0.1", t0, up(5432, "python3", "10.0.0.2", "db", 1)),
		host("db1", "db", "10.0.0.2", t0, down(5432, "postgres", "10.0.0.1", "web", 1)),
	)
	writeFile(t, filepath.Join(dir, "README.txt"), []byte("not json, ignored"))
	var calls [][2]int
	snaps, notes, err := ReadInputs(context.Background(), []string{dir}, nil, InputOptions{
		Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(hostnames(snaps), " "); got != "db1 web1" {
		t.Errorf("snapshots %q", got)
	}
	if len(notes) != 0 {
		t.Errorf("notes: %v", notes)
	}
	if len(calls) != 2 || calls[1] != [2]int{2, 2} {
		t.Errorf("progress calls %v", calls)
	}
}

func TestNewestWinsAndMaxAge(t *testing.T) {
	dir := t.TempDir()
	old := writeFile(t, filepath.Join(dir, "a/web1.json"), encode(t, host("web1", "web", "10.0.0.1", t0.Add(-time.Hour), up(11211, "nginx", "10.0.0.5", "memcache", 1))))
	writeFile(t, filepath.Join(dir, "b/web1.json"), encode(t, host("web1", "web", "10.0.0.1", t0, up(6379, "nginx", "10.0.0.9", "cache", 1))))
	stale := writeFile(t, filepath.Join(dir, "c/db1.json"), encode(t, host("db1", "db", "10.0.0.2", t0.Add(-48*time.Hour))))
	opts := InputOptions{Now: t0.Add(time.Minute), MaxAge: 24 * time.Hour}
	g, notes, err := MergeInputs(context.Background(), []string{dir}, nil, opts, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(notes, graph.Info, old, "is merged from the newer") {
		t.Errorf("no newest-wins note for %s: %v", old, notes)
	}
	if !hasNote(notes, graph.Info, stale, "older than max-age") {
		t.Errorf("no max-age note for %s: %v", stale, notes)
	}
	edges := describeEdges(g)
	check(t, "edges", edges, []string{"web->cache tcp/6379 client sockets=1 clients=1 servers=1 cp=[nginx] sp=[]"})
	if g.Snapshots != 1 || !g.GeneratedAt.Equal(t0) {
		t.Errorf("snapshots %d, generated_at %v", g.Snapshots, g.GeneratedAt)
	}
	// All left out by max-age: nothing to merge.
	opts.MaxAge = time.Second
	if _, _, err := MergeInputs(context.Background(), []string{dir}, nil, opts, graph.MergeOptions{}); !errors.Is(err, ErrNoSnapshots) {
		t.Errorf("err = %v, want ErrNoSnapshots", err)
	}
}

// TestBadInputs: every broken snapshot fails the merge with an error naming
// the file, or with KeepGoing is skipped with a warning while the good one
// merges.
func TestBadInputs(t *testing.T) {
	good := encode(t, host("db1", "db", "10.0.0.2", t0, down(5432, "postgres", "10.0.0.1", "web", 1)))
	web := encode(t, host("web1", "web", "10.0.0.1", t0, up(5432, "python3", "10.0.0.2", "db", 1)))
	cut := bytes.Index(web, []byte(`"connections"`)) + 40
	tests := []struct {
		name string
		data []byte
		want string // in the error
	}{
		{"empty", nil, "empty file"},
		{"blank", []byte("  \n"), "empty file"},
		{"corrupt", []byte(`{"schema": "planet.snapshot/v1", "scanned_at": !!}`), "line 1"},
		{"not an object", []byte(`[1, 2]`), "not a JSON object"},
		{"truncated in the body", web[:cut], "truncated document"},
		{"truncated in the header", web[:30], "truncated document"},
		{"wrong version", bytes.Replace(web, []byte(snapshot.Schema), []byte("planet.snapshot/v9"), 1), `unsupported schema "planet.snapshot/v9"`},
		{"no schema", bytes.Replace(web, []byte(`"schema"`), []byte(`"schemo"`), 1), "unsupported schema"},
		{"trailing data", append(bytes.Clone(web), "{}"...), "trailing data"},
		{"unknown field", bytes.Replace(web, []byte(`"unowned_sockets"`), []byte(`"unknown_field": 1, "unowned_sockets"`), 1), "unknown field"},
		{"invalid value", bytes.Replace(web, []byte(`"direction": "upstream"`), []byte(`"direction": "sideways"`), 1), "neither upstream nor downstream"},
		{"corrupt body behind a good header", bytes.Replace(web, []byte(`"process": "python3"`), []byte(`"process": python3`), 1), "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "db1/snapshot.json"), good)
			bad := writeFile(t, filepath.Join(dir, "web1/snapshot.json"), tt.data)
			for _, paths := range [][]string{{dir}, {filepath.Join(dir, "db1/snapshot.json"), bad}} {
				_, _, err := MergeInputs(context.Background(), paths, nil, InputOptions{}, graph.MergeOptions{})
				if err == nil {
					t.Fatal("no error")
				}
				if msg := err.Error(); !strings.Contains(msg, bad) || !strings.Contains(strings.ReplaceAll(msg, bad, ""), tt.want) {
					t.Errorf("error %q: want the file name and %q", err, tt.want)
				}
				var se *snapshot.Error
				if !errors.As(err, &se) {
					t.Errorf("error %T is not a *snapshot.Error", err)
				}
				g, notes, err := MergeInputs(context.Background(), paths, nil, InputOptions{KeepGoing: true}, graph.MergeOptions{})
				if err != nil {
					t.Fatalf("keep going: %v", err)
				}
				if !hasNote(notes, graph.Warning, bad, "skipped") {
					t.Errorf("keep going: no warning about %s: %v", bad, notes)
				}
				if g.Snapshots != 1 || g.Node("db") == nil {
					t.Errorf("keep going: the good snapshot was not merged")
				}
			}
		})
	}
}

func TestKeepGoingFallsBackToOlderSnapshot(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "old/web1.json"), encode(t, host("web1", "web", "10.0.0.1", t0.Add(-time.Hour), up(6379, "nginx", "10.0.0.9", "cache", 1))))
	newer := encode(t, host("web1", "web", "10.0.0.1", t0, up(5432, "nginx", "10.0.0.9", "db", 1)))
	broken := writeFile(t, filepath.Join(dir, "new/web1.json"), newer[:len(newer)-20])
	g, notes, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{KeepGoing: true}, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(notes, graph.Warning, broken, "truncated document") || !hasNote(notes, graph.Info, "old/web1.json", "used instead") {
		t.Errorf("notes: %v", notes)
	}
	if g.Node("cache") == nil {
		t.Error("the older snapshot was not merged")
	}
}

func TestDirectoryWithFIFOAndSymlinks(t *testing.T) {
	dir := fetchTree(t, host("web1", "web", "10.0.0.1", t0))
	fifo := filepath.Join(dir, "web1", "pipe.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	loopDir := filepath.Join(dir, "web1", "again")
	if err := os.Symlink("..", loopDir); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "self.json")
	if err := os.Symlink("self.json", self); err != nil {
		t.Fatal(err)
	}
	// A symlink to a directory is not followed, even one holding
	// snapshots: a walk never leaves the directory (W1: a link to / made a
	// root merge read every *.json on the machine).
	outside := fetchTree(t, host("db1", "db", "10.0.0.2", t0))
	outLink := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(outside, outLink); err != nil {
		t.Fatal(err)
	}
	// A symlink to a file is followed.
	if err := os.Symlink(filepath.Join(dir, "web1/var/lib/planet/snapshot.json"), filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	for _, keepGoing := range []bool{false, true} {
		done := make(chan struct{})
		var (
			snaps []*snapshot.Snapshot
			notes []graph.Note
			err   error
		)
		go func() {
			defer close(done)
			snaps, notes, err = ReadInputs(context.Background(), []string{dir}, nil, InputOptions{KeepGoing: keepGoing})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the walk blocked")
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) != 1 {
			t.Errorf("%d snapshots, want 1", len(snaps))
		}
		if !hasNote(notes, graph.Warning, fifo, "not a regular file") {
			t.Errorf("no FIFO warning: %v", notes)
		}
		for _, link := range []string{loopDir, outLink} {
			if !hasNote(notes, graph.Info, link, "symbolic link to a directory, not followed") {
				t.Errorf("no note that %s was not followed: %v", link, notes)
			}
		}
		if !hasNote(notes, graph.Warning, self, "symlink loop") {
			t.Errorf("no self-link warning: %v", notes)
		}
	}
}

func TestStdinStream(t *testing.T) {
	var in bytes.Buffer
	in.Write(encode(t, host("web1", "web", "10.0.0.1", t0.Add(-time.Hour), up(11211, "nginx", "10.0.0.5", "memcache", 1))))
	in.Write(encode(t, host("db1", "db", "10.0.0.2", t0, down(5432, "postgres", "10.0.0.1", "web", 1))))
	in.Write(encode(t, host("web1", "web", "10.0.0.1", t0, up(5432, "python3", "10.0.0.2", "db", 1))))
	stream := in.Bytes()
	g, notes, err := MergeInputs(context.Background(), []string{"-"}, bytes.NewReader(stream), InputOptions{}, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(notes, graph.Info, "- (document 1)", "is merged from the newer") {
		t.Errorf("notes: %v", notes)
	}
	edges := describeEdges(g)
	check(t, "edges", edges, []string{"web->db tcp/5432 both sockets=1 clients=1 servers=1 cp=[python3] sp=[postgres]"})

	// A stream broken in its third document: an error, or with KeepGoing
	// the first two and a warning.
	third := bytes.LastIndex(stream, []byte(`"python3"`))
	broken := slices.Concat(stream[:third], []byte(`python3`), stream[third+len(`"python3"`):])
	if _, _, err := MergeInputs(context.Background(), []string{"-"}, bytes.NewReader(broken), InputOptions{}, graph.MergeOptions{}); err == nil || !strings.Contains(err.Error(), "document 3") {
		t.Errorf("broken stream: err = %v", err)
	}
	truncated := stream[:len(stream)-30]
	if _, _, err := MergeInputs(context.Background(), []string{"-"}, bytes.NewReader(truncated), InputOptions{}, graph.MergeOptions{}); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("truncated stream: err = %v", err)
	}
	snaps, notes, err := ReadInputs(context.Background(), []string{"-"}, bytes.NewReader(broken), InputOptions{KeepGoing: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || !hasNote(notes, graph.Warning, "-", "skipped") {
		t.Errorf("%d snapshots, notes %v", len(snaps), notes)
	}
	if _, _, err := ReadInputs(context.Background(), []string{"-"}, strings.NewReader(""), InputOptions{}); err == nil {
		t.Error("empty stdin: no error")
	}
	if _, _, err := ReadInputs(context.Background(), []string{"-", "-"}, strings.NewReader(""), InputOptions{}); err == nil {
		t.Error(`"-" twice: no error`)
	}
}

func TestInputEdgeCases(t *testing.T) {
	dir := fetchTree(t, host("web1", "web", "10.0.0.1", t0))
	g, err := graph.Merge([]*snapshot.Snapshot{host("web1", "web", "10.0.0.1", t0)}, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := graph.Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	prev := writeFile(t, filepath.Join(dir, "graph.json"), buf.Bytes())
	_, notes, err := ReadInputs(context.Background(), []string{dir}, nil, InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(notes, graph.Info, prev, "a graph") {
		t.Errorf("a graph in the directory: notes %v", notes)
	}
	// Named explicitly, a graph is not a snapshot: an error.
	if _, _, err := ReadInputs(context.Background(), []string{prev}, nil, InputOptions{}); err == nil || !errors.Is(err, snapshot.ErrSchema) {
		t.Errorf("graph named as input: err = %v", err)
	}
	if _, _, err := ReadInputs(context.Background(), []string{filepath.Join(dir, "missing.json")}, nil, InputOptions{KeepGoing: true}); err == nil {
		t.Error("missing path: no error")
	}
	if _, _, err := ReadInputs(context.Background(), []string{t.TempDir()}, nil, InputOptions{}); !errors.Is(err, ErrNoSnapshots) {
		t.Errorf("empty directory: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := MergeInputs(ctx, []string{dir}, nil, InputOptions{}, graph.MergeOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if _, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{By: "rack"}); err == nil {
		t.Error("bad options: no error")
	}
}

// TestMergeInputsMatchesMerge: the streaming path and the in-memory path
// give the same bytes.
func TestMergeInputsMatchesMerge(t *testing.T) {
	snaps := []*snapshot.Snapshot{
		host("web1", "web", "10.0.0.1", t0, up(5432, "python3", "10.0.0.2", "db", 3), up(443, "curl", "8.8.8.8", "", 1)),
		host("web2", "web", "10.0.0.4", t0, up(5432, "python3", "10.0.0.2", "db", 1)),
		host("db1", "db", "10.0.0.2", t0, down(5432, "postgres", "10.0.0.1", "web", 4), down(5432, "postgres", "10.0.0.4", "", 1)),
	}
	dir := fetchTree(t, snaps...)
	streamed, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{External: graph.MustParseExternal("collapse")})
	if err != nil {
		t.Fatal(err)
	}
	inMemory, err := graph.Merge(snaps, graph.MergeOptions{External: graph.MustParseExternal("collapse")})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := graphJSON(t, streamed), graphJSON(t, inMemory); !bytes.Equal(a, b) {
		t.Errorf("MergeInputs and graph.Merge differ:\n%s\n%s", a, b)
	}
}

// A FIFO named on the command line (process substitution) is read as a
// stream, unlike one found in a directory.
func TestNamedFIFOIsAStream(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "scan.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	data := slices.Concat(encode(t, host("web1", "web", "10.0.0.1", t0)), encode(t, host("db1", "db", "10.0.0.2", t0)))
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.Write(data)
	}()
	snaps, _, err := ReadInputs(context.Background(), []string{fifo}, nil, InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(hostnames(snaps), " "); got != "web1 db1" {
		t.Errorf("snapshots %q", got)
	}
}

// A FIFO named on the command line whose writer never comes, or never
// finishes, does not hold the merge once the context is cancelled (SIG1: the
// first SIGTERM was ignored while open(2) waited for a writer).
func TestNamedFIFOCancelled(t *testing.T) {
	for _, writer := range []bool{false, true} {
		fifo := filepath.Join(t.TempDir(), "scan.json")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		if writer { // opens, writes half a snapshot, then stalls
			w, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.Write(encode(t, host("web1", "web", "10.0.0.1", t0))[:40])
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		stop := errors.New("received terminated")
		// Cancel once the merge waits: for a writer, or for the rest.
		waits := "fetch.waitReadable"
		if writer {
			waits = "os.(*File).Read"
		}
		go func() {
			if err := testenv.WaitParked(waits, 10*time.Second); err != nil {
				cancel(err)
				return
			}
			cancel(stop)
		}()
		done := make(chan error, 1)
		go func() {
			_, _, err := ReadInputs(ctx, []string{fifo}, nil, InputOptions{KeepGoing: true})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, stop) {
				t.Errorf("writer=%v: err = %v, want the cancellation", writer, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("writer=%v: still waiting on the FIFO 3s after the cancel", writer)
		}
	}
}
