package fleet

import (
	"bytes"
	"context"
	"testing"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fleetgen"
)

// What merge writes from a Merged is what Write writes of the Graph
// MergeInputs builds from the same files, byte for byte, for every way of
// keying nodes and grouping external peers.
func TestMergedWritesTheGraph(t *testing.T) {
	dir := t.TempDir()
	if _, err := fleetgen.Generate(dir, fleetgen.Options{Hosts: 60, Records: 40, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for _, mo := range []graph.MergeOptions{
		{}, {By: graph.ByHost}, {By: graph.ByWorkload}, {By: graph.ByHost, External: graph.MustParseExternal("collapse")}, {External: graph.MustParseExternal("cidr:16")},
	} {
		g, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, mo)
		if err != nil {
			t.Fatal(err)
		}
		var want, got bytes.Buffer
		if err := graph.Write(&want, g); err != nil {
			t.Fatal(err)
		}
		r, _, err := MergeFleet(context.Background(), []string{dir}, nil, InputOptions{}, mo)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Write(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%+v: graph.Merged.Write gives %d bytes, graph.Write(MergeInputs) %d, and they differ", mo, got.Len(), want.Len())
		}
		if len(g.Edges) == 0 || len(r.Nodes().Nodes) != len(g.Nodes) {
			t.Errorf("%+v: %d edges, %d nodes against %d", mo, len(g.Edges), len(r.Nodes().Nodes), len(g.Nodes))
		}
	}
}

// MergeInputs (whose decoders reuse each snapshot's memory for the next
// once the merger has it) builds the graph graph.Merge builds from the
// snapshots ReadInputs returns (nothing reused), for every way of keying
// nodes: the merger keeps nothing that points into a snapshot's records.
func TestMergeInputsReusesNothingItKeeps(t *testing.T) {
	dir := t.TempDir()
	if _, err := fleetgen.Generate(dir, fleetgen.Options{Hosts: 60, Records: 40, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	snaps, _, err := ReadInputs(context.Background(), []string{dir}, nil, InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mo := range []graph.MergeOptions{{}, {By: graph.ByHost}, {By: graph.ByWorkload}} {
		streamed, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, mo)
		if err != nil {
			t.Fatal(err)
		}
		inMemory, err := graph.Merge(snaps, mo)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := graphJSON(t, streamed), graphJSON(t, inMemory); !bytes.Equal(a, b) || len(streamed.Edges) == 0 {
			t.Errorf("%+v: MergeInputs and graph.Merge differ (%d and %d bytes, %d edges)", mo, len(a), len(b), len(streamed.Edges))
		}
	}
}
