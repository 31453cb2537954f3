package render

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/planetdeps/planet/graph"
)

// GraphTable writes g for a person at a terminal: a header, the nodes
// (hostgroups first, then hosts, then external peers; addresses in numeric
// order), the nodes with hosts scanned without seeing every socket's
// process (when any), the dependencies (client, server, proto/port first; then
// processes, hosts, sockets, which end saw it, and the port's bytes each
// way) and, when darkstat was read, the traffic between nodes. Names are
// made safe for a terminal as in Table; a list in a cell shows its first
// maxListed names and "+N more".
func GraphTable(w io.Writer, g *graph.Graph) error { return GraphTableWidth(w, g, 0) }

// maxListed is how many names a table cell lists before "+N more".
const maxListed = 3

// GraphTableWidth is GraphTable fitted to width terminal columns (0: no
// limit, as for a pipe or a file): when a table is wider, its name and list
// columns are narrowed and their cells cut with "…", so no line wraps.
func GraphTableWidth(w io.Writer, g *graph.Graph, width int) error {
	if g == nil {
		return errors.New("table: no graph")
	}
	// Written as it goes: the lists of nodes and edges are generated once
	// per pass of the table's alignment, so a table of millions of edges
	// is never held in memory.
	buf := bufio.NewWriterSize(w, 64<<10)
	tw := newColumns(buf)
	fmt.Fprintf(tw, "GRAPH\t%s\n", graph.Schema)
	fmt.Fprintf(tw, "GENERATED\t%s\n", g.GeneratedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "SNAPSHOTS\t%d\n", g.Snapshots)
	fmt.Fprintf(tw, "BY\t%s\n", cell(g.By))
	fmt.Fprintf(tw, "EXTERNAL\t%s\n", cell(g.External))
	tw.Flush()

	order := newNameOrder(g)
	buf.WriteString("\nNODES\n")
	if len(g.Nodes) == 0 {
		buf.WriteString("  none\n")
	} else {
		nodes := slices.Clone(g.Nodes)
		rank := map[graph.NodeKind]int{graph.KindHostgroup: 0, graph.KindHost: 1, graph.KindWorkload: 2, graph.KindExternal: 3}
		slices.SortStableFunc(nodes, func(a, b *graph.Node) int {
			return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), order.compare(a.ID, b.ID))
		})
		newColumns(buf).fit(width, narrowing{4, 24}, narrowing{3, 24}, narrowing{4, 12}, narrowing{3, 12}, narrowing{0, 24}, narrowing{0, 15}).rows(func(tw io.Writer) {
			fmt.Fprintln(tw, "NODE\tKIND\tHOSTS\tSCANNED\tDOMAINS")
			for _, n := range nodes {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", cell(n.ID), n.Kind, n.HostCount, cells(n.Hosts), cells(n.Domains))
			}
		}).Flush()
	}

	writeIncomplete(buf, g)

	buf.WriteString("\nDEPENDENCIES (client -> server; PORT is the server's)\n")
	if len(g.Edges) == 0 {
		buf.WriteString("  none\n")
	} else {
		// A WORKLOADS column only where snapshots named workloads, so a
		// fleet scanned without them reads as before.
		withWl := slices.ContainsFunc(g.Edges, func(e *graph.Edge) bool {
			return len(e.Names().ClientWorkloads) > 0 || len(e.Names().ServerWorkloads) > 0
		})
		// Narrow: processes (and workloads), then socket and seen-from
		// columns out, then names (an IPv4 address whole), the hosts column
		// out, then more.
		steps := []narrowing{{3, 20}, {5, 0}, {6, 0}, {0, 20}, {1, 20},
			{3, 12}, {4, 0}, {0, 15}, {1, 15}, {3, 8}, {0, 8}, {1, 8}}
		wlHead := ""
		if withWl {
			wlHead = "\tWORKLOADS"
			// The columns after PROCESSES move one right.
			for i := range steps {
				if steps[i].col >= 4 {
					steps[i].col++
				}
			}
			steps = slices.Insert(steps, 1, narrowing{4, 20})
			steps = slices.Insert(steps, 7, narrowing{4, 12})
			steps = slices.Insert(steps, 12, narrowing{4, 0})
		}
		edges := g.Edges // by from, to as text: the same unless a name is an address
		if order.addrs {
			edges = slices.Clone(g.Edges)
			slices.SortStableFunc(edges, func(a, b *graph.Edge) int {
				return cmp.Or(order.compare(a.From, b.From), order.compare(a.To, b.To))
			})
		}
		newColumns(buf).fit(width, steps...).rows(func(tw io.Writer) {
			fmt.Fprintln(tw, "CLIENT\tSERVER\tPORT\tPROCESSES"+wlHead+"\tHOSTS\tSOCKETS\tSEEN_FROM\tTO_SERVER\tTO_CLIENT")
			for _, e := range edges {
				wl := ""
				if withWl {
					wl = "\t" + cells(e.Names().ClientWorkloads) + " -> " + cells(e.Names().ServerWorkloads)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s/%d\t%s -> %s%s\t%d -> %d\t%d\t%s\t%s\t%s\n",
					cell(e.From), cell(e.To), cell(e.Protocol), e.Port,
					cells(e.Names().ClientProcesses), cells(e.Names().ServerProcesses), wl,
					e.ClientHosts, e.ServerHosts, e.Sockets, e.SeenFrom,
					knownBytes(e.Bytes().PortBytesToServer, e.Bytes().PortBytesToClient, e.Bytes().PortBytesToServer),
					knownBytes(e.Bytes().PortBytesToServer, e.Bytes().PortBytesToClient, e.Bytes().PortBytesToClient))
			}
		}).Flush()
	}

	if len(g.Traffic) > 0 {
		buf.WriteString("\nTRAFFIC (darkstat, all ports; bytes since darkstat started)\n")
		traffic := g.Traffic
		if order.addrs {
			traffic = slices.Clone(g.Traffic)
			slices.SortStableFunc(traffic, func(a, b *graph.Traffic) int {
				return cmp.Or(order.compare(a.From, b.From), order.compare(a.To, b.To))
			})
		}
		// Rows made once per alignment pass, as the dependencies' are:
		// millions of pairs are never held as text.
		newColumns(buf).fit(width, narrowing{0, 20}, narrowing{1, 20}, narrowing{3, 0}, narrowing{0, 8}, narrowing{1, 8}).rows(func(tw io.Writer) {
			fmt.Fprintln(tw, "FROM\tTO\tBYTES\tSEEN_FROM")
			for _, t := range traffic {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(t.From), cell(t.To), bytesIEC(t.Bytes), t.SeenFrom)
			}
		}).Flush()
	}
	return buf.Flush()
}

