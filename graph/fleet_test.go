package graph

import (
	"reflect"
	"slices"
	"testing"

	"github.com/planetdeps/planet/internal/fleetgen"
)

// TestSyntheticFleet: the generator is deterministic, and its fleet merges
// into the shape it was built with.
func TestSyntheticFleet(t *testing.T) {
	opts := fleetgen.Options{Hosts: 120, Records: 60, Seed: 7}
	a, err := fleetgen.Snapshots(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fleetgen.Snapshots(opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same options, different fleets")
	}
	for _, s := range a {
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", s.Host.Hostname, err)
		}
		if len(s.Connections) != opts.Records {
			t.Fatalf("%s: %d records, want %d", s.Host.Hostname, len(s.Connections), opts.Records)
		}
	}
	g, err := Merge(a, MergeOptions{External: MustParseExternal("collapse")})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		from, to string
		port     uint16
	}{
		{"web", "api", 8080}, {"api", "db", 5432}, {"worker", "mq", 9092},
		{"monitoring", "web", 9100}, {"web", "web", 8500}, {"web", "external", 443},
	} {
		var found bool
		for _, e := range g.EdgesBetween(want.from, want.to) {
			if e.Port == want.port {
				found = true
				// Busy servers' records are cut at Records, so some of
				// their client pairs are seen from the client only.
				if want.to != "external" && e.SeenFrom != SeenBoth && e.SeenFrom != SeenMixed {
					t.Errorf("%s: seen from %s, want both or mixed", e, e.SeenFrom)
				}
			}
		}
		if !found {
			t.Errorf("no edge %s -> %s port %d", want.from, want.to, want.port)
		}
	}
	if got := g.Node("web").HostCount; got < 30 {
		t.Errorf("web has %d hosts", got)
	}
	deps, _ := g.DependsOn("web", 0)
	var ids []string
	for _, r := range deps {
		ids = append(ids, r.Node.ID)
	}
	for _, want := range []string{"api", "db", "dns", "cache"} {
		if !slices.Contains(ids, want) {
			t.Errorf("web does not depend on %s: %v", want, ids)
		}
	}
}
