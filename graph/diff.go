package graph

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// DiffSchema names the JSON form of a Diff.
const DiffSchema = "planet.diff/v1"

// DiffOptions says which changes matter.
type DiffOptions struct {
	// IgnoreBytes leaves bandwidth out of the comparison.
	IgnoreBytes bool
	// BytesChangePercent is the relative change of a byte count that is
	// reported (default 50): counters move all the time, dependencies don't.
	BytesChangePercent float64
}

// EdgeKey identifies a dependency across graphs.
type EdgeKey struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
}

func (k EdgeKey) String() string {
	return k.From + " -> " + k.To + " " + k.Protocol + "/" + strconv.Itoa(int(k.Port))
}

func keyOf(e *Edge) EdgeKey { return EdgeKey{e.From, e.To, e.Protocol, e.Port} }

// FieldChange is one attribute that differs between the old and new graph.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// EdgeChange is a dependency present in both graphs with different attributes.
type EdgeChange struct {
	EdgeKey
	Changes []FieldChange `json:"changes"`
}

// NodeChange is a node present in both graphs with different attributes.
type NodeChange struct {
	ID      string        `json:"id"`
	Changes []FieldChange `json:"changes"`
}

// Diff is what changed from one graph to another. Every list is sorted.
type Diff struct {
	Schema       string       `json:"schema"`
	AddedNodes   []*Node      `json:"added_nodes"`
	RemovedNodes []*Node      `json:"removed_nodes"`
	ChangedNodes []NodeChange `json:"changed_nodes"`
	AddedEdges   []*Edge      `json:"added_edges"`
	RemovedEdges []*Edge      `json:"removed_edges"`
	ChangedEdges []EdgeChange `json:"changed_edges"`
	// Traffic lists darkstat node-pair totals that changed beyond the
	// threshold, appeared or disappeared (empty with IgnoreBytes).
	Traffic []FieldChange `json:"traffic"`
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return len(d.AddedNodes)+len(d.RemovedNodes)+len(d.ChangedNodes)+
		len(d.AddedEdges)+len(d.RemovedEdges)+len(d.ChangedEdges)+len(d.Traffic) == 0
}

