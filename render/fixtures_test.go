package render

import (
	"net/netip"
	"path/filepath"
	"testing"

	goldenfile "github.com/planetdeps/planet/internal/golden"
	"github.com/planetdeps/planet/internal/snapfixtures"
)

// The snapshots every renderer is tested with (internal/snapfixtures).
var (
	fixtures   = snapfixtures.All
	realistic  = snapfixtures.Realistic
	hostile    = snapfixtures.Hostile
	minimal    = snapfixtures.Minimal
	windowed   = snapfixtures.Windowed
	containers = snapfixtures.Containers
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}
