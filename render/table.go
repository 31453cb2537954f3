package render

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

// Table writes s for a person at a terminal: a short header about the host
// and the scan, then listeners, upstream, downstream and (when darkstat was
// read) traffic, each in aligned columns with hostgroups and ports first.
// Names are shown as they are unless they hold something a terminal would
// interpret (control characters, escape sequences, invalid UTF-8); those are
// shown Go-quoted.
func Table(w io.Writer, s *snapshot.Snapshot) error {
	if s == nil {
		return errors.New("table: no snapshot")
	}
	var buf bytes.Buffer
	writeHeader(&buf, s)
	writeListeners(&buf, s.Listeners)
	writeConnections(&buf, "UPSTREAM (this host depends on them; PORT is theirs)", s.Connections, snapshot.Upstream)
	writeConnections(&buf, "DOWNSTREAM (they depend on this host; PORT is ours)", s.Connections, snapshot.Downstream)
	if s.Traffic != nil {
		writeTraffic(&buf, s.Traffic)
	}
	if len(s.Warnings) > 0 {
		buf.WriteString("\nWARNINGS\n")
		for _, warning := range s.Warnings {
			fmt.Fprintf(&buf, "  %s\n", cell(warning))
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func writeHeader(buf *bytes.Buffer, s *snapshot.Snapshot) {
	tw := newColumns(buf)
	addrs := make([]string, len(s.Host.Addresses))
	for i, a := range s.Host.Addresses {
		addrs[i] = a.String()
	}
	fmt.Fprintf(tw, "HOST\t%s\n", cell(s.Host.Label()))
	fmt.Fprintf(tw, "HOSTNAME\t%s\n", cell(s.Host.Hostname))
	fmt.Fprintf(tw, "HOSTGROUP\t%s\n", cell(s.Host.Hostgroup))
	fmt.Fprintf(tw, "ADDRESSES\t%s\n", cell(strings.Join(addrs, " ")))
	scanned := s.ScannedAt.UTC().Format(time.RFC3339)
	if s.PlanetVersion != "" {
		scanned += " by planet " + cell(s.PlanetVersion)
	}
	fmt.Fprintf(tw, "SCANNED\t%s\n", scanned)
	for _, src := range s.Sources {
		status := "ok"
		if !src.OK {
			status = "FAILED"
		}
		for _, more := range []string{src.Detail, src.Error} {
			if more != "" {
				status += ": " + cell(more)
			}
		}
		fmt.Fprintf(tw, "SOURCE %s\t%s\n", cell(src.Name), status)
	}
	if w := s.Window; w != nil {
		fmt.Fprintf(tw, "WINDOW\t%s\n", windowSummary(w))
	}
	if s.UnownedSockets > 0 {
		fmt.Fprintf(tw, "UNOWNED\t%d sockets whose process could not be read (run as root to see them)\n", s.UnownedSockets)
	}
	tw.Flush()
}

func writeListeners(buf *bytes.Buffer, listeners []snapshot.Listener) {
	buf.WriteString("\nLISTENERS\n")
	if len(listeners) == 0 {
		buf.WriteString("  none\n")
		return
	}
	ls := slices.Clone(listeners)
	slices.SortFunc(ls, func(a, b snapshot.Listener) int {
		return cmp.Or(
			cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Protocol, b.Protocol),
			a.Address.Compare(b.Address),
			cmp.Compare(a.Process, b.Process),
		)
	})
	// WORKLOAD only for a snapshot that names workloads (v2).
	withWl := slices.ContainsFunc(ls, func(l snapshot.Listener) bool { return l.Workload != "" })
	tw := newColumns(buf)
	if withWl {
		fmt.Fprintln(tw, "PORT\tPROTO\tBIND\tPROCESS\tWORKLOAD\tSOCKETS")
	} else {
		fmt.Fprintln(tw, "PORT\tPROTO\tBIND\tPROCESS\tSOCKETS")
	}
	for _, l := range ls {
		if withWl {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", l.Port, cell(l.Protocol), l.Bind(), cell(l.Process), workloadCell(l.Workload), l.Sockets)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\n", l.Port, cell(l.Protocol), l.Bind(), cell(l.Process), l.Sockets)
	}
	tw.Flush()
}

// connRow is a connection with its display values resolved.
type connRow struct {
	c                     snapshot.Connection
	hostgroup, domain, ip string
}

func writeConnections(buf *bytes.Buffer, title string, all []snapshot.Connection, dir snapshot.Direction) {
	fmt.Fprintf(buf, "\n%s\n", title)
	var rows []connRow
	withBytes, withWindow, withWl := false, false, false
	for _, c := range all {
		if c.Direction != dir {
			continue
		}
		withWl = withWl || c.Workload != ""
		_, group := metrics.RemoteLabels(c.RemoteIP, c.RemoteDomain, c.RemoteHostgroup)
		rows = append(rows, connRow{c: c, hostgroup: group, domain: c.RemoteDomain, ip: c.RemoteIP.Unmap().String()})
		withBytes = withBytes || c.BytesSent > 0 || c.BytesReceived > 0
		withWindow = withWindow || c.Window != nil
	}
	if len(rows) == 0 {
		buf.WriteString("  none\n")
		return
	}
	slices.SortFunc(rows, func(a, b connRow) int {
		return cmp.Or(
			cmp.Compare(a.hostgroup, b.hostgroup),
			cmp.Compare(a.c.Port, b.c.Port),
			cmp.Compare(a.c.Protocol, b.c.Protocol),
			cmp.Compare(a.domain, b.domain),
			a.c.RemoteIP.Unmap().Compare(b.c.RemoteIP.Unmap()),
			cmp.Compare(a.c.Process, b.c.Process),
			cmp.Compare(a.c.Workload, b.c.Workload),
		)
	})
	tw := newColumns(buf)
	header := "HOSTGROUP\tPORT\tPROTO\tDOMAIN\tIP\tPROCESS\tSOCKETS\tSTATES"
	if withWl {
		header = "HOSTGROUP\tPORT\tPROTO\tDOMAIN\tIP\tPROCESS\tWORKLOAD\tSOCKETS\tSTATES"
	}
	if withBytes {
		header += "\tSENT\tRECEIVED"
	}
	if withWindow {
		header += "\tOPENED\tCLOSED\tSENT/S\tRECEIVED/S"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s", cell(r.hostgroup), r.c.Port, cell(r.c.Protocol),
			cell(r.domain), r.ip, cell(r.c.Process))
		if withWl {
			fmt.Fprintf(tw, "\t%s", workloadCell(r.c.Workload))
		}
		fmt.Fprintf(tw, "\t%d\t%s", r.c.Sockets, withConntrack(states(r.c.States), r.c))
		if withBytes {
			if r.c.BytesSent == 0 && r.c.BytesReceived == 0 {
				// UDP, or sockets already closed: unknown, not zero.
				fmt.Fprint(tw, "\t-\t-")
			} else {
				fmt.Fprintf(tw, "\t%s\t%s", bytesIEC(r.c.BytesSent), bytesIEC(r.c.BytesReceived))
			}
		}
		if withWindow {
			if w := r.c.Window; w == nil {
				fmt.Fprint(tw, "\t-\t-\t-\t-")
			} else if w.BytesUnknown {
				// Seen through /proc only: no byte counters, so no rate.
				fmt.Fprintf(tw, "\t%d\t%d\t-\t-", w.Opened, w.Closed)
			} else {
				fmt.Fprintf(tw, "\t%d\t%d\t%s\t%s", w.Opened, w.Closed, rateSI(w.BytesSentPerSecond), rateSI(w.BytesReceivedPerSecond))
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func writeTraffic(buf *bytes.Buffer, t *snapshot.Traffic) {
	fmt.Fprintf(buf, "\nTRAFFIC (darkstat %s at %s; bytes since darkstat started)\n", cell(t.Format), cell(t.Source))
	if len(t.Peers) == 0 {
		buf.WriteString("  none\n")
		return
	}
	type peerRow struct {
		p         snapshot.Peer
		hostgroup string
	}
	rows := make([]peerRow, len(t.Peers))
	for i, p := range t.Peers {
		_, group := metrics.RemoteLabels(p.RemoteIP, p.RemoteDomain, p.RemoteHostgroup)
		rows[i] = peerRow{p: p, hostgroup: group}
	}
	slices.SortFunc(rows, func(a, b peerRow) int {
		return cmp.Or(
			cmp.Compare(a.hostgroup, b.hostgroup),
			cmp.Compare(a.p.RemoteDomain, b.p.RemoteDomain),
			a.p.RemoteIP.Unmap().Compare(b.p.RemoteIP.Unmap()),
		)
	})
	tw := newColumns(buf)
	fmt.Fprintln(tw, "HOSTGROUP\tDOMAIN\tIP\tINGRESS\tEGRESS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(r.hostgroup), cell(r.p.RemoteDomain), r.p.RemoteIP.Unmap(),
			bytesIEC(r.p.IngressBytes), bytesIEC(r.p.EgressBytes))
	}
	tw.Flush()
}

// states prints socket counts by TCP state, busiest first.
// withConntrack adds to a STATES cell what the connection-tracking table
// told about the record: flows no socket shows, the address dialled, the
// backend of a published port, the masqueraded origin.
func withConntrack(cellText string, c snapshot.Connection) string {
	var parts []string
	if c.Flows > 0 {
		f := "flows=" + strconv.Itoa(c.Flows)
		if c.EndedFlows > 0 {
			f += ",ended=" + strconv.Itoa(c.EndedFlows)
		}
		parts = append(parts, f)
	}
	if c.DialledIP.IsValid() {
		parts = append(parts, "dialled="+netip.AddrPortFrom(c.DialledIP, c.DialledPort).String())
	}
	if c.BackendIP.IsValid() {
		parts = append(parts, "backend="+netip.AddrPortFrom(c.BackendIP, c.BackendPort).String())
	}
	if c.OriginIP.IsValid() {
		parts = append(parts, "origin="+c.OriginIP.String())
	}
	if len(parts) == 0 {
		return cellText
	}
	if cellText == "-" {
		return strings.Join(parts, " ")
	}
	return cellText + " " + strings.Join(parts, " ")
}

func states(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	names := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = cell(n) + "=" + strconv.Itoa(m[n])
	}
	return strings.Join(parts, ",")
}

// cell makes a value safe for one table cell on a terminal: tabs and
// newlines would break the columns, escape sequences would be run by the
// terminal, and invalid UTF-8 has no display width to align by.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == '"' }) {
		return strconv.Quote(s)
	}
	return s
}

// bytesIEC prints n in binary units with one decimal, exact below 1 KiB.
func bytesIEC(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v := float64(n)
	unit := ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"} {
		v /= 1024
		unit = u
		if v < 1024 {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
}

// workloadCell shows a workload name, "-" for none.
func workloadCell(w string) string {
	if w == "" {
		return "-"
	}
	return cell(w)
}
