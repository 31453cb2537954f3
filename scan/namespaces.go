package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/planetdeps/planet/scan/procfs"
	"github.com/planetdeps/planet/scan/workload"
	"github.com/planetdeps/planet/snapshot"
)

// Namespace scopes for Options.Namespaces.
const (
	// NamespacesAuto (the default) is NamespacesAll where planet runs in
	// the host's network namespace (PID 1's), else NamespacesOwn: started
	// inside a container's or a test's namespace (nsenter, ip netns exec),
	// planet scans that one, as the host it was put on.
	NamespacesAuto = "auto"
	NamespacesAll  = "all" // every network namespace a process on the host is in
	NamespacesOwn  = "own" // only the one planet runs in
)

// maxNamespacePIDs is how many of a namespace's processes are tried, in
// PID order, when the first ones exit before their namespace is read.
const maxNamespacePIDs = 4

// netNS is one network namespace found through /proc/<pid>/ns/net.
type netNS struct {
	inode uint64
	pids  []int // the lowest few, ascending
}

// NetNamespaces lists the network namespaces of the processes under the
// proc root, deduplicated by inode and sorted by it, and the inode of the
// scanner's own (<root>/self/ns/net; 0 when that link is missing, as in a
// fixture tree without namespaces). Processes that exit mid-walk, and
// links we may not read (another user's process, without
// CAP_SYS_PTRACE), are skipped: their namespaces are found through another
// process or not at all.
func (p ProcFS) NetNamespaces() (self uint64, list []netNS, err error) {
	fs := p.fs()
	self, _ = fs.NetNS("self")
	pids, err := fs.PIDs()
	if err != nil {
		return 0, nil, err
	}
	idx := map[uint64]int{}
	fs.NetNSAll(pids, func(pid int, inode uint64, err error) {
		if err != nil {
			return
		}
		i, seen := idx[inode]
		if !seen {
			i = len(list)
			idx[inode] = i
			list = append(list, netNS{inode: inode})
		}
		if len(list[i].pids) < maxNamespacePIDs {
			list[i].pids = append(list[i].pids, pid)
		}
	})
	slices.SortFunc(list, func(a, b netNS) int { return cmp.Compare(a.inode, b.inode) })
	return self, list, nil
}

// nsScan is what was read of one namespace.
type nsScan struct {
	info  snapshot.Namespace
	socks []Socket
}

// errVanished: every process tried had left the namespace (or exited)
// before it was read; the namespace is skipped silently.
var errVanished = errors.New("namespace gone")

