package snapshot

import (
	"errors"
	"strings"
	"testing"
)

// TestReadHeader: the header is read from the start of the document and the
// read stops there; where planet did not write it first, or the document
// is not a snapshot's, ReadHeader says so and a full Read decides.
func TestReadHeader(t *testing.T) {
	const hdr = `"schema":"planet.snapshot/v2","scanned_at":"2026-01-01T00:00:00Z","host":{"hostname":"h"}`
	for _, tt := range []struct {
		name, doc string
		complete  bool
		schema    string
		errSubstr string
		errIs     error
	}{
		// The records after the header are never reached: broken ones do not matter.
		{name: "planet's order", doc: `{` + hdr + `,"connections":[broken`, complete: true, schema: Schema},
		{name: "schema last", doc: `{"scanned_at":"2026-01-01T00:00:00Z","host":{"hostname":"h"},"planet_version":"x","schema":"planet.snapshot/v1"}`, complete: true, schema: SchemaV1},
		{name: "records first", doc: `{"schema":"planet.snapshot/v2","connections":[],` + hdr[30:] + `}`, schema: Schema, errSubstr: "header not first"},
		{name: "no host", doc: `{"schema":"planet.snapshot/v2","scanned_at":"2026-01-01T00:00:00Z"}`, schema: Schema},
		{name: "twice", doc: `{"schema":"planet.snapshot/v2","Schema":"planet.snapshot/v2"}`, schema: Schema, errSubstr: "member named twice"},
		{name: "a graph", doc: `{"schema":"planet.graph/v1","nodes":[]}`, schema: "planet.graph/v1", errIs: ErrSchema},
		{name: "not an object", doc: `[]`, errSubstr: "not an object"},
		{name: "truncated", doc: `{"schema":"planet.snapshot/v2","host":{"hostname":`, schema: Schema, errSubstr: "EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReadHeader(strings.NewReader(tt.doc))
			switch {
			case tt.errIs != nil:
				if !errors.Is(err, tt.errIs) {
					t.Errorf("err = %v, want %v", err, tt.errIs)
				}
			case tt.errSubstr != "":
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Errorf("err = %v, want %q", err, tt.errSubstr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
			if h.Schema != tt.schema || h.Complete() != tt.complete {
				t.Errorf("schema %q complete %v, want %q %v", h.Schema, h.Complete(), tt.schema, tt.complete)
			}
			if tt.complete && (h.Host.Hostname != "h" || h.ScannedAt.Year() != 2026) {
				t.Errorf("header %+v", h)
			}
		})
	}
}
