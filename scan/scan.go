// Package scan reads one host's sockets, owners, inventory and bandwidth and
// produces a snapshot.Snapshot.
package scan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/inventory"
	"github.com/planetdeps/planet/scan/darkstat"
	"github.com/planetdeps/planet/scan/workload"
	"github.com/planetdeps/planet/snapshot"
)

// Options configure one scan. Zero values take the defaults.
type Options struct {
	ProcRoot        string     // default /proc
	SocketSource    SourceKind // SourceAuto (the default, ""), SourceNetlink or SourceProc
	Inventory       string     // URL or file; empty: no inventory
	InventoryFormat inventory.Format
	// InventoryStateDir keeps the last good inventory and falls back on it
	// when a fetch fails (inventory.Options.StateDir); "" keeps none.
	InventoryStateDir string
	Darkstat          string        // darkstat URL; empty: no bandwidth
	Timeout           time.Duration // per outside source (inventory, darkstat); default 10s
	// Strict makes a failed optional source (darkstat) fail the scan too.
	Strict  bool
	Version string
	// Window, when positive, watches the host's TCP sockets for that long
	// (see observeWindow) and records every connection that ended in it,
	// with the bytes moved within it; zero scans one instant.
	Window time.Duration
	// WindowPoll is the interval of the window's intermediate dumps;
	// default 2s with destroy events, 1s without.
	WindowPoll time.Duration
	// WindowStateDir keeps, between windows, the sockets a window left
	// alive, so that the next window continues where it ended when both
	// read one destroy-event subscription a service manager holds (see
	// observeWindow); "" keeps nothing.
	WindowStateDir string
	// Namespaces is NamespacesAuto (the default), NamespacesAll or
	// NamespacesOwn.
	Namespaces string
	// Workloads names socket owners' workloads; nil reads the runtimes'
	// state at their default places.
	Workloads *workload.Resolver
	Now       func() time.Time
	// EUID is the scanner's effective user ID, which words the hint of the
	// unowned-sockets warning the snapshot keeps; nil is os.Geteuid (a
	// fixture scan's golden snapshot names the user it expects).
	EUID   func() int
	Logger *slog.Logger
}

// DegradedError is returned with a usable snapshot when a source failed in
// a way the options make fatal: the caller should still write the snapshot
// (it records the failure) and then exit non-zero.
type DegradedError struct{ Failed []snapshot.Source }

func (e *DegradedError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, s := range e.Failed {
		parts[i] = s.Name + ": " + s.Error
	}
	return "scan incomplete: " + strings.Join(parts, "; ")
}

// Run scans the host. It returns an error without a snapshot when the
// sockets cannot be read at all or ctx is cancelled (SIGINT/SIGTERM); see
// DegradedError for the other case.
func Run(ctx context.Context, opts Options) (*snapshot.Snapshot, error) {
	snap, commit, err := RunPending(ctx, opts)
	if snap != nil {
		if cerr := commit(); cerr != nil {
			opts.withDefaults().Logger.Warn("the window's hand-on state was not written; the next window starts afresh", "error", cerr)
		}
	}
	return snap, err
}

// RunPending is Run, except that what a window leaves for the next (its
// hand-on state, see Options.WindowStateDir) is not saved yet: commit saves
// it, and should be called only once the snapshot is written, so that a
// window whose snapshot was lost is not continued from. commit is never nil;
// it does nothing when there is nothing to save, and its error names the
// state file.
func RunPending(ctx context.Context, opts Options) (snap *snapshot.Snapshot, commit func() error, err error) {
	commit = func() error { return nil }
	var win *observer
	snap, err = run(ctx, opts, &win)
	if snap != nil && win != nil {
		commit = win.commit
	}
	return snap, commit, err
}

