package render

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/planetdeps/planet/graph"
)

// GraphTable writes g for a person at a terminal: a header, the nodes
// (hostgroups first, then hosts, then external peers), the dependencies
// (client, server, proto/port first; then processes, hosts, sockets, which
// end saw it, and the port's bytes each way) and, when darkstat was read,
// the traffic between nodes. Names are made safe for a terminal as in Table.
func GraphTable(w io.Writer, g *graph.Graph) error {
	if g == nil {
		return errors.New("table: no graph")
	}
	var buf bytes.Buffer
	tw := newColumns(&buf)
	fmt.Fprintf(tw, "GRAPH\t%s\n", graph.Schema)
	fmt.Fprintf(tw, "GENERATED\t%s\n", g.GeneratedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "SNAPSHOTS\t%d\n", g.Snapshots)
	fmt.Fprintf(tw, "BY\t%s\n", cell(g.By))
	fmt.Fprintf(tw, "EXTERNAL\t%s\n", cell(g.External))
	tw.Flush()

	buf.WriteString("\nNODES\n")
	if len(g.Nodes) == 0 {
		buf.WriteString("  none\n")
	} else {
		nodes := slices.Clone(g.Nodes)
		rank := map[string]int{graph.KindHostgroup: 0, graph.KindHost: 1, graph.KindWorkload: 2, graph.KindExternal: 3}
		slices.SortStableFunc(nodes, func(a, b *graph.Node) int { return cmp.Compare(rank[a.Kind], rank[b.Kind]) })
		tw = newColumns(&buf)
		fmt.Fprintln(tw, "NODE\tKIND\tHOSTS\tSCANNED\tDOMAINS")
		for _, n := range nodes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", cell(n.ID), n.Kind, n.HostCount, cells(n.Hosts), cells(n.Domains))
		}
		tw.Flush()
	}

	buf.WriteString("\nDEPENDENCIES (client -> server; PORT is the server's)\n")
	if len(g.Edges) == 0 {
		buf.WriteString("  none\n")
	} else {
		// A WORKLOADS column only where snapshots named workloads, so a
		// fleet scanned without them reads as before.
		withWl := slices.ContainsFunc(g.Edges, func(e *graph.Edge) bool {
			return len(e.ClientWorkloads) > 0 || len(e.ServerWorkloads) > 0
		})
		tw = newColumns(&buf)
		wlHead := ""
		if withWl {
			wlHead = "\tWORKLOADS"
		}
		fmt.Fprintln(tw, "CLIENT\tSERVER\tPORT\tPROCESSES"+wlHead+"\tHOSTS\tSOCKETS\tSEEN_FROM\tTO_SERVER\tTO_CLIENT")
		for _, e := range g.Edges {
			wl := ""
			if withWl {
				wl = "\t" + cells(e.ClientWorkloads) + " -> " + cells(e.ServerWorkloads)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s/%d\t%s -> %s%s\t%d -> %d\t%d\t%s\t%s\t%s\n",
				cell(e.From), cell(e.To), cell(e.Protocol), e.Port,
				cells(e.ClientProcesses), cells(e.ServerProcesses), wl,
				e.ClientHosts, e.ServerHosts, e.Sockets, e.SeenFrom,
				knownBytes(e.PortBytesToServer, e.PortBytesToClient, e.PortBytesToServer),
				knownBytes(e.PortBytesToServer, e.PortBytesToClient, e.PortBytesToClient))
		}
		tw.Flush()
	}

	if len(g.Traffic) > 0 {
		buf.WriteString("\nTRAFFIC (darkstat, all ports; bytes since darkstat started)\n")
		tw = newColumns(&buf)
		fmt.Fprintln(tw, "FROM\tTO\tBYTES\tSEEN_FROM")
		for _, t := range g.Traffic {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(t.From), cell(t.To), bytesIEC(t.Bytes), t.SeenFrom)
		}
		tw.Flush()
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// cells joins names for one cell; "-" when there are none.
func cells(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = cell(n)
	}
	return strings.Join(out, ",")
}

// knownBytes shows n, or "-" when neither direction is known (UDP, or no
// byte counters): unknown, not zero.
func knownBytes(toServer, toClient, n uint64) string {
	if toServer == 0 && toClient == 0 {
		return "-"
	}
	return bytesIEC(n)
}
