package document

import (
	"strings"
	"testing"
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