func run(ctx context.Context, opts Options, winOut **observer) (*snapshot.Snapshot, error) {
	opts = opts.withDefaults()
	switch opts.Namespaces {
	case NamespacesAuto, NamespacesAll, NamespacesOwn:
	default:
		return nil, fmt.Errorf("namespaces %q: want %s, %s or %s", opts.Namespaces, NamespacesAuto, NamespacesAll, NamespacesOwn)
	}
	if err := opts.SocketSource.check(); err != nil {
		return nil, err
	}
	log := opts.Logger
	proc := ProcFS{Root: opts.ProcRoot}
	pfs := proc.fs()
	snap := &snapshot.Snapshot{
		Schema:        snapshot.Schema,
		PlanetVersion: opts.Version,
		ScannedAt:     opts.Now().UTC().Truncate(time.Millisecond),
	}
	warn := func(msg string, args ...any) {
		log.Warn(msg, args...)
		snap.Warnings = append(snap.Warnings, formatWarning(msg, args...))
	}

	hostname, err := pfs.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	addrs, err := proc.Addresses()
	if err != nil {
		return nil, fmt.Errorf("host addresses: %w", err)
	}
	local := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		local[a] = true
	}
	public := publicAddrs(addrs)
	live := liveProc(opts.ProcRoot)
	snap.Host = snapshot.Host{Hostname: hostname, Addresses: identityFirst(public, hostIdentity(proc, live, public))}

	lo, hi, err := pfs.EphemeralRange()
	if err != nil {
		lo, hi = 32768, 60999
		warn("ephemeral port range unreadable, using the kernel default", "range", "32768-60999", "error", err)
	}
	eph := PortRange{lo, hi}

	var win *observer
	if opts.Window > 0 {
		if win, err = observeWindow(ctx, opts, proc, eph, warn); err != nil {
			return nil, err
		}
		*winOut = win
		// A signal ended the window early: the rest of the scan still
		// runs, and the snapshot says it was cut short.
		ctx = context.WithoutCancel(ctx)
		snap.ScannedAt = opts.Now().UTC().Truncate(time.Millisecond)
	}

	socks, source, err := readSockets(ctx, opts, warn)
	if err != nil {
		return nil, err
	}
	// planet's own earlier fetches (inventory, darkstat) linger as closing
	// sockets; they are planet's traffic, not the host's dependencies.
	ownEP := ownEndpoints(ctx, opts.Inventory, opts.Darkstat)
	socks, own := dropOwnTraffic(socks, ownEP, local, eph)
	if own > 0 {
		source += fmt.Sprintf("; %d closing sockets of planet's own earlier fetches left out", own)
	}
	snap.Sources = append(snap.Sources, snapshot.Source{Name: snapshot.SourceSockets, OK: true, Detail: source})
	if snap.Host.LinkLocal, err = pfs.IfInet6LinkLocal(); err != nil {
		warn("IPv6 link-local addresses unreadable; peers reaching this host by one will not resolve to it", "error", err)
	}

	// Every other network namespace on the host (containers), each with
	// its own socket table; see namespaces.go.
	scans, nsSource, nsRead := allNamespaces(ctx, opts, socks, source, addrs)
	if nsRead {
		snap.Sources = append(snap.Sources, nsSource)
	}

	// Owners only of the sockets Classify reports; the owner pass reads
	// every process, since a shared socket's later holders count too.
	// Socket inodes are unique across namespaces, so one pass serves them
	// all.
	want := make(map[uint64]struct{}, len(socks))
	for _, ns := range scans {
		for i := range ns.socks {
			s := &ns.socks[i]
			// Unconnected UDP sockets too: conntrack names the sendto()
			// clients among them.
			if s.Inode != 0 && (isConnected(s) || isServer(s, eph) || s.Protocol == "udp") {
				want[s.Inode] = struct{}{}
			}
		}
	}
	owners, err := proc.Owners(want)
	if err != nil {
		return nil, fmt.Errorf("socket owners: %w", err)
	}
	res := opts.Workloads
	if res == nil {
		res = &workload.Resolver{}
	}
	if res.ProcRoot == "" {
		res.ProcRoot = opts.ProcRoot
	}
	c, workloads, keyed := classifyNamespaces(scans, owners, res, eph)
	for _, p := range res.Problems() {
		warn("container runtime state not read", "problem", p)
	}
	snap.Listeners, snap.Connections, snap.UnownedSockets = c.Listeners, c.Connections, c.Unowned
	snap.Workloads = workloads
	for _, ns := range scans {
		if ns.info.Inode != 0 {
			snap.Namespaces = append(snap.Namespaces, ns.info)
		}
	}
	if c.HasBytes {
		snap.ByteCounters = snapshot.ByteCountersMeaning
	}
	if c.Undirected > 0 {
		warn("closing sockets left out: nothing on this host tells whether it was their client or their server",
			"sockets", c.Undirected, "hint", "no listener, no owner, and no other socket shares either end")
	}
	addConntrack(ctx, opts, snap, scans, keyed, local, ownEP, eph, warn)
	if win != nil {
		// After conntrack, which rebuilds the records: the window's
		// figures go on the records as they end up.
		win.apply(snap)
	}
	if c.Unowned > 0 {
		hint := "run as root to see other users' processes"
		if opts.EUID() == 0 {
			hint = "their processes are not visible here: another PID namespace, or they exited mid-scan"
		}
		warn("sockets without a known owner process", "sockets", c.Unowned, "hint", hint)
	}

	// The inventory and darkstat are fetched after the socket pass, so that
	// planet's own connections to them are not in this scan.
	var inv *inventory.Inventory
	var failed []snapshot.Source
	if opts.Inventory != "" {
		src := snapshot.Source{Name: snapshot.SourceInventory}
		inv, err = inventory.Load(ctx, opts.Inventory, inventory.Options{
			Format: opts.InventoryFormat, Timeout: opts.Timeout, Logger: log, StateDir: opts.InventoryStateDir,
		})
		switch kept := inv.Kept(); {
		case err != nil:
			src.Error = err.Error()
			log.Error("inventory failed; hostgroups and domains left empty", "error", err)
			failed = append(failed, src)
		case kept != nil:
			// Labels as of the last good fetch beat no labels: the failure
			// is recorded (success 0, the copy's age) but fails only
			// --strict scans, as darkstat's does.
			src.Error = kept.FetchErr.Error()
			at := kept.FetchedAt.UTC()
			src.FetchedAt = &at
			src.Detail = fmt.Sprintf("%d entries kept from %s, fetched %s", inv.Len(), opts.Inventory, at.Format(time.RFC3339))
			snap.Warnings = append(snap.Warnings, "inventory fetch failed; using the last good copy, fetched "+at.Format(time.RFC3339))
			if opts.Strict {
				failed = append(failed, src)
			}
		default:
			src.OK = true
			src.Detail = fmt.Sprintf("%d entries from %s", inv.Len(), opts.Inventory)
		}
		src.Skipped = inv.Skipped()
		snap.Sources = append(snap.Sources, src)
	}

	for i := range snap.Connections {
		e, _ := inv.Lookup(snap.Connections[i].RemoteIP)
		snap.Connections[i].RemoteHostgroup, snap.Connections[i].RemoteDomain = e.Hostgroup, e.Domain
	}
	if e, ok := hostEntry(inv, snap.Host.Addresses); ok {
		snap.Host.Hostgroup, snap.Host.Domain = e.Hostgroup, e.Domain
	}

	if opts.Darkstat != "" {
		src := snapshot.Source{Name: snapshot.SourceDarkstat}
		res, err := darkstat.Read(ctx, opts.Darkstat, fetch.Options{Timeout: opts.Timeout})
		if err != nil {
			src.Error = err.Error()
			log.Error("darkstat failed; the snapshot has no traffic", "error", err)
			if opts.Strict {
				failed = append(failed, src)
			}
		} else {
			src.OK = true
			src.Detail = fmt.Sprintf("%s (%s), %d hosts", res.URL, res.Format, len(res.Hosts))
			// Link-local and multicast peers (neighbour discovery, mDNS)
			// are per-link noise, not dependencies.
			peers := res.Peers(func(a netip.Addr) bool { return local[a] || !a.IsGlobalUnicast() })
			for i := range peers {
				e, _ := inv.Lookup(peers[i].RemoteIP)
				peers[i].RemoteHostgroup, peers[i].RemoteDomain = e.Hostgroup, e.Domain
			}
			snap.Traffic = &snapshot.Traffic{Source: res.URL, Format: res.Format, Peers: peers}
		}
		snap.Sources = append(snap.Sources, src)
	}

	// A signal during an optional source (darkstat) only failed that source;
	// the scan as a whole was still cancelled and must not be written.
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if len(failed) > 0 {
		return snap, &DegradedError{Failed: failed}
	}
	return snap, nil
}

