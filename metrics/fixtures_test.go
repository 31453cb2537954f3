package metrics

import (
	"net/netip"
	"path/filepath"
	"testing"

	goldenfile "github.com/planetdeps/planet/internal/golden"
	"github.com/planetdeps/planet/internal/snapfixtures"
	"github.com/planetdeps/planet/snapshot"
)

// The snapshots the textfile writer is tested with (internal/snapfixtures).
var (
	fixtures  = fixtureList()
	realistic = snapfixtures.Realistic
	hostile   = snapfixtures.Hostile
	minimal   = snapfixtures.Minimal
	windowed  = snapfixtures.Windowed
)

// fixture is a snapfixtures.Fixture with the field names the tests use.
type fixture struct {
	name string
	snap func() *snapshot.Snapshot
}

func fixtureList() []fixture {
	out := make([]fixture, len(snapfixtures.All))
	for i, f := range snapfixtures.All {
		out[i].name, out[i].snap = f.Name, f.Snap
	}
	return out
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}