// readOtherNamespaces reads the sockets and addresses of every namespace
// but the scanner's own. With netlink allowed (live /proc, source auto or
// netlink) it opens a sock_diag socket inside each (setns on a locked
// thread: CAP_SYS_ADMIN), for byte counters; once that is refused it reads
// /proc/<pid>/net/{tcp,tcp6,udp,udp6} of a process in the namespace, which
// needs no privilege but has no byte counters. A namespace whose processes
// all exit first is left out; one that cannot be read is returned with
// Error set.
func readOtherNamespaces(ctx context.Context, procRoot string, self uint64, list []netNS, useNetlink bool) ([]nsScan, string) {
	// Each namespace's dump walks the kernel's shared socket hash, so the
	// cost is per namespace: spread them over the CPUs.
	todo := make([]netNS, 0, len(list))
	for _, ns := range list {
		if ns.inode != self {
			todo = append(todo, ns)
		}
	}
	results := make([]*nsScan, len(todo))
	var mu sync.Mutex
	var refused string
	netlinkOK := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return useNetlink && refused == ""
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), maxNamespaceWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) || ctx.Err() != nil {
					return
				}
				results[i] = readOne(ctx, procRoot, todo[i], netlinkOK, func(why string) {
					mu.Lock()
					refused = cmp.Or(refused, why)
					mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()
	var out []nsScan
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, refused
}

// maxNamespaceWorkers bounds the namespaces read at once.
const maxNamespaceWorkers = 8

// readOne reads one namespace through the first of its processes still in
// it: nil when all have gone, a record with Error when it cannot be read.
func readOne(ctx context.Context, procRoot string, ns netNS, netlinkOK func() bool, refuse func(string)) *nsScan {
	var last error
	for _, pid := range ns.pids {
		s, err := readNamespace(ctx, procRoot, ns.inode, pid, netlinkOK(), func(err error) { refuse(err.Error()) })
		if err == nil {
			return &s
		}
		last = err
		if !errors.Is(err, errVanished) {
			break
		}
	}
	if last == nil || errors.Is(last, errVanished) {
		return nil
	}
	return &nsScan{info: snapshot.Namespace{Inode: ns.inode, PID: ns.pids[0], Error: last.Error()}}
}

type netlinkRefused struct{ err error }

func (e *netlinkRefused) Error() string { return e.err.Error() }

// readNamespace reads one namespace through process pid, and checks
// afterwards that pid was still in it (a PID reused by another process in
// between would have given another namespace's sockets).
func readNamespace(ctx context.Context, procRoot string, inode uint64, pid int, useNetlink bool, refused func(error)) (nsScan, error) {
	proc := procfs.FS{Root: procRoot}
	s := nsScan{info: snapshot.Namespace{Inode: inode, PID: pid}}
	src := namespaceSource(proc, inode, pid, useNetlink, refused)
	var err error
	if s.socks, err = src.Sockets(ctx); err != nil {
		return s, vanished(err)
	}
	s.info.Source = usedName(src)
	dir := ProcFS{Root: filepath.Join(procRoot, strconv.Itoa(pid))}
	addrs, err := dir.Addresses()
	if err != nil {
		return s, vanished(err)
	}
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsUnspecified() && !a.IsLinkLocalUnicast() {
			s.info.Addresses = append(s.info.Addresses, a)
		}
	}
	if n, err := proc.NetNSOf(pid); err != nil && !errors.Is(err, procfs.ErrNotNetNS) {
		return s, vanished(err)
	} else if n != inode {
		return s, errVanished
	}
	s.info.Sockets = len(s.socks)
	return s, nil
}

// vanished maps "the process is gone" errors to errVanished. A dump the
// kernel ended with an errno (diagDumpError) never says so, even where its
// errno is ENOENT (a missing diag module): only the other errors joined
// with it (the /proc fallback's) are looked at, so a namespace whose
// fallback failed otherwise is reported, not left out as gone.
func vanished(err error) error {
	if gone(err) {
		return errVanished
	}
	return err
}

// gone reports whether err, apart from any diagDumpError in it, is ENOENT
// or ESRCH.
func gone(err error) bool {
	switch e := err.(type) {
	case nil, *diagDumpError:
		return false
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(e.Unwrap(), gone)
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			return gone(inner)
		}
	}
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// ownerKey joins a process name and its workload into the process string
// Classify aggregates by, so that its per-process records are per
// (process, workload) without Classify knowing workloads; splitOwner
// takes them apart again. NUL cannot occur in a comm.
func ownerKey(name, wl string) string {
	if wl == "" {
		return name
	}
	return name + "\x00" + wl
}

func splitOwner(key string) (name, wl string) {
	name, wl, _ = strings.Cut(key, "\x00")
	return name, wl
}

