package scan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/planetdeps/planet/scan/conntrack"
	"github.com/planetdeps/planet/snapshot"
)

// addConntrack folds the connection-tracking table of the scanned network
// namespace into snap.Connections (package conntrack says how) and records
// the read as a source. A missing or unreadable table is recorded and
// logged, never fatal: the table is an optional source.
func addConntrack(ctx context.Context, opts Options, snap *snapshot.Snapshot, socks []Socket, owners map[uint64]Process,
	local map[netip.Addr]bool, own map[netip.AddrPort]bool, eph PortRange, warn func(string, ...any)) {
	h := conntrack.Host{
		Local:       local,
		Ephemeral:   eph.Contains,
		Listeners:   snap.Listeners,
		Connections: snap.Connections,
		Own:         own,
	}
	for i := range socks {
		s := &socks[i]
		cs := conntrack.Socket{Proto: s.Protocol, Local: s.Local, Remote: s.Remote, Process: owners[s.Inode].Name,
			BytesSent: s.BytesAcked, BytesReceived: s.BytesReceived, HasBytes: s.HasBytes}
		switch {
		case isConnected(s):
			if s.Inode == 0 {
				cs.Process = ""
			}
			if s.Protocol == "tcp" {
				cs.State = stateName(s.State)
			}
			h.Connected = append(h.Connected, cs)
		case s.Protocol == "udp" && s.Remote.Port() == 0 && s.Local.Port() != 0:
			h.Unconnected = append(h.Unconnected, cs)
		}
	}
	path := conntrack.Path(opts.ProcRoot)
	src := snapshot.Source{Name: snapshot.SourceConntrack}
	conns, info, err := conntrack.Scan(ctx, path, h, conntrack.Limits{})
	if err != nil {
		src.Error = err.Error()
		if errors.Is(err, conntrack.ErrNoTable) {
			opts.Logger.Info("no connection-tracking table: published ports, NAT and unconnected UDP flows are not seen", "error", err)
		} else {
			warn("connection-tracking table unreadable: published ports, NAT and unconnected UDP flows are not seen", "error", err)
		}
		snap.Sources = append(snap.Sources, src)
		return
	}
	src.OK = true
	src.Detail = fmt.Sprintf("%d flows read from %s, %d added, %d sockets' actual destination, %d foreign ignored",
		info.Entries, path, info.FlowsAdded, info.SocketsRedirected, info.Foreign)
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