// writeIncomplete lists the nodes with hosts whose scan could not see every
// socket's owner process; nothing when every scan was complete.
func writeIncomplete(buf *bufio.Writer, g *graph.Graph) {
	var tw *columns
	for _, n := range g.Nodes {
		if len(n.IncompleteHosts) == 0 {
			continue
		}
		if tw == nil {
			buf.WriteString("\nINCOMPLETE SCANS (sockets whose owner process was not visible, e.g. scanned without root: their process names may be missing)\n")
			tw = newColumns(buf)
			fmt.Fprintln(tw, "NODE\tHOSTS\tUNOWNED_SOCKETS")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", cell(n.ID), cells(n.IncompleteHosts), n.UnownedSockets)
	}
	if tw != nil {
		tw.Flush()
	}
}

// cells joins names for one cell, the first maxListed of them and then
// "+N more"; "-" when there are none.
func cells(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	out := make([]string, 0, maxListed+1)
	for i, n := range names {
		if i == maxListed && len(names) > maxListed+1 {
			out = append(out, fmt.Sprintf("+%d more", len(names)-i))
			break
		}
		out = append(out, cell(n))
	}
	return strings.Join(out, listSep)
}

// nameOrder orders a graph's node names for a person: IP addresses and
// prefixes numerically (10.0.0.9 before 10.0.0.10; IPv4 before IPv6),
// after every other name, which sorts as text. Each name is parsed once.
type nameOrder struct {
	prefixes map[string]netip.Prefix
	addrs    bool // some name is an address or prefix
}

func newNameOrder(g *graph.Graph) nameOrder {
	o := nameOrder{prefixes: map[string]netip.Prefix{}}
	for _, n := range g.Nodes {
		if p, ok := parseAddrOrPrefix(n.ID); ok {
			o.prefixes[n.ID] = p
		}
	}
	o.addrs = len(o.prefixes) > 0
	return o
}

func (o nameOrder) compare(a, b string) int {
	pa, aok := o.prefixes[a]
	pb, bok := o.prefixes[b]
	switch {
	case aok && bok:
		return cmp.Or(pa.Addr().Compare(pb.Addr()), cmp.Compare(pa.Bits(), pb.Bits()), strings.Compare(a, b))
	case aok:
		return 1
	case bok:
		return -1
	}
	return strings.Compare(a, b)
}

// parseAddrOrPrefix reads "10.1.2.3" (as a /32) or "10.1.0.0/16".
func parseAddrOrPrefix(s string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	return p, err == nil
}

// knownBytes shows n, or "-" when neither direction is known (UDP, or no
// byte counters): unknown, not zero.
func knownBytes(toServer, toClient, n uint64) string {
	if toServer == 0 && toClient == 0 {
		return "-"
	}
	return bytesIEC(n)
}