// classifyNamespaces classifies each namespace's sockets on its own (a
// listener serves connections of its own namespace only), tags every
// record with its namespace and workload, and describes the workloads. It
// also returns the owners keyed by socket inode with their workloads
// (Process.Name is ownerKey(name, workload); splitOwner takes it apart).
func classifyNamespaces(scans []nsScan, owners map[uint64]Process, res *workload.Resolver, eph PortRange) (Classified, []snapshot.Workload, map[uint64]Process) {
	// Every owning PID's workload, once.
	byPID := map[int]string{}
	wls := map[string]*snapshot.Workload{}
	type procKey struct{ wl, name, cmd string }
	procs := map[procKey]int{}
	keyed := make(map[uint64]Process, len(owners))
	workloadOf := func(p Process) string {
		wl, ok := byPID[p.PID]
		if !ok {
			w := res.Of(p.PID)
			wl = w.Name()
			byPID[p.PID] = wl
			if wl != "" {
				if wls[wl] == nil {
					wls[wl] = &snapshot.Workload{Name: wl, Unit: w.Unit, Runtime: w.Runtime,
						ContainerID: w.ContainerID, ContainerName: w.ContainerName,
						PodUID: w.PodUID, PodName: w.PodName, PodNamespace: w.PodNamespace}
				}
				procs[procKey{wl, p.Name, res.Command(p.PID)}]++
			}
		}
		return wl
	}
	for inode, p := range owners {
		k := Process{PID: p.PID, Name: ownerKey(p.Name, workloadOf(p))}
		// The socket's other holders (a pre-fork server's workers, the
		// daemon socket activation handed it to) keep their workloads too.
		for _, o := range p.Others {
			k.Others = append(k.Others, Process{PID: o.PID, Name: ownerKey(o.Name, workloadOf(o))})
		}
		keyed[inode] = k
	}
	for k, n := range procs {
		w := wls[k.wl]
		if len(w.Processes) < maxWorkloadProcesses {
			w.Processes = append(w.Processes, snapshot.Process{Name: k.name, Command: k.cmd, PIDs: n})
		}
	}

	var out Classified
	for _, s := range scans {
		c := Classify(s.socks, keyed, eph)
		for _, l := range c.Listeners {
			l.Process, l.Workload = splitOwner(l.Process)
			l.Netns = s.info.Inode
			out.Listeners = append(out.Listeners, l)
		}
		for _, r := range c.Connections {
			r.Process, r.Workload = splitOwner(r.Process)
			r.Netns = s.info.Inode
			out.Connections = append(out.Connections, r)
		}
		out.Unowned += c.Unowned
		out.Undirected += c.Undirected
		out.HasBytes = out.HasBytes || c.HasBytes
	}
	slices.SortStableFunc(out.Listeners, func(a, b snapshot.Listener) int {
		return cmp.Or(compareListeners(a, b), cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Netns, b.Netns))
	})
	slices.SortStableFunc(out.Connections, func(a, b snapshot.Connection) int {
		return cmp.Or(compareConnections(a, b), cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Netns, b.Netns))
	})

	list := make([]snapshot.Workload, 0, len(wls))
	for _, w := range wls {
		slices.SortFunc(w.Processes, func(a, b snapshot.Process) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Command, b.Command))
		})
		list = append(list, *w)
	}
	slices.SortFunc(list, func(a, b snapshot.Workload) int { return cmp.Compare(a.Name, b.Name) })
	return out, list, keyed
}

// maxNamedFailures bounds the namespaces the sources line names.
const maxNamedFailures = 5

// maxWorkloadProcesses bounds the distinct (name, command) entries kept
// per workload.
const maxWorkloadProcesses = 32

// namespacesSource summarises the namespace pass for the snapshot's
// sources: how many were read and how, and which could not be and why.
func namespacesSource(scans []nsScan, refused string) snapshot.Source {
	src := snapshot.Source{Name: snapshot.SourceNamespaces, OK: true}
	var viaNetlink, viaProc int
	var failed []string
	for _, s := range scans {
		switch {
		case s.info.Error != "":
			failed = append(failed, fmt.Sprintf("net:[%d] (pid %d): %s", s.info.Inode, s.info.PID, s.info.Error))
		case s.info.Source == string(SourceNetlink):
			viaNetlink++
		default:
			viaProc++
		}
	}
	src.Detail = fmt.Sprintf("%d network namespaces read: %d by netlink, %d from /proc/<pid>/net without byte counters",
		viaNetlink+viaProc, viaNetlink, viaProc)
	if refused != "" {
		src.Detail += " (netlink refused: " + refused + ")"
	}
	if len(failed) > 0 {
		// Every one is in namespaces[] with its error; this line names a few.
		src.OK = false
		shown := failed[:min(len(failed), maxNamedFailures)]
		src.Error = fmt.Sprintf("%d unreadable (see namespaces): %s", len(failed), strings.Join(shown, "; "))
		if len(failed) > len(shown) {
			src.Error += fmt.Sprintf("; and %d more", len(failed)-len(shown))
		}
	}
	return src
}

