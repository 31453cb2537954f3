package fleet

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/snapfixtures"
)

// The snapshots these tests read, built the way graph's tests build them.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// The snapshot builders graph's and fleet's tests share.
var (
	host = snapfixtures.Host
	up   = snapfixtures.Up
	down = snapfixtures.Down
)

// describeEdges renders a graph's edges compactly.
func describeEdges(g *graph.Graph) (edges []string) {
	for _, e := range g.Edges {
		edges = append(edges, fmt.Sprintf("%s->%s %s/%d %s sockets=%d clients=%d servers=%d cp=%v sp=%v",
			e.From, e.To, e.Protocol, e.Port, e.SeenFrom, e.Sockets, e.ClientHosts, e.ServerHosts, e.Names().ClientProcesses, e.Names().ServerProcesses))
	}
	return edges
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

// graphJSON is g as graph.Write writes it.
func graphJSON(t *testing.T, g *graph.Graph) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := graph.Write(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