// Summary is a one-line account of the diff, for logs and PR comments.
func (d *Diff) Summary() string {
	if d.Empty() {
		return "no dependency changes"
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(d.AddedEdges), plural(len(d.AddedEdges), "dependency", "dependencies")+" added")
	add(len(d.RemovedEdges), plural(len(d.RemovedEdges), "dependency", "dependencies")+" removed")
	add(len(d.ChangedEdges), plural(len(d.ChangedEdges), "dependency", "dependencies")+" changed")
	add(len(d.AddedNodes), plural(len(d.AddedNodes), "node", "nodes")+" added")
	add(len(d.RemovedNodes), plural(len(d.RemovedNodes), "node", "nodes")+" removed")
	add(len(d.ChangedNodes), plural(len(d.ChangedNodes), "node", "nodes")+" changed")
	add(len(d.Traffic), plural(len(d.Traffic), "bandwidth change", "bandwidth changes"))
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Compare computes what changed from old to new.
func Compare(old, new *Graph, opts DiffOptions) *Diff {
	if opts.BytesChangePercent <= 0 {
		opts.BytesChangePercent = 50
	}
	d := &Diff{Schema: DiffSchema}

	oldNodes := map[string]*Node{}
	for _, n := range old.Nodes {
		oldNodes[n.ID] = n
	}
	newNodes := map[string]*Node{}
	for _, n := range new.Nodes {
		newNodes[n.ID] = n
		o, ok := oldNodes[n.ID]
		if !ok {
			d.AddedNodes = append(d.AddedNodes, n)
			continue
		}
		var ch []FieldChange
		ch = appendChange(ch, "kind", o.Kind, n.Kind)
		ch = appendChange(ch, "host_count", strconv.Itoa(o.HostCount), strconv.Itoa(n.HostCount))
		if len(ch) > 0 {
			d.ChangedNodes = append(d.ChangedNodes, NodeChange{ID: n.ID, Changes: ch})
		}
	}
	for _, n := range old.Nodes {
		if _, ok := newNodes[n.ID]; !ok {
			d.RemovedNodes = append(d.RemovedNodes, n)
		}
	}

	oldEdges := map[EdgeKey]*Edge{}
	for _, e := range old.Edges {
		oldEdges[keyOf(e)] = e
	}
	newEdges := map[EdgeKey]*Edge{}
	for _, e := range new.Edges {
		k := keyOf(e)
		newEdges[k] = e
		o, ok := oldEdges[k]
		if !ok {
			d.AddedEdges = append(d.AddedEdges, e)
			continue
		}
		if ch := edgeChanges(o, e, opts); len(ch) > 0 {
			d.ChangedEdges = append(d.ChangedEdges, EdgeChange{EdgeKey: k, Changes: ch})
		}
	}
	for _, e := range old.Edges {
		if _, ok := newEdges[keyOf(e)]; !ok {
			d.RemovedEdges = append(d.RemovedEdges, e)
		}
	}
	if !opts.IgnoreBytes {
		d.Traffic = trafficChanges(old.Traffic, new.Traffic, opts.BytesChangePercent)
	}
	// Graph lists are already sorted; the traversal keeps that order.
	slices.SortFunc(d.ChangedEdges, func(a, b EdgeChange) int { return compareKeys(a.EdgeKey, b.EdgeKey) })
	return d
}

func compareKeys(a, b EdgeKey) int {
	return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}

func edgeChanges(o, n *Edge, opts DiffOptions) []FieldChange {
	var ch []FieldChange
	ch = appendChange(ch, "client_processes", strings.Join(o.ClientProcesses, ","), strings.Join(n.ClientProcesses, ","))
	ch = appendChange(ch, "server_processes", strings.Join(o.ServerProcesses, ","), strings.Join(n.ServerProcesses, ","))
	ch = appendChange(ch, "client_hosts", strconv.Itoa(o.ClientHosts), strconv.Itoa(n.ClientHosts))
	ch = appendChange(ch, "server_hosts", strconv.Itoa(o.ServerHosts), strconv.Itoa(n.ServerHosts))
	ch = appendChange(ch, "seen_from", o.SeenFrom, n.SeenFrom)
	if !opts.IgnoreBytes {
		if bytesChanged(o.PortBytesToServer, n.PortBytesToServer, opts.BytesChangePercent) {
			ch = append(ch, FieldChange{"port_bytes_to_server", fmtUint(o.PortBytesToServer), fmtUint(n.PortBytesToServer)})
		}
		if bytesChanged(o.PortBytesToClient, n.PortBytesToClient, opts.BytesChangePercent) {
			ch = append(ch, FieldChange{"port_bytes_to_client", fmtUint(o.PortBytesToClient), fmtUint(n.PortBytesToClient)})
		}
	}
	return ch
}

func appendChange(ch []FieldChange, field, o, n string) []FieldChange {
	if o != n {
		ch = append(ch, FieldChange{field, o, n})
	}
	return ch
}

// bytesChanged: a change of more than pct percent of the old value, or a
// count appearing or disappearing.
func bytesChanged(o, n uint64, pct float64) bool {
	if o == n {
		return false
	}
	if o == 0 || n == 0 {
		return true
	}
	return math.Abs(float64(n)-float64(o))/float64(o)*100 > pct
}

func fmtUint(v uint64) string { return strconv.FormatUint(v, 10) }

func trafficChanges(old, new []*Traffic, pct float64) []FieldChange {
	type pair struct{ from, to string }
	om := map[pair]uint64{}
	for _, t := range old {
		om[pair{t.From, t.To}] = t.Bytes
	}
	nm := map[pair]uint64{}
	for _, t := range new {
		nm[pair{t.From, t.To}] = t.Bytes
	}
	var out []FieldChange
	seen := map[pair]bool{}
	for _, list := range [][]*Traffic{old, new} {
		for _, t := range list {
			p := pair{t.From, t.To}
			if seen[p] {
				continue
			}
			seen[p] = true
			if o, n := om[p], nm[p]; bytesChanged(o, n, pct) {
				out = append(out, FieldChange{Field: "traffic " + p.from + " -> " + p.to, Old: fmtUint(o), New: fmtUint(n)})
			}
		}
	}
	slices.SortFunc(out, func(a, b FieldChange) int { return cmp.Compare(a.Field, b.Field) })
	return out
}