// hostNamespace is the record of the namespace the scan ran in.
func hostNamespace(inode uint64, source string, addrs []netip.Addr, sockets int) snapshot.Namespace {
	ns := snapshot.Namespace{Inode: inode, Host: true, PID: os.Getpid(), Sockets: sockets, Source: string(SourceProc)}
	if strings.HasPrefix(source, string(SourceNetlink)) {
		ns.Source = string(SourceNetlink)
	}
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsUnspecified() && !a.IsLinkLocalUnicast() {
			ns.Addresses = append(ns.Addresses, a)
		}
	}
	return ns
}

// allNamespaces returns the scans of every namespace: the scanner's own
// (own, already read, first), then the others unless opts limit the scan
// to its own, and the namespaces source record (ok false when none other
// was looked at).
func allNamespaces(ctx context.Context, opts Options, own []Socket, ownSource string, ownAddrs []netip.Addr) ([]nsScan, snapshot.Source, bool) {
	proc := ProcFS{Root: opts.ProcRoot}
	live := filepath.Clean(opts.ProcRoot) == "/proc"
	self, list, err := proc.NetNamespaces()
	pid := 0
	if live {
		pid = os.Getpid()
	}
	hostNS := hostNamespace(self, ownSource, ownAddrs, len(own))
	hostNS.PID = pid
	scans := []nsScan{{info: hostNS, socks: own}}
	if self == 0 {
		// A fixture tree without namespace links: its one table is all.
		scans[0].info.Inode = 0
		return scans, snapshot.Source{}, false
	}
	if opts.Namespaces == NamespacesOwn {
		return scans, snapshot.Source{}, false
	}
	if opts.Namespaces == NamespacesAuto {
		if host, whose, ok := hostNetNS(opts.ProcRoot, live); ok && host != self {
			return scans, snapshot.Source{Name: snapshot.SourceNamespaces, OK: true, Detail: fmt.Sprintf(
				"only planet's own network namespace net:[%d]: it is not the host's (%s, net:[%d]); --netns all scans every one", self, whose, host)}, true
		}
	}
	if err != nil {
		return scans, snapshot.Source{Name: snapshot.SourceNamespaces, Error: err.Error()}, true
	}
	useNetlink := live && opts.SocketSource != SourceProc
	others, refused := readOtherNamespaces(ctx, opts.ProcRoot, self, list, useNetlink)
	scans = append(scans, others...)
	return scans, namespacesSource(scans[1:], refused), true
}

// hostNetNS finds the host's network namespace for NamespacesAuto: PID
// 1's; where that link cannot be read (a sandbox hiding its init, or no
// CAP_SYS_PTRACE), the namespace of the process that started planet (cron,
// a shell, systemd: the host's; ip netns exec and nsenter enter the other
// namespace before they exec planet, so their caller is outside it). ok is
// false when neither can be read: then every namespace planet can read is
// scanned.
func hostNetNS(procRoot string, live bool) (inode uint64, whose string, ok bool) {
	candidates := []struct{ pid, whose string }{{"1", "PID 1's"}}
	if live {
		candidates = append(candidates, struct{ pid, whose string }{strconv.Itoa(os.Getppid()), "planet's parent's"})
	}
	for _, c := range candidates {
		if n, err := (procfs.FS{Root: procRoot}).NetNS(c.pid); err == nil {
			return n, c.whose, true
		}
	}
	return 0, "", false
}
