package scan

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/golden"
	"github.com/planetdeps/planet/snapshot"
)

// TestFixtureProc scans the fixture /proc tree under testdata/proc (made by
// testdata/mkproc.py): every classification rule of docs/scan.md ("What a
// scan sees") has a socket there, and the golden snapshot is the expected
// result.
func TestFixtureProc(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s, err := Run(context.Background(), Options{
		ProcRoot: "../testdata/proc",
		Version:  "test",
		Now:      func() time.Time { return at },
		EUID:     func() int { return 0 }, // the golden snapshot is root's
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/fixture-proc.golden.json", buf.Bytes())

	// The written snapshot reads back strictly and equal.
	back, err := snapshot.Parse(buf.Bytes(), "fixture")
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := snapshot.Write(&again, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("snapshot changed on a write/read/write round trip")
	}
}

func TestFixtureProcErrors(t *testing.T) {
	tests := []struct {
		name string
		root string
		want string
	}{
		{"missing root", "testdata/does-not-exist", "does-not-exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{ProcRoot: tt.root})
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("err = %v, want it to name %q", err, tt.want)
			}
		})
	}
}
