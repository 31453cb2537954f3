package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/planetdeps/planet/scan/conntrack"
	"github.com/planetdeps/planet/snapshot"
)

// addConntrack folds the connection-tracking table of the scanned network
// namespace into snap.Connections (package conntrack says how) and records
// the read as a source. A missing table (no nf_conntrack module) is
// recorded as nothing read, an unreadable one as a failed source; neither
// fails the scan.
//
// The table is the host namespace's (scans[0]); owners maps socket inodes
// to their processes, Name being ownerKey(comm, workload).
func addConntrack(ctx context.Context, opts Options, snap *snapshot.Snapshot, scans []nsScan, owners map[uint64]Process,
	local map[netip.Addr]bool, own map[netip.AddrPort]bool, eph PortRange, warn func(string, ...any)) {
	h := conntrack.Host{
		Local:       local,
		Ephemeral:   eph.Contains,
		Listeners:   snap.Listeners,
		Connections: snap.Connections,
		Own:         own,
	}
	if len(scans) > 0 {
		h.HostNetns = scans[0].info.Inode
	}
	for n, ns := range scans {
		if n == 0 || ns.info.Error != "" {
			continue
		}
		// A container's workload: the one most of its sockets' owners
		// belong to (every name here is in snap.Workloads already).
		count := map[string]int{}
		for i := range ns.socks {
			if o, ok := owners[ns.socks[i].Inode]; ok {
				if _, wl := splitOwner(o.Name); wl != "" {
					count[wl]++
				}
			}
		}
		ct := conntrack.Container{Netns: ns.info.Inode}
		for wl, c := range count {
			if c > count[ct.Workload] || (c == count[ct.Workload] && wl < ct.Workload) {
				ct.Workload = wl
			}
		}
		for _, a := range ns.info.Addresses {
			if h.Containers == nil {
				h.Containers = map[netip.Addr]conntrack.Container{}
			}
			// Addresses private to the host (its containers' bridge) are
			// unique on it; one claimed by two namespaces is neither's.
			if _, dup := h.Containers[a]; dup || local[a] {
				h.Containers[a] = conntrack.Container{}
				continue
			}
			h.Containers[a] = ct
		}
	}
	// Every namespace's sockets, for a table with flows in it.
	h.LoadSockets = func() (connected, unconnected []conntrack.Socket) {
		for _, ns := range scans {
			for i := range ns.socks {
				s := &ns.socks[i]
				cs := conntrack.Socket{Proto: s.Protocol, Local: s.Local, Remote: s.Remote, Netns: ns.info.Inode,
					BytesSent: s.BytesAcked, BytesReceived: s.BytesReceived, HasBytes: s.HasBytes}
				if o, ok := owners[s.Inode]; ok {
					cs.Process, cs.Workload = splitOwner(o.Name)
				}
				switch {
				case isConnected(s):
					if s.Inode == 0 {
						cs.Process, cs.Workload = "", ""
					}
					if s.Protocol == "tcp" {
						cs.State = stateName(s.State)
					}
					connected = append(connected, cs)
				case s.Protocol == "udp" && s.Remote.Port() == 0 && s.Local.Port() != 0:
					unconnected = append(unconnected, cs)
				}
			}
		}
		return connected, unconnected
	}
	for a, ct := range h.Containers {
		if ct.Netns == 0 {
			delete(h.Containers, a)
		}
	}
	path := conntrack.Path(opts.ProcRoot)
	src := snapshot.Source{Name: snapshot.SourceConntrack}
	// Bounded like the other sources; a table still being read then is a
	// recorded failure, and the scan goes on.
	cctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout,
		fmt.Errorf("connection-tracking table not read within %s", opts.Timeout))
	defer cancel()
	conns, info, note, err := readConntrack(cctx, opts, path, h)
	if err != nil {
		if errors.Is(err, conntrack.ErrNoTable) {
			// Nothing to read is not a failure (planet_scan_success stays
			// 1): the host tracks no connections.
			src.OK, src.Detail = true, "none read: "+err.Error()
			opts.Logger.Info("no connection-tracking table: published ports, NAT and unconnected UDP flows are not seen", "error", err)
		} else {
			src.Error = err.Error()
			warn("connection-tracking table unreadable: published ports, NAT and unconnected UDP flows are not seen", "error", err)
		}
		snap.Sources = append(snap.Sources, src)
		return
	}
	src.OK = true
	src.Detail = fmt.Sprintf("%d flows read from %s%s, %d added, %d sockets' actual destination, %d foreign ignored",
		info.Entries, info.Source, note, info.FlowsAdded, info.SocketsRedirected, info.Foreign)
	snap.Sources = append(snap.Sources, src)
	snap.Connections = conns
	snap.Conntrack = info
	if info.Truncated {
		warn("connection-tracking table longer than planet reads; the rest left out", "entries", info.Entries)
	}
	if info.Dropped > 0 {
		warn("connection-tracking flows left out: too many distinct records", "flows", info.Dropped)
	}
	if info.ByteCounters && info.FlowsAdded > 0 {
		snap.ByteCounters = snapshot.ByteCountersMeaning + snapshot.ByteCountersConntrack
	}
}

// readConntrack picks the table's reader. The live host's table is dumped
// through ctnetlink where planet may (CAP_NET_ADMIN: root), else read from
// /proc/net/nf_conntrack (root's or CAP_DAC_READ_SEARCH's read permission,
// which the shipped unit has). A fixture proc root has only the file. The
// file's existence is also the test for the module: planet never makes the
// kernel load nf_conntrack by asking ctnetlink first.
func readConntrack(ctx context.Context, opts Options, path string, h conntrack.Host) ([]snapshot.Connection, *snapshot.Conntrack, string, error) {
	live := filepath.Clean(opts.ProcRoot) == "/proc"
	if _, err := os.Stat(path); err != nil || !live {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, "", fmt.Errorf("%s: %w", path, conntrack.ErrNoTable)
		}
		conns, info, err := conntrack.Scan(ctx, path, h, conntrack.Limits{})
		return conns, info, "", err
	}
	conns, info, err := conntrack.ScanNetlink(ctx, h, conntrack.Limits{})
	if err == nil || ctx.Err() != nil {
		return conns, info, "", err
	}
	opts.Logger.Debug("ctnetlink refused, reading the /proc table", "error", err)
	conns, info, perr := conntrack.Scan(ctx, path, h, conntrack.Limits{})
	if perr != nil {
		return nil, nil, "", errors.Join(err, perr)
	}
	return conns, info, fmt.Sprintf(" (ctnetlink refused: %v)", errors.Unwrap(err)), nil
}
