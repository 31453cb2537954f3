package document

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
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
