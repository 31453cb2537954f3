package graph

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/planetdeps/planet/snapshot"
)

// chain: lb -> web -> api -> db, api -> cache, cache -> api (a cycle),
// batch -> db, web -> web (self-loop).
func queryGraph(t *testing.T) *Graph {
	t.Helper()
	g, err := Merge([]*snapshot.Snapshot{
		host("lb1", "lb", "10.0.0.10", t0, up(80, "haproxy", "10.0.0.1", "web", 1)),
		host("web1", "web", "10.0.0.1", t0, up(8080, "nginx", "10.0.0.3", "api", 1), up(80, "nginx", "10.0.0.1", "web", 1)),
		host("api1", "api", "10.0.0.3", t0, up(5432, "java", "10.0.0.2", "db", 1), up(6379, "java", "10.0.0.9", "cache", 1)),
		host("cache1", "cache", "10.0.0.9", t0, up(8080, "redis", "10.0.0.3", "api", 1)),
		host("batch1", "batch", "10.0.0.11", t0, up(5432, "cron", "10.0.0.2", "db", 1)),
		host("db1", "db", "10.0.0.2", t0),
	}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func reached(rs []Reached) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s@%d", r.Node.ID, r.Depth))
	}
	return out
}

func TestQueries(t *testing.T) {
	g := queryGraph(t)
	tests := []struct {
		name  string
		query func(string, int) ([]Reached, error)
		node  string
		depth int
		want  []string
	}{
		{"web depends on, depth 1", g.DependsOn, "web", 1, []string{"api@1"}},
		{"web depends on, all", g.DependsOn, "web", 0, []string{"api@1", "cache@2", "db@2"}},
		{"lb depends on, depth 2", g.DependsOn, "lb", 2, []string{"web@1", "api@2"}},
		{"db depends on nothing", g.DependsOn, "db", 0, nil},
		{"what depends on db, depth 1", g.Dependents, "db", 1, []string{"api@1", "batch@1"}},
		{"what depends on db, all", g.Dependents, "db", -1, []string{"api@1", "batch@1", "cache@2", "web@2", "lb@3"}},
		{"the cycle does not list the start", g.Dependents, "api", 0, []string{"cache@1", "web@1", "lb@2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.query(tt.node, tt.depth)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(reached(got), tt.want) {
				t.Errorf("got %v, want %v", reached(got), tt.want)
			}
		})
	}
	var unknown *UnknownNodeError
	if _, err := g.DependsOn("nope", 1); !errors.As(err, &unknown) {
		t.Errorf("unknown node: %v", err)
	}
	if got, want := g.Cycles(), [][]string{{"api", "cache"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("cycles %v, want %v", got, want)
	}
	if got := g.SelfLoops(); !slices.Equal(got, []string{"web"}) {
		t.Errorf("self-loops %v", got)
	}
}

func TestSubgraph(t *testing.T) {
	g := queryGraph(t)
	sub, err := g.Subgraph("api", 1)
	if err != nil {
		t.Fatal(err)
	}
	nodes, edges, _ := describe(sub)
	var ids []string
	for _, n := range sub.Nodes {
		ids = append(ids, n.ID)
	}
	check(t, "nodes", ids, []string{"api", "cache", "db", "web"})
	check(t, "edges", edges, []string{
		"api->cache tcp/6379 client sockets=1 clients=1 servers=1 cp=[java] sp=[]",
		"api->db tcp/5432 client sockets=1 clients=1 servers=1 cp=[java] sp=[]",
		"cache->api tcp/8080 client sockets=1 clients=1 servers=1 cp=[redis] sp=[]",
		"web->api tcp/8080 client sockets=1 clients=1 servers=1 cp=[nginx] sp=[]",
		"web->web tcp/80 client sockets=1 clients=1 servers=1 cp=[nginx] sp=[]",
	})
	_ = nodes
	// The subgraph is a graph of its own: queries work on it.
	if deps, _ := sub.DependsOn("web", 0); len(deps) != 3 {
		t.Errorf("web in the subgraph depends on %v", reached(deps))
	}
	if g.Node("lb") == nil || sub.Node("lb") != nil {
		t.Error("lb should be only in the full graph")
	}
}

func TestLookup(t *testing.T) {
	g, err := Merge([]*snapshot.Snapshot{
		host("db", "", "", t0, up(5432, "psql", "10.0.0.2", "", 1)),
		host("db1", "db", "10.0.0.2", t0),
	}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range g.Lookup("db") {
		ids = append(ids, n.ID)
	}
	if !slices.Equal(ids, []string{"hostgroup:db", "host:db"}) {
		t.Errorf("Lookup(db) = %v", ids)
	}
	if got := g.Lookup("hostgroup:db"); len(got) != 1 {
		t.Errorf("Lookup by full id: %v", got)
	}
}

// TestTrafficBytes: a pair's bytes are found in the graph's sorted traffic,
// each direction on its own; a pair without traffic has none.
func TestTrafficBytes(t *testing.T) {
	g, err := Parse([]byte(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"host","external":"ip","snapshots":1,
		"nodes":[{"id":"a","kind":"host","host_count":1},{"id":"b","kind":"host","host_count":1},{"id":"c","kind":"host","host_count":1}],
		"edges":[],"traffic":[{"from":"b","to":"a","bytes":7,"seen_from":"both"},{"from":"a","to":"b","bytes":5,"seen_from":"both"},{"from":"c","to":"c","bytes":3,"seen_from":"both"}]}`), "traffic.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from, to string
		want     uint64
	}{{"a", "b", 5}, {"b", "a", 7}, {"c", "c", 3}, {"a", "c", 0}, {"x", "a", 0}} {
		if got := g.TrafficBytes(tt.from, tt.to); got != tt.want {
			t.Errorf("%s -> %s: %d bytes, want %d", tt.from, tt.to, got, tt.want)
		}
	}
}