func (o Options) withDefaults() Options {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Namespaces == "" {
		o.Namespaces = NamespacesAuto
	}
	if o.SocketSource == "" {
		o.SocketSource = SourceAuto
	}
	if o.Timeout <= 0 {
		o.Timeout = fetch.DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EUID == nil {
		o.EUID = os.Geteuid
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return o
}

// readSockets reads the sockets of the scanner's own network namespace
// with the source opts choose, and names how for the snapshot's sources.
func readSockets(ctx context.Context, opts Options, warn func(string, ...any)) ([]Socket, string, error) {
	src := opts.SocketSource.hostSource(opts.ProcRoot, func(err error) {
		warn("netlink sock_diag refused, reading /proc/net instead (no byte counters)", "error", err)
	})
	socks, err := src.Sockets(ctx)
	if err != nil {
		return nil, "", err
	}
	return socks, src.Name(), nil
}

// publicAddrs keeps the addresses that identify this host to others:
// loopback and link-local ones are the same on every host.
func publicAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsUnspecified() {
			out = append(out, a)
		}
	}
	return out
}

// formatWarning renders a log message and its attributes as one line for
// the snapshot's warnings list.
func formatWarning(msg string, args ...any) string {
	var b strings.Builder
	b.WriteString(msg)
	r := slog.NewRecord(time.Time{}, slog.LevelWarn, msg, 0)
	r.Add(args...)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	return b.String()
}
