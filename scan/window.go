package scan

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/scan/procfs"
	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/scan/workload"
	"github.com/planetdeps/planet/snapshot"
)

// Default intervals between the dumps a window takes besides its two ends:
// with destroy events they only find the processes of new sockets and new
// listeners; without, they are all there is.
const (
	defaultEventPoll = 2 * time.Second
	defaultDumpPoll  = time.Second
)

// A window lets destroy events gather in the subscriptions' receive
// buffers between reads and takes them in batches: a wake-up per event
// costs more than the event. After a read that found some, it waits until
// about a quarter of the smallest buffer would be full at the rate that read
// saw, within [minGather, maxGather], and never longer than a burst at
// peakEvents a second takes to fill that quarter (the rate the last read
// saw says nothing of the next burst after a quiet spell): as root, where
// Subscribe's buffer is granted (13,107 events), 100 ms; as a user held to
// Debian's net.core.rmem_max (416 KiB of charge, 332 events), 10 ms. A
// read that found a quarter of the buffer or more does not wait.
const (
	minGather  = 10 * time.Millisecond
	maxGather  = 100 * time.Millisecond
	peakEvents = 20_000 // destroy events a second: 10,000 connections' two ends
)

// assumedCapacity is the events a buffer whose size cannot be read is taken
// to hold: Debian's default net.core.rmem_max, doubled as the kernel does.
const assumedCapacity = 2 * 212992 / sockdiag.EventCharge

// gatherFor is how long to let events gather after a read that took got
// of them, the previous read having been since ago, with buffers holding
// capacity events.
func gatherFor(got int, since time.Duration, capacity int) time.Duration {
	if got == 0 || got >= capacity/4 {
		return 0
	}
	if since <= 0 {
		return minGather
	}
	// The wait at which capacity/4 events arrive at got per since, and at
	// the peak rate.
	w := time.Duration(float64(since) * float64(capacity/4) / float64(got))
	peak := time.Duration(float64(time.Second) * float64(capacity/4) / peakEvents)
	return min(max(w, minGather), max(min(peak, maxGather), minGather))
}

// ownersShare bounds the time the /proc passes within a window take (as
// costMeter measures it), as a share of the window.
const ownersShare = 0.01

// costMeter measures what a stretch of the window's own work (a /proc pass,
// the reads of a polled namespace, a sweep) cost the host, to space the
// next: its wall time, but no more than the CPU time (user and system, all
// threads, from getrusage RUSAGE_SELF) the process used meanwhile. On a host
// whose CPUs are busy with other processes, the work waits for a CPU: its
// wall time stretches several times over (a 3 ms pass over /proc/*/fd
// took 20 ms at a load average of 8 on 2 CPUs) without its taking any
// more from the host, and spacing by that wait would leave a connection's
// whole life between two reads, or between a read and its owner's pass.
// On an idle host the wall time is the smaller (the pass over /proc/*/fd
// runs on every CPU) and is what counts, as before.
type costMeter struct {
	wall time.Time
	cpu  time.Duration // -1: getrusage failed
}

func startCost() costMeter {
	return costMeter{wall: time.Now(), cpu: processCPU()}
}

// spent is the cost since m started: its wall time, capped at the CPU time
// used meanwhile where that could be read.
func (m costMeter) spent() time.Duration {
	wall := time.Since(m.wall)
	if m.cpu < 0 {
		return wall
	}
	cpu := processCPU()
	if cpu < 0 {
		return wall
	}
	return min(wall, cpu-m.cpu)
}

// processCPU is the user and system CPU time this process has used (every
// thread's), from getrusage; -1 when it cannot be read.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ErrWindowSource is wrapped when a window is asked of a socket source that
// cannot give one.
var ErrWindowSource = errors.New("an observation window needs netlink sock_diag")

// subscribe opens the destroy-event subscription; tests replace it to see
// a window on a host that refuses events.
var subscribe = sockdiag.Subscribe

// inherited finds a subscription passed by a service manager; tests
// replace it.
var inherited = sockdiag.Inherited

// subscribeIn opens the subscription of another network namespace.
var subscribeIn = sockdiag.SubscribeIn

// windowBegun, when set, is called once the start dump is taken: tests wait
// for it before making the traffic the window must see.
var windowBegun func()

// windowSwept, when set, is called after each full intermediate dump: tests
// wait for dumps instead of sleeping through them.
var windowSwept func()

// windowTook, when set, is called when a socket the window sees alive
// enters its count (with its process, if known by then): tests hold a
// connection open until the window has it instead of for a guessed time.
var windowTook func(netns uint64, local, remote netip.AddrPort, process string)

// winKey is a dependency as a window counts it: TCP only, per network
// namespace and workload like the instant scan's records.
type winKey struct {
	dir      snapshot.Direction
	port     uint16
	process  string
	workload string
	remote   netip.Addr
	netns    uint64
}

// winSock is a socket the window has seen alive in a dump. base is what its
// counters held when the window first saw it (zero if it began in the
// window), last what they held at the latest dump.
type winSock struct {
	key                  winKey
	baseSent, baseRecv   uint64
	lastSent, lastRecv   uint64
	began, seenInLastRun bool
	// inode is the socket's inode as the dump that first saw it reported
	// it (0 for an orphan); procDump's sockets are told apart by it when a
	// 4-tuple is reused.
	inode uint64
	// handedUnseen: handed on by the previous window though its end dump
	// did not see it (its destroy event was still to come, or lost); if no
	// dump or event of this window sees it either, it is closed at the end.
	handedUnseen bool
}

// winNS is one network namespace the window watches.
type winNS struct {
	inode uint64 // 0: a fixture tree without namespace links
	pid   int    // the process it was entered through
	ns    sockdiag.Namespace
	file  *os.File // holds ns open; nil for the scanner's own
	ev    *sockdiag.Events
	// procDir, when set, is the /proc/PID directory the namespace is read
	// through (net/tcp, net/tcp6) because it could not be entered: no
	// events, no byte counters, no cookies (see procDump).
	procDir string
	// pending (procDir only): upstream sockets a read found new while the
	// /proc pass for owners was not due (see sweep), taken once one runs:
	// such a namespace has no events, so these are kept, not dropped, and
	// one that ends first counts without a process.
	pending map[uint64]*pendingSock
	// procConns (procDir only): the connected sockets of the read that
	// gave the listeners, for the connected dump that follows it (one read
	// of the files for both); procRead says it is fresh.
	procConns []sockdiag.Sock
	procRead  bool
	// procLost (procDir only): when the window found no process left in
	// the namespace to read it through; zero while it has one. procTried:
	// the last look for one (each walks every process's ns/net link, so
	// they are rehomeEvery apart).
	procLost, procTried time.Time
	binds               map[uint16][]*bind // TCP listeners by port
	live                map[uint64]*winSock
	// workload is the one workload every process in the namespace belongs
	// to (a container's, a pod's), "" for the scanner's own namespace or a
	// mixed one: the owner of the sockets no dump saw.
	workload string
	// late: found after the window's start, so its first dump's sockets
	// began within the window.
	late bool
	// overrunsBefore: the event overruns met while discarding what was
	// queued before the window, which are no part of it.
	overrunsBefore uint64
	// self is {inode}, set by peerNS: the namespace of a loopback peer,
	// without an allocation per event.
	self [1]uint64
}

// pendingSock is a socket waiting for its owner: first and last seen at
// first and last.
type pendingSock struct {
	s           sockdiag.Sock
	first, last time.Time
	seen        bool
}

// resetKey pairs the two ends of a connection on this host that one end
// reset: the client's socket keeps only its local port and the server's
// address, the server's reports both, and the client's network namespace is
// the one its address belongs to (see observer.local). Two namespaces
// using one ephemeral port toward one server are two keys.
type resetKey struct {
	netns  uint64 // the client's
	server netip.Addr
	client uint16
}

// pendingReset is a reset client socket waiting for its server's destroy
// event; endedDown a server socket's, kept a while for a reset client.
type pendingReset struct {
	netns    uint64
	workload string
	t        time.Time
}

type endedDown struct {
	port       uint16
	sent, recv uint64
	t          time.Time
}

// pairWait is how long either half of a reset connection waits for the
// other; maxPairs bounds the reset clients waiting, downSlots the server
// ends remembered.
const (
	pairWait  = 10 * time.Second
	maxPairs  = 1 << 16
	downBits  = 14
	downSlots = 1 << downBits
)

// downTable remembers recently ended server sockets whose client is on this
// host, for a reset client whose event comes after: a fixed table indexed
// by a hash of the key, each entry overwriting whatever was in its slot.
// Every server socket that ends goes in, so on a busy host it must cost no
// allocation and no sweep; a collision only loses a pairing (the reset
// client is then put on its one port without bytes, or counted unknown).
type downTable struct {
	slots []downSlot
}

type downSlot struct {
	key resetKey
	d   endedDown
}

func (t *downTable) slot(k resetKey) *downSlot {
	if t.slots == nil {
		t.slots = make([]downSlot, downSlots)
	}
	// Fibonacci hashing of the address's low 64 bits and the port: the
	// keys are local addresses and ephemeral ports, not chosen by peers.
	a := k.server.As16()
	h := (binary.BigEndian.Uint64(a[8:]) ^ uint64(k.client)<<48 ^ uint64(k.client) ^ k.netns<<20) * 0x9e3779b97f4a7c15
	return &t.slots[h>>(64-downBits)]
}

func (t *downTable) put(k resetKey, d endedDown) { *t.slot(k) = downSlot{k, d} }

// take returns and forgets the entry of k, if one ended no longer than
// pairWait before now and, with port non-zero, was of that server port.
func (t *downTable) take(k resetKey, port uint16, now time.Time) (endedDown, bool) {
	s := t.slot(k)
	if s.key != k || s.d.t.IsZero() || now.Sub(s.d.t) > pairWait || (port != 0 && s.d.port != port) {
		return endedDown{}, false
	}
	d := s.d
	*s = downSlot{}
	return d, true
}

// observer accumulates one window. Its memory is one winSock per socket
// alive at a dump (never per connection over the window), one ConnWindow
// per distinct dependency, and the bounded reset-pairing tables.
type observer struct {
	proc ProcFS
	eph  PortRange
	now  func() time.Time
	// dump reads one namespace's table; tests replace it.
	dump func(ctx context.Context, ns sockdiag.Namespace, states uint32, fn func(*sockdiag.Sock)) error
	// owners reads /proc for the processes holding socket inodes; tests
	// replace it.
	owners func(want map[uint64]struct{}) (map[uint64]Process, error)
	wl     *workload.Resolver
	cg     *cgroupIndex
	nss    []*winNS
	// endReadErr: reading the events that arrived during the end dump
	// failed (finish); those sockets are counted as ended at the end.
	endReadErr error
	// listenOwner caches listener inodes' processes across refreshes.
	listenOwner map[uint64]owner
	// nextOwners: the earliest time for the next /proc pass within the window.
	nextOwners time.Time
	deps       map[winKey]*snapshot.ConnWindow
	// upPorts indexes the upstream records by namespace, server and
	// workload: the one port used, 0 for several.
	upPorts map[upKey]uint16
	resets  map[resetKey]pendingReset
	downs   downTable
	// ups: recently ended client sockets whose server is on this host, so
	// that their server's end, when it comes after, is known to be paired
	// already and is not kept for a reset client reusing the port later.
	ups downTable
	// local: addresses of the watched namespaces (but loopback ones), each
	// with the inodes of the namespaces that have it (usually one); a
	// server socket whose peer is one of them may be the far end of a reset
	// client in one of those.
	local map[netip.Addr][]uint64
	// refused: namespaces whose events could not be had (setns refused),
	// each with why.
	refused map[uint64]string
	// workloads: every workload named, for the snapshot's list; pidWL the
	// workload of every owning process met, read once.
	workloads map[string]*snapshot.Workload
	pidWL     map[int]string
	res       snapshot.Window
	// handedOn is the state the window leaves for the next, saved in
	// stateDir by commit once the snapshot is written.
	handedOn *windowState
	stateDir string
	// handedLost counts the sockets handed on whose end was never heard.
	handedLost int
	// seed keys tupleCookie.
	seed maphash.Seed
	// polled: the namespaces read through /proc because they could not be
	// entered (a subset of refused's keys); procSpent the time their reads
	// took, which spaces them (see procPoll).
	polled    map[uint64]bool
	procSpent time.Duration
}

// upKey is what a reset client socket still tells of its dependency.
type upKey struct {
	netns    uint64
	remote   netip.Addr
	workload string
}

// owner is a socket's process and workload.
type owner struct{ process, workload string }

func newObserver(proc ProcFS, eph PortRange, now func() time.Time) *observer {
	return &observer{
		proc: proc, eph: eph, now: now, dump: sockdiag.DumpAllIn, owners: proc.Owners,
		wl:          &workload.Resolver{ProcRoot: proc.Root},
		cg:          &cgroupIndex{},
		nss:         []*winNS{{ns: sockdiag.Own, binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}}},
		listenOwner: map[uint64]owner{},
		pidWL:       map[int]string{},
		deps:        map[winKey]*snapshot.ConnWindow{},
		upPorts:     map[upKey]uint16{},
		resets:      map[resetKey]pendingReset{},
		local:       map[netip.Addr][]uint64{},
		seed:        maphash.MakeSeed(),
		polled:      map[uint64]bool{},
	}
}

// observeWindow watches the TCP sockets of every network namespace the
// scan covers for opts.Window: a dump at the start, destroy events (or,
// where refused, dumps every second) during, and a dump at the end. A
// cancelled ctx ends the window early (CutShort); the result is still whole
// for the shorter window. It fails only when no dump can be had at all.
func observeWindow(ctx context.Context, opts Options, proc ProcFS, eph PortRange, warn func(string, ...any)) (*observer, error) {
	if opts.SocketSource == SourceProc || filepath.Clean(opts.ProcRoot) != "/proc" {
		return nil, fmt.Errorf("%w (byte counters and socket cookies; /proc/net has neither)", ErrWindowSource)
	}
	o := newObserver(proc, eph, opts.Now)
	if opts.Workloads != nil {
		o.wl = opts.Workloads
	}
	defer o.close()
	o.res = snapshot.Window{Requested: opts.Window.Seconds(), Method: snapshot.WindowEvents, BytesMeaning: snapshot.WindowBytesMeaning}
	poll := opts.WindowPoll
	// Subscribe before the first dump, so that no socket ends unseen
	// between the two.
	own := o.nss[0]
	if self, _, err := proc.NetNamespaces(); err == nil {
		own.inode = self
	}
	var err error
	// A subscription a service manager holds between runs (systemd's
	// planet.socket) has queued the events of sockets that ended since the
	// last window: with that window's hand-on state, this one continues
	// where it ended, with no gap.
	held := inherited()
	var prev *windowState
	if held != nil {
		own.ev = held
		if opts.WindowStateDir != "" {
			if prev, err = loadWindowState(opts.WindowStateDir, own.inode, o.now()); err != nil {
				warn("the previous window's hand-on state is unreadable; this window starts afresh", "error", err)
			}
		}
	} else if own.ev, err = subscribe(0); err != nil {
		if poll <= 0 {
			poll = defaultDumpPoll
		}
		o.res.Method = snapshot.WindowPolling
		o.res.Detail = fmt.Sprintf("destroy events refused (%v); dumps every %v", err, poll)
		warn("TCP destroy events refused; the window falls back to repeated dumps and misses connections shorter than the interval", "error", err, "interval", poll)
	} else if poll <= 0 {
		poll = defaultEventPoll
	}
	polling := own.ev == nil
	others := o.namespaces(opts)
	if !polling && others {
		o.addNamespaces(false, warn)
	}
	o.describeNamespaces(others, polling)
	if held != nil && prev == nil {
		// Without the previous window's state, the events queued in the
		// held subscription are of sockets that ended before this window
		// (since the last run, or since boot): this window starts now, so
		// they are no part of it.
		discarded := 0
		if err := held.Drain(func(*sockdiag.Sock) { discarded++ }); err != nil {
			return nil, fmt.Errorf("window start: discarding queued destroy events: %w", err)
		}
		own.overrunsBefore = held.Overruns()
		o.res.Detail = strings.TrimPrefix(fmt.Sprintf("%s; no previous window to continue: %d destroy events queued before the window discarded", o.res.Detail, discarded), "; ")
	}
	start := o.now()
	if prev != nil {
		// The previous window's sockets are this one's from its end; a
		// socket the start dump finds that it did not know began since.
		o.continueFrom(own, prev)
		own.late = true
		start = prev.End
		o.res.Continued = true
	}
	o.res.Start = start.UTC().Truncate(time.Millisecond)
	o.cg.refresh(o.now())
	o.namespaceWorkloads()
	if errs := o.sweep(ctx, o.nss, o.now(), true, false, polling); errs[0].listen != nil || errs[0].conns != nil {
		return nil, fmt.Errorf("window start: %w", errors.Join(errs[0].listen, errs[0].conns))
	}
	own.late = false
	opts.Logger.Debug("window begun", "method", o.res.Method, "namespaces", len(o.nss), "length", opts.Window)
	if windowBegun != nil {
		windowBegun()
	}
	deadline := start.Add(opts.Window)
	nextPoll := start.Add(poll)
	// The namespaces read through /proc have nothing but these reads: every
	// procPoll, further apart where they take more than dumpShare of it.
	nextProcPoll := start.Add(procPoll)
	// procGap: the longest time between two reads of them (the end's
	// included), for the window's detail.
	lastProcPoll, procGap := start, time.Duration(0)
	failedDumps, lastDumpErr := 0, error(nil)
	lastRead := start // the last read of events that found some
	var group *sockdiag.Group
	var evNS []*winNS
	capacity := 0 // events the smallest buffer holds
	listEvents := func() {
		var evs []*sockdiag.Events
		evNS = evNS[:0]
		capacity = 0
		for _, n := range o.nss {
			if n.ev != nil {
				evs, evNS = append(evs, n.ev), append(evNS, n)
				c := n.ev.Buffer() / sockdiag.EventCharge
				if c <= 0 {
					c = assumedCapacity
				}
				if capacity == 0 || c < capacity {
					capacity = c
				}
			}
		}
		group = sockdiag.NewGroup(evs)
	}
	listEvents()
	for {
		now := o.now()
		if ctx.Err() != nil {
			o.res.CutShort = true
			break
		}
		if !now.Before(deadline) {
			break
		}
		wait := min(deadline.Sub(now), nextPoll.Sub(now), 200*time.Millisecond)
		if len(o.polled) > 0 {
			wait = min(wait, nextProcPoll.Sub(now))
		}
		if len(evNS) > 0 {
			got := 0
			var t time.Time
			if err := group.Wait(max(wait, 0), func(i int) error {
				n := evNS[i]
				if t.IsZero() {
					t = o.now() // one clock read for the batch
				}
				return n.ev.Drain(func(s *sockdiag.Sock) { got++; o.destroyedAt(n, s, false, t) })
			}); err != nil {
				return nil, err
			}
			if got > 0 {
				if g := gatherFor(got, t.Sub(lastRead), capacity); g > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(min(g, deadline.Sub(t))):
					}
				}
				lastRead = t
			}
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(max(wait, 0)):
			}
		}
		now = o.now()
		full := !now.Before(nextPoll)
		procDue := len(o.polled) > 0 && !now.Before(nextProcPoll)
		if (full || procDue) && now.Before(deadline) {
			// A failed intermediate dump costs attribution (and, without
			// events, the sockets that end before the next), not the window.
			m, spent := startCost(), o.procSpent
			if full && !polling && others && o.addNamespaces(true, warn) {
				o.namespaceWorkloads()
				listEvents()
			}
			o.cg.refreshIfMissed(now)
			due := o.nss
			if !full {
				// Only the namespaces read through /proc.
				due = make([]*winNS, 0, len(o.polled))
				for _, n := range o.nss {
					if n.procDir != "" {
						due = append(due, n)
					}
				}
			}
			procRead := true
			for i, e := range o.sweep(ctx, due, now, false, false, polling) {
				if err := errors.Join(e.listen, e.conns); err != nil {
					if ctx.Err() == nil {
						failedDumps++
						lastDumpErr = err
					}
					// A namespace left with no process to read it through
					// is named apart (procLost), not counted as a gap.
					procRead = procRead && (due[i].procDir == "" || !due[i].procLost.IsZero())
					continue
				}
				due[i].late = false
			}
			if procDue || (full && len(o.polled) > 0) {
				nextProcPoll = now.Add(max(procPoll, (o.procSpent-spent)*(1/dumpShare)))
				if procRead {
					// The gap is between reads that all succeeded.
					procGap = max(procGap, now.Sub(lastProcPoll))
					lastProcPoll = now
				}
			}
			if full {
				o.expirePairs(now)
				// The dumps walk the kernel's socket hash once per namespace:
				// with events, where they only find owners, keep them to a
				// small share of the time on a host with many. Without, they
				// are all the window has.
				if windowSwept != nil {
					windowSwept()
				}
				nextPoll = now.Add(poll)
				if !polling {
					nextPoll = now.Add(max(poll, m.spent()*(1/dumpShare)))
				}
			}
		}
	}
	// The end: a cancelled ctx must not stop the last dump. Events already
	// queued are of sockets that ended within the window.
	ctx = context.WithoutCancel(ctx)
	end := o.now()
	for _, n := range o.nss {
		if n.ev != nil {
			if err := n.ev.Read(0, func(s *sockdiag.Sock) { o.destroyed(n, s, false) }); err != nil {
				return nil, err
			}
		}
	}
	o.cg.refreshIfMissed(end)
	errs := o.sweep(ctx, o.nss, end, false, true, false)
	if errs[0].conns != nil {
		return nil, fmt.Errorf("window end: %w", errs[0].conns)
	}
	for i, n := range o.nss {
		if errs[i].conns != nil {
			continue // only its instant scan
		}
		handOn := n == own && held != nil && opts.WindowStateDir != ""
		if st := o.finish(n, end, handOn); st != nil {
			o.handedOn, o.stateDir = st, opts.WindowStateDir
		}
	}
	if o.endReadErr != nil {
		warn("reading the destroy events that arrived during the window's end dump failed: the sockets they were of count as ended at the end, with the bytes the last dump saw", "error", o.endReadErr)
		o.res.Detail = strings.TrimPrefix(fmt.Sprintf("%s; reading the events at the end failed (%v)", o.res.Detail, o.endReadErr), "; ")
	}
	if o.handedLost > 0 {
		o.res.Detail = strings.TrimPrefix(fmt.Sprintf("%s; %d sockets handed on from the previous window ended unheard (their destroy events lost): closed at this window's end", o.res.Detail, o.handedLost), "; ")
	}
	o.settleResets()
	o.res.Seconds = end.Sub(start).Seconds()
	o.res.Namespaces = len(o.nss) - len(o.polled)
	if len(o.polled) > 0 {
		procGap = max(procGap, end.Sub(lastProcPoll))
		why := make(map[uint64]string, len(o.polled))
		for ns := range o.polled {
			why[ns] = o.refused[ns]
		}
		o.res.NamespacesPolled = len(o.polled)
		o.res.Detail = strings.TrimPrefix(fmt.Sprintf("%s; %d network namespaces without destroy events, read from /proc/PID/net/tcp every %v instead, at most %v apart (repeated dumps without byte counters: their records have bytes_unknown): %s", o.res.Detail, len(o.polled), procPoll, procGap.Round(10*time.Millisecond), unwatched(why)), "; ")
		lost := map[uint64]string{}
		for _, n := range o.nss {
			if n.procDir != "" && !n.procLost.IsZero() {
				lost[n.inode] = fmt.Sprintf("no process left in it to read it through from %.1f s into the window: what ended there after that is not seen", n.procLost.Sub(start).Seconds())
			}
		}
		if len(lost) > 0 {
			o.res.Detail = fmt.Sprintf("%s; %d of them unread at the end: %s", o.res.Detail, len(lost), unwatched(lost))
		}
	}
	if len(o.refused) > len(o.polled) {
		why := make(map[uint64]string, len(o.refused)-len(o.polled))
		for ns, r := range o.refused {
			if !o.polled[ns] {
				why[ns] = r
			}
		}
		o.res.NamespacesUnwatched = len(why)
		o.res.Detail = strings.TrimPrefix(fmt.Sprintf("%s; %d network namespaces without destroy events, only their instant scan at the end: %s", o.res.Detail, len(why), unwatched(why)), "; ")
	}
	if failedDumps > 0 {
		warn("dumps within the window failed", "failed", failedDumps, "last_error", lastDumpErr)
	}
	if o.res.CutShort {
		warn("window cut short: the snapshot covers what was observed until the signal", "seconds", fmt.Sprintf("%.3f", o.res.Seconds), "requested", opts.Window)
	}
	var truncated uint64
	for _, n := range o.nss {
		if n.ev != nil {
			o.res.EventOverruns += n.ev.Overruns() - n.overrunsBefore
			truncated += n.ev.Truncated()
		}
	}
	if truncated > 0 {
		warn("TCP destroy events too large or malformed were dropped", "events", truncated)
	}
	if o.res.EventOverruns > 0 {
		warn("the kernel dropped TCP destroy events: planet read them too slowly", "overruns", o.res.EventOverruns)
	}
	return o, nil
}

// procPoll is the interval between reads of the namespaces read through
// /proc (see winNS.procDir), or longer where the reads of them all take
// more than dumpShare of it (each read of /proc/PID/net/tcp walks the
// whole host's TCP hash).
const procPoll = time.Second

// dumpShare bounds the time the intermediate dumps of every namespace take
// (as costMeter measures it), as a share of the window.
const dumpShare = 0.02

func (o *observer) close() {
	for _, n := range o.nss {
		if n.ev != nil {
			n.ev.Close()
		}
		if n.file != nil {
			n.file.Close()
		}
	}
}

// namespaces reports whether the window watches other network namespaces
// than its own: as the instant scan reads them (allNamespaces).
func (o *observer) namespaces(opts Options) bool {
	switch opts.Namespaces {
	case NamespacesOwn:
		return false
	case NamespacesAuto:
		self, _, err := o.proc.NetNamespaces()
		if err != nil || self == 0 {
			return false
		}
		host, _, ok := hostNetNS(opts.ProcRoot, true)
		return !ok || host == self
	}
	return true
}

// addNamespaces subscribes to the destroy events of every network namespace
// not yet watched, through a process in it (setns: CAP_SYS_ADMIN). It
// reports whether it added any; the ones refused are counted in the
// window's NamespacesUnwatched, and the first refusal is warned of.
func (o *observer) addNamespaces(late bool, warn func(string, ...any)) bool {
	self, list, err := o.proc.NetNamespaces()
	if err != nil || self == 0 {
		return false
	}
	known := make(map[uint64]bool, len(o.nss))
	for _, n := range o.nss {
		known[n.inode] = true
	}
	added := false
	for _, ns := range list {
		if _, no := o.refused[ns.inode]; known[ns.inode] || no {
			continue
		}
		n, err := o.watch(ns, late)
		if err != nil {
			if o.refused == nil {
				o.refused = map[uint64]string{}
			}
			o.refused[ns.inode] = err.Error()
			p := o.pollThrough(ns, late)
			if len(o.refused) == 1 {
				if p != nil {
					warn("TCP destroy events of another network namespace cannot be had; its sockets are read from /proc every second instead: connections shorter than that are missed, and bytes there are unknown", "netns", ns.inode, "error", err)
				} else {
					warn("TCP destroy events of another network namespace cannot be had; connections that end there within the window are missed", "netns", ns.inode, "error", err)
				}
			}
			if p != nil {
				o.polled[ns.inode] = true
				o.nss = append(o.nss, p)
				added = true
			}
			continue
		}
		if n != nil {
			o.nss = append(o.nss, n)
			added = true
		}
	}
	return added
}

// unwatchedShown bounds the namespaces a window's detail names for one
// reason.
const unwatchedShown = 20

// unwatched says which namespaces were not watched and why: for each
// reason, the namespaces' inodes (as in records' netns), in order, up to
// unwatchedShown of them and how many more. For example "netns
// 4026532315, 4026532401: enter network namespace (setns): operation not
// permitted".
func unwatched(refused map[uint64]string) string {
	byWhy := map[string][]uint64{}
	for ns, why := range refused {
		byWhy[why] = append(byWhy[why], ns)
	}
	var parts []string
	for _, why := range slices.Sorted(maps.Keys(byWhy)) {
		nss := byWhy[why]
		slices.Sort(nss)
		var b strings.Builder
		b.WriteString("netns ")
		for i, ns := range nss[:min(len(nss), unwatchedShown)] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatUint(ns, 10))
		}
		if len(nss) > unwatchedShown {
			fmt.Fprintf(&b, " and %d more", len(nss)-unwatchedShown)
		}
		parts = append(parts, b.String()+": "+why)
	}
	return strings.Join(parts, "; ")
}

// watch opens namespace ns through the first of its processes still in it
// and subscribes there: nil without error when they have all gone.
func (o *observer) watch(ns netNS, late bool) (*winNS, error) {
	for _, pid := range ns.pids {
		f, err := os.Open(filepath.Join(o.proc.Root, strconv.Itoa(pid), "ns", "net"))
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) != nil || st.Ino != ns.inode {
			f.Close()
			continue
		}
		ev, err := subscribeIn(sockdiag.NamespaceFD(int(f.Fd())), 0)
		if err != nil {
			f.Close()
			return nil, err
		}
		n := &winNS{inode: ns.inode, pid: pid, ns: sockdiag.NamespaceFD(int(f.Fd())), file: f, ev: ev,
			binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}, late: late}
		if addrs, err := (ProcFS{Root: filepath.Join(o.proc.Root, strconv.Itoa(pid))}).Addresses(); err == nil {
			o.addLocal(ns.inode, addrs)
		}
		return n, nil
	}
	return nil, nil
}

// addLocal notes addrs as namespace netns's.
func (o *observer) addLocal(netns uint64, addrs []netip.Addr) {
	for _, a := range addrs {
		if a.IsLoopback() {
			continue // every namespace has its own
		}
		if !slices.Contains(o.local[a], netns) {
			o.local[a] = append(o.local[a], netns)
		}
	}
}

// onHost reports whether a is an address of a watched namespace (or a
// loopback one, which a socket of namespace n reaches in n).
func (o *observer) onHost(a netip.Addr) bool {
	_, ok := o.local[a]
	return ok || a.IsLoopback()
}

// peerNS calls fn with each namespace the peer a of a socket of namespace
// n may be in, on this host: n itself for a loopback address, else those
// that have a (none when it is no watched namespace's). Two namespaces may
// have one address (the same private subnet in two): each is a candidate.
func (o *observer) peerNS(n *winNS, a netip.Addr) []uint64 {
	if a.IsLoopback() {
		n.self[0] = n.inode
		return n.self[:]
	}
	return o.local[a]
}

// describeNamespaces records which namespaces the window hears.
func (o *observer) describeNamespaces(others, polling bool) {
	if addrs, err := o.proc.Addresses(); err == nil {
		o.addLocal(o.nss[0].inode, addrs)
	}
	switch {
	case polling && others:
		o.res.Detail += "; other network namespaces: only their instant scan at the end (no destroy events)"
	case !others:
		o.res.Detail = strings.TrimPrefix(o.res.Detail+"; only planet's own network namespace", "; ")
	}
}

// namespaceWorkloads finds, for each watched namespace but the scanner's
// own, the one workload all its processes belong to.
func (o *observer) namespaceWorkloads() {
	byNS := map[uint64]*winNS{}
	for _, n := range o.nss[1:] {
		if n.workload == "" {
			byNS[n.inode] = n
		}
	}
	if len(byNS) == 0 {
		return
	}
	fs := procfs.FS{Root: o.proc.Root}
	pids, err := fs.PIDs()
	if err != nil {
		return
	}
	seen := map[uint64]string{}
	mixed := map[uint64]bool{}
	fs.NetNSAll(pids, func(pid int, inode uint64, err error) {
		if err != nil || byNS[inode] == nil || mixed[inode] {
			return
		}
		wl := o.named(o.wl.Of(pid))
		if prev, ok := seen[inode]; ok && prev != wl {
			mixed[inode] = true
			return
		}
		seen[inode] = wl
	})
	for inode, wl := range seen {
		if !mixed[inode] {
			byNS[inode].workload = wl
		}
	}
}

// dumpNS reads namespace n's TCP sockets in states (a sockdiag.States*
// mask): through netlink sock_diag, or for a namespace polled through /proc
// with procDump.
func (o *observer) dumpNS(ctx context.Context, n *winNS, states uint32, fn func(*sockdiag.Sock)) error {
	if n.procDir == "" {
		return o.dump(ctx, n.ns, states, fn)
	}
	m := startCost()
	defer func() { o.procSpent += m.spent() }()
	// /proc/PID/net/tcp walks the kernel's whole TCP hash, every
	// namespace's, at each read: the listeners' read keeps the connected
	// sockets for the dump that follows it in a sweep.
	switch states {
	case sockdiag.StatesListen:
		n.procConns, n.procRead = n.procConns[:0], false
		err := o.procDump(ctx, n, sockdiag.StatesListen|sockdiag.StatesConnected, func(s *sockdiag.Sock) {
			if s.State == sockdiag.StateListen {
				fn(s)
			} else {
				n.procConns = append(n.procConns, *s)
			}
		})
		n.procRead = err == nil
		return err
	case sockdiag.StatesConnected:
		if n.procRead {
			n.procRead = false
			for i := range n.procConns {
				fn(&n.procConns[i])
			}
			return nil
		}
	}
	return o.procDump(ctx, n, states, fn)
}

// procDump reads net/tcp and net/tcp6 under n.procDir (a /proc/PID
// directory) and calls fn with each socket in states, as a dump would
// report it but without byte counters (HasBytes false) or cgroup. /proc has
// no socket cookie: Cookie is a hash of the 4-tuple, the same for one
// socket from read to read (takeConns tells a reused 4-tuple by its
// inode). It fails when the process is no longer in namespace n (it
// exited, and its PID may be another's).
func (o *observer) procDump(ctx context.Context, n *winNS, states uint32, fn func(*sockdiag.Sock)) error {
	if err := inNamespace(n.procDir, n.inode); err != nil {
		// The process read through has left the namespace (it exited):
		// read it through another still in it.
		now := o.now()
		if !n.procLost.IsZero() && now.Sub(n.procTried) < rehomeEvery {
			return err
		}
		n.procTried = now
		if !o.rehome(n) {
			if n.procLost.IsZero() {
				n.procLost = now
			}
			return err
		}
	}
	n.procLost = time.Time{}
	dir := n.procDir
	fs := procfs.FS{Root: dir}
	for _, f := range []struct {
		read   func() ([]procfs.Socket, error)
		family uint8
	}{{fs.NetTCP, unix.AF_INET}, {fs.NetTCP6, unix.AF_INET6}} {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, err := f.read()
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		for _, r := range rows {
			if r.State >= 32 || states&(1<<r.State) == 0 {
				continue
			}
			fn(&sockdiag.Sock{Family: f.family, State: r.State, Local: r.Local, Remote: r.Remote,
				Cookie: o.tupleCookie(r.Local, r.Remote), Inode: r.Inode, UID: r.UID})
		}
	}
	return nil
}

// inNamespace checks that the process of dir (a /proc/PID directory) is in
// the network namespace whose inode is inode.
func inNamespace(dir string, inode uint64) error {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "ns", "net"), &st); err != nil {
		return fmt.Errorf("%s/ns/net: %w", dir, err)
	}
	if st.Ino != inode {
		return fmt.Errorf("%s: no longer in network namespace %d", dir, inode)
	}
	return nil
}

// pollThrough sets namespace ns up to be read through /proc/PID/net/tcp{,6}
// of the first of its processes still in it: nil when none can be read.
func (o *observer) pollThrough(ns netNS, late bool) *winNS {
	pid, dir := o.readableIn(ns)
	if dir == "" {
		return nil
	}
	if addrs, err := (ProcFS{Root: dir}).Addresses(); err == nil {
		o.addLocal(ns.inode, addrs)
	}
	return &winNS{inode: ns.inode, pid: pid, procDir: dir, pending: map[uint64]*pendingSock{},
		binds: map[uint16][]*bind{}, live: map[uint64]*winSock{}, late: late}
}

// readableIn is the first of ns's processes still in it whose net/tcp can
// be read, and its /proc/PID directory; "" when there is none.
func (o *observer) readableIn(ns netNS) (int, string) {
	for _, pid := range ns.pids {
		dir := filepath.Join(o.proc.Root, strconv.Itoa(pid))
		if inNamespace(dir, ns.inode) != nil {
			continue
		}
		if _, err := (procfs.FS{Root: dir}).NetTCP(); err != nil {
			continue
		}
		return pid, dir
	}
	return 0, ""
}

// rehomeEvery spaces the looks for a process to read a polled namespace
// through once none was found: a namespace with no process left has no
// socket a process holds either.
const rehomeEvery = 10 * time.Second

// rehome points polled namespace n at another of its processes, the one it
// was read through having left it, from a fresh listing of the processes'
// namespaces. It reports whether one was found.
func (o *observer) rehome(n *winNS) bool {
	_, list, err := o.proc.NetNamespaces()
	if err != nil {
		return false
	}
	for _, ns := range list {
		if ns.inode == n.inode {
			if pid, dir := o.readableIn(ns); dir != "" {
				n.pid, n.procDir = pid, dir
				return true
			}
		}
	}
	return false
}

// tupleCookie stands for a socket cookie where /proc gives none.
func (o *observer) tupleCookie(local, remote netip.AddrPort) uint64 {
	var b [36]byte
	l, r := local.Addr().As16(), remote.Addr().As16()
	copy(b[:16], l[:])
	binary.BigEndian.PutUint16(b[16:], local.Port())
	copy(b[18:34], r[:])
	binary.BigEndian.PutUint16(b[34:], remote.Port())
	return maphash.Bytes(o.seed, b[:])
}

// listenSock is a TCP listener as a dump reports it.
type listenSock struct {
	addr          netip.AddrPort
	inode, cgroup uint64
	family        uint8
}

// sweepErr is one namespace's dump errors in a sweep.
type sweepErr struct{ listen, conns error }

// sweep dumps the TCP listeners and connected sockets of every namespace in
// nss, then reads /proc once for the processes of the listeners and
// sockets new to the window in all of them (a pass walks every process's
// descriptors: one per sweep, not two per namespace), then takes them in:
// the listeners, so that connections to a server started within the window
// count as downstream, and the sockets (see takeConns; first for all at
// the start, else for a namespace found late).
//
// At the window's ends (start, final) it looks for the owners of every new
// socket, as an instant scan does. In between it looks only for those of
// new listeners and upstream sockets (a downstream socket is named after
// its listener), and no more often than keeps the passes under ownersShare
// of the time: on a host whose processes hold hundreds of thousands of
// descriptors a pass takes a tenth of a second. Listeners' workloads come
// from their cgroups.
//
// A namespace whose listeners cannot be dumped keeps its earlier ones; one
// whose sockets cannot be is left as it was. The errors are by namespace,
// in nss's order.
func (o *observer) sweep(ctx context.Context, nss []*winNS, t time.Time, start, final, ended bool) []sweepErr {
	all := start || final
	errs := make([]sweepErr, len(nss))
	listens := make([][]listenSock, len(nss))
	conns := make([][]sockdiag.Sock, len(nss))
	want := map[uint64]struct{}{}
	newListeners := false
	for i, n := range nss {
		var ls []listenSock
		if errs[i].listen = o.dumpNS(ctx, n, sockdiag.StatesListen, func(s *sockdiag.Sock) {
			ls = append(ls, listenSock{s.Local, s.Inode, s.CgroupID, s.Family})
		}); errs[i].listen == nil {
			listens[i] = ls
			// With the owners known so far: what classifies the new sockets
			// below needs only the listeners' addresses.
			o.takeListeners(n, ls)
			for _, x := range ls {
				if _, ok := o.listenOwner[x.inode]; !ok && x.inode != 0 {
					want[x.inode] = struct{}{}
					newListeners = true
				}
			}
		}
		var socks []sockdiag.Sock
		if errs[i].conns = o.dumpNS(ctx, n, sockdiag.StatesConnected, func(s *sockdiag.Sock) {
			if s.Remote.Port() != 0 && (s.HasBytes || n.procDir != "") {
				socks = append(socks, *s)
			}
		}); errs[i].conns != nil {
			continue
		}
		conns[i] = socks
		for j := range socks {
			s := &socks[j]
			if _, known := n.live[s.Cookie]; known || s.Inode == 0 {
				continue
			}
			if !all && o.classify(n, s, owner{}).dir == snapshot.Downstream {
				continue
			}
			want[s.Inode] = struct{}{}
		}
	}
	var owners map[uint64]Process
	if now := time.Now(); len(want) > 0 && (all || !now.Before(o.nextOwners)) {
		var err error
		m := startCost()
		owners, err = o.owners(want)
		o.nextOwners = time.Now().Add(m.spent() * (1 / ownersShare))
		if err == nil && newListeners {
			// A listener whose process was not found is cached as unknown
			// too; an unreadable /proc caches nothing.
			for i, n := range nss {
				if listens[i] == nil {
					continue
				}
				for _, x := range listens[i] {
					if _, ok := o.listenOwner[x.inode]; !ok && x.inode != 0 {
						o.listenOwner[x.inode] = o.ownerOf(owners[x.inode], 0)
					}
				}
				o.takeListeners(n, listens[i])
			}
		}
	}
	for i, n := range nss {
		if errs[i].conns == nil {
			o.takeConns(n, conns[i], owners, t, start || n.late, ended || n.procDir != "")
			if final && len(o.resets) > 0 {
				o.pairAlive(n, conns[i], t)
			}
		}
	}
	return errs
}

// pairAlive pairs the reset clients still waiting at the end dump with
// their server ends that dump found alive in namespace n (socks): the
// client's reset was not yet taken there. Each takes the server end's port
// and what it moved within the window, the other way round.
func (o *observer) pairAlive(n *winNS, socks []sockdiag.Sock, t time.Time) {
	for i := range socks {
		s := &socks[i]
		ws := n.live[s.Cookie]
		if ws == nil || ws.key.dir != snapshot.Downstream {
			continue
		}
		for _, ns := range o.peerNS(n, s.Remote.Addr()) {
			k := resetKey{ns, s.Local.Addr(), s.Remote.Port()}
			if r, ok := o.resets[k]; ok {
				delete(o.resets, k)
				o.pairedReset(k, r, endedDown{s.Local.Port(), ws.lastSent - ws.baseSent, ws.lastRecv - ws.baseRecv, t})
				break
			}
		}
		if len(o.resets) == 0 {
			return
		}
	}
}

// takeListeners makes ls namespace n's listeners, each with its process
// as far as known and its cgroup's workload.
func (o *observer) takeListeners(n *winNS, ls []listenSock) {
	binds := make(map[uint16][]*bind, len(ls))
	for _, x := range ls {
		ow := o.listenOwner[x.inode]
		if wl := o.cgroupWorkload(x.cgroup); wl != "" {
			ow.workload = wl
		}
		binds[x.addr.Port()] = append(binds[x.addr.Port()], &bind{
			l:      &snapshot.Listener{Protocol: "tcp", Address: x.addr.Addr(), Port: x.addr.Port(), Process: ow.process, Workload: cmp.Or(ow.workload, n.workload)},
			family: x.family,
		})
	}
	n.binds = binds
}

// ownerOf names a socket's owner: the process /proc found holding it, the
// workload of its cgroup (the socket's own, cgroup, when the kernel
// reports it; else the process's).
func (o *observer) ownerOf(p Process, cgroup uint64) owner {
	ow := owner{process: p.Name, workload: o.cgroupWorkload(cgroup)}
	if ow.workload == "" && p.PID > 0 {
		wl, ok := o.pidWL[p.PID]
		if !ok {
			wl = o.named(o.wl.Of(p.PID))
			o.pidWL[p.PID] = wl
		}
		ow.workload = wl
	}
	return ow
}

// cgroupWorkload is the workload of the cgroup v2 directory whose inode
// is id; "" for 0 or an unknown id.
func (o *observer) cgroupWorkload(id uint64) string {
	if id == 0 {
		return ""
	}
	path, ok := o.cg.path(id)
	if !ok {
		return ""
	}
	return o.named(o.wl.OfPath(path))
}

// named remembers a workload the window attributed something to, for the
// snapshot's workloads, and returns its name.
func (o *observer) named(w workload.Workload) string {
	name := w.Name()
	if name != "" && o.workloads[name] == nil {
		if o.workloads == nil {
			o.workloads = map[string]*snapshot.Workload{}
		}
		o.workloads[name] = &snapshot.Workload{Name: name, Unit: w.Unit, Runtime: w.Runtime,
			ContainerID: w.ContainerID, ContainerName: w.ContainerName,
			PodUID: w.PodUID, PodName: w.PodName, PodNamespace: w.PodNamespace}
	}
	return name
}

// classify names a socket's dependency the way Classify does: downstream
// when its local port is a listener's (the socket's owner, else the
// listener's), or when only the peer's port is ephemeral; upstream
// otherwise. An unknown owner's workload is the namespace's, where it has
// one.
func (o *observer) classify(n *winNS, s *sockdiag.Sock, ow owner) winKey {
	if l := matchListener(n.binds[s.Local.Port()], &Socket{Protocol: "tcp", Family: s.Family, Local: s.Local, Remote: s.Remote}); l != nil {
		if ow.process == "" {
			ow.process = l.Process
		}
		return winKey{snapshot.Downstream, s.Local.Port(), ow.process, cmp.Or(ow.workload, l.Workload, n.workload), s.Remote.Addr(), n.inode}
	}
	wl := cmp.Or(ow.workload, n.workload)
	if serverSide(s.Local.Port(), s.Remote.Port(), o.eph) {
		return winKey{snapshot.Downstream, s.Local.Port(), ow.process, wl, s.Remote.Addr(), n.inode}
	}
	return winKey{snapshot.Upstream, s.Remote.Port(), ow.process, wl, s.Remote.Addr(), n.inode}
}

// serverSide guesses, without a listener, whether the local end of a
// connection is its server's: when exactly one of the two ports is in the
// host's ephemeral range, that one is the client's; when neither is, the
// lower port is taken as the server's. A window must put every socket in
// some record, so unlike Classify (which leaves an undecidable closing
// socket out) it guesses.
func serverSide(local, remote uint16, ephemeral PortRange) bool {
	localEph, remoteEph := ephemeral.Contains(local), ephemeral.Contains(remote)
	switch {
	case localEph != remoteEph:
		return remoteEph
	case !localEph:
		return local < remote
	}
	return false
}

func (o *observer) dep(k winKey, t time.Time) *snapshot.ConnWindow {
	d := o.deps[k]
	if d == nil {
		d = &snapshot.ConnWindow{FirstSeen: t}
		o.deps[k] = d
		if k.dir == snapshot.Upstream {
			u := upKey{k.netns, k.remote, k.workload}
			if p, ok := o.upPorts[u]; !ok {
				o.upPorts[u] = k.port
			} else if p != k.port {
				o.upPorts[u] = 0
			}
		}
	}
	d.LastSeen = t
	return d
}

// counted adds what a socket moved in the window, given its counters now.
// Counters below what was seen before (a reset clears them) count as the
// last seen.
//
// A socket that moved nothing makes no record of its own: a socket handed
// on from the previous window that no dump of this one saw would otherwise
// make an empty one.
func (o *observer) counted(ws *winSock, sent, recv uint64, t time.Time) (dSent, dRecv uint64) {
	if sent < ws.lastSent || recv < ws.lastRecv {
		sent, recv = ws.lastSent, ws.lastRecv
	}
	dSent, dRecv = sent-ws.baseSent, recv-ws.baseRecv
	if dSent == 0 && dRecv == 0 && o.deps[ws.key] == nil {
		return 0, 0
	}
	d := o.dep(ws.key, t)
	d.BytesSent += dSent
	d.BytesReceived += dRecv
	return dSent, dRecv
}

// connected reports whether a socket ever carried a connection: a client
// whose SYN was never answered (refused, timed out) has acked nothing, not
// even the SYN.
func connected(s *sockdiag.Sock, k winKey) bool {
	return s.Remote.Port() != 0 && (k.dir == snapshot.Downstream || s.BytesAcked > 0)
}

// takeConns takes namespace n's connected sockets as a dump at t found
// them, with the owners /proc found for the new ones. At the start (first)
// their counters are the window's base; later, a new cookie is a socket
// that began in the window. With ended (no destroy events), a known socket
// missing from the dump has ended: it is counted up to its last dump.
func (o *observer) takeConns(n *winNS, socks []sockdiag.Sock, owners map[uint64]Process, t time.Time, first, ended bool) {
	for _, ws := range n.live {
		ws.seenInLastRun = false
	}
	for _, p := range n.pending {
		p.seen = false
	}
	for i := range socks {
		s := &socks[i]
		if ws := n.live[s.Cookie]; ws != nil && n.procDir != "" && ws.inode != 0 && s.Inode != 0 && ws.inode != s.Inode {
			// Its 4-tuple reused by another socket between two reads: the
			// one seen before ended.
			o.dep(ws.key, t).Closed++
			delete(n.live, s.Cookie)
		}
		if ws := n.live[s.Cookie]; ws != nil {
			if ws.inode == 0 {
				ws.inode = s.Inode
			}
			if s.BytesAcked >= ws.lastSent && s.BytesReceived >= ws.lastRecv {
				ws.lastSent, ws.lastRecv = s.BytesAcked, s.BytesReceived
			}
			ws.seenInLastRun, ws.handedUnseen = true, false
			o.dep(ws.key, t)
			continue
		}
		p := n.pending[s.Cookie]
		if p != nil && p.s.Inode != s.Inode {
			o.unowned(n, p, true)
			delete(n.pending, s.Cookie)
			p = nil
		}
		if n.procDir != "" && !first && owners == nil && s.Inode != 0 && s.State != sockdiag.StateSynSent &&
			o.classify(n, s, owner{}).dir == snapshot.Upstream {
			if p == nil {
				p = &pendingSock{s: *s, first: t}
				n.pending[s.Cookie] = p
			}
			p.last, p.seen = t, true
			continue
		}
		k := o.classify(n, s, o.ownerOf(owners[s.Inode], s.CgroupID))
		if !first && !connected(s, k) && (n.procDir == "" || s.State == sockdiag.StateSynSent) {
			continue // still connecting: counted once it is
		}
		ws := &winSock{key: k, lastSent: s.BytesAcked, lastRecv: s.BytesReceived, seenInLastRun: true, inode: s.Inode}
		if p != nil {
			o.dep(k, p.first) // first seen while waiting for its owner
			delete(n.pending, s.Cookie)
		}
		d := o.dep(k, t)
		if first && !n.late {
			ws.baseSent, ws.baseRecv = s.BytesAcked, s.BytesReceived
		} else {
			ws.began = true
			d.Opened++
		}
		n.live[s.Cookie] = ws
		if windowTook != nil {
			windowTook(n.inode, s.Local, s.Remote, k.process)
		}
	}
	if ended {
		for c, ws := range n.live {
			if !ws.seenInLastRun {
				o.counted(ws, ws.lastSent, ws.lastRecv, t)
				o.dep(ws.key, t).Closed++
				delete(n.live, c)
			}
		}
		for c, p := range n.pending {
			if !p.seen {
				o.unowned(n, p, true)
				delete(n.pending, c)
			}
		}
	}
}

// unowned counts a pending socket of namespace n that is taken without a
// process (it ended before an owners pass, or none could be had): opened
// at its first sighting, and closed when ended.
func (o *observer) unowned(n *winNS, p *pendingSock, ended bool) {
	k := o.classify(n, &p.s, owner{})
	if k.dir == snapshot.Upstream {
		o.unattributed(k)
	}
	o.dep(k, p.first).Opened++
	d := o.dep(k, p.last)
	if ended {
		d.Closed++
	}
}

// destroyed takes one destroy event of namespace n. A socket a dump saw is
// counted from its base to its final counters; one no dump saw began in the
// window and counts whole, owned by its listener's process (downstream) or
// by the namespace's workload. With onlyKnown (after the end dump) only
// sockets the window saw alive are taken: anything else began after the
// window.
func (o *observer) destroyed(n *winNS, s *sockdiag.Sock, onlyKnown bool) {
	o.destroyedAt(n, s, onlyKnown, o.now())
}

// destroyedAt is destroyed at time t: the window reads the clock once for
// a batch of events.
func (o *observer) destroyedAt(n *winNS, s *sockdiag.Sock, onlyKnown bool, t time.Time) {
	if ws := n.live[s.Cookie]; ws != nil {
		sent, recv := s.BytesAcked, s.BytesReceived
		if !s.HasBytes {
			sent, recv = ws.lastSent, ws.lastRecv
		}
		dSent, dRecv := o.counted(ws, sent, recv, t)
		o.dep(ws.key, t).Closed++
		delete(n.live, s.Cookie)
		// Both ends on this host: pair them, so neither waits for a reset
		// client that is not coming.
		switch ws.key.dir {
		case snapshot.Upstream:
			// The server port from the dump that saw it: a reset client's
			// event has 0 there, and claiming "any port" would leave its
			// own server end, if that comes after, for a later reset
			// client reusing the ephemeral port.
			if o.onHost(s.Remote.Addr()) {
				o.clientEnded(resetKey{n.inode, s.Remote.Addr(), s.Local.Port()}, ws.key.port, t)
			}
		case snapshot.Downstream:
			if nss := o.peerNS(n, s.Remote.Addr()); len(nss) > 0 {
				o.serverEnded(nss, s.Local.Addr(), s.Remote.Port(), endedDown{s.Local.Port(), dSent, dRecv, t})
			}
		}
		return
	}
	if !s.HasBytes {
		return
	}
	if s.Remote.Port() == 0 {
		// A listener, a socket never connected, or a client socket the
		// kernel disconnected (reset with SO_LINGER 0, or a failed connect):
		// tcp_disconnect has cleared its peer port, its local address and
		// its counters, but not the peer's address or its local port.
		if a := s.Remote.Addr(); a.IsValid() && !a.IsUnspecified() && s.Local.Port() != 0 {
			k := resetKey{n.inode, a, s.Local.Port()}
			if !onlyKnown {
				o.resetClient(n, k, t)
			} else if d, ok := o.downs.take(k, 0, t); ok {
				// After the end dump: one whose server end ended within
				// the window is the window's too.
				o.pairedReset(k, pendingReset{n.inode, n.workload, t}, d)
			}
		}
		return
	}
	if onlyKnown {
		return
	}
	k := o.classify(n, s, owner{})
	if !connected(s, k) {
		return
	}
	if k.dir == snapshot.Upstream {
		o.unattributed(k)
		if o.onHost(s.Remote.Addr()) {
			o.clientEnded(resetKey{n.inode, s.Remote.Addr(), s.Local.Port()}, s.Remote.Port(), t)
		}
	}
	d := o.dep(k, t)
	d.Opened++
	d.Closed++
	d.BytesSent += s.BytesAcked
	d.BytesReceived += s.BytesReceived
	if k.dir == snapshot.Downstream {
		if nss := o.peerNS(n, s.Remote.Addr()); len(nss) > 0 {
			o.serverEnded(nss, s.Local.Addr(), s.Remote.Port(), endedDown{s.Local.Port(), s.BytesAcked, s.BytesReceived, t})
		}
	}
}

// unattributed counts an upstream socket no dump saw: no process, and
// perhaps no workload either.
func (o *observer) unattributed(k winKey) {
	o.res.Unattributed++
	if k.workload == "" {
		o.res.WorkloadUnknown++
	}
}

// resetClient takes a client socket of namespace n that this host reset:
// its server's end, if it is on this host, tells its port and bytes.
func (o *observer) resetClient(n *winNS, k resetKey, t time.Time) {
	if d, ok := o.downs.take(k, 0, t); ok {
		o.pairedReset(k, pendingReset{n.inode, n.workload, t}, d)
		return
	}
	if len(o.resets) >= maxPairs {
		o.res.ResetUnknown++
		return
	}
	o.resets[k] = pendingReset{n.inode, n.workload, t}
}

// serverEnded takes a server socket whose client is on this host: the
// client's end may be a reset one, whose event comes before or after.
//
// A client that ended normally with the same namespace, port and server
// port is its own: that comes first. Else a reset client waiting with its
// key is taken for its client. (A server end whose normal client ends
// after it, while a reset client of the same namespace and port to another
// port of the same server waits, is still mistaken for the reset one's:
// nothing in either event tells them apart.)
//
// Its client is in one of the namespaces clientNS (see peerNS), on port
// clientPort, and its server address is server.
func (o *observer) serverEnded(clientNS []uint64, server netip.Addr, clientPort uint16, d endedDown) {
	for _, ns := range clientNS {
		if _, ok := o.ups.take(resetKey{ns, server, clientPort}, d.port, d.t); ok {
			return // its client ended normally: nothing to pair
		}
	}
	for _, ns := range clientNS {
		if len(o.resets) == 0 {
			break // the usual case: no reset client waits
		}
		k := resetKey{ns, server, clientPort}
		if r, ok := o.resets[k]; ok {
			delete(o.resets, k)
			o.pairedReset(k, r, d)
			return
		}
	}
	for _, ns := range clientNS {
		o.downs.put(resetKey{ns, server, clientPort}, d)
	}
}

// clientEnded takes a client socket that ended normally (its peer port
// intact) and whose server is on this host: the server's end, before or
// after, belongs to it, and must not be paired with a later reset client
// that happens to reuse the same ephemeral port.
func (o *observer) clientEnded(k resetKey, serverPort uint16, t time.Time) {
	if _, ok := o.downs.take(k, serverPort, t); ok {
		return
	}
	o.ups.put(k, endedDown{port: serverPort, t: t})
}

// pairedReset records a reset client socket with what its server's end
// moved, the other way round.
func (o *observer) pairedReset(k resetKey, r pendingReset, d endedDown) {
	key := winKey{dir: snapshot.Upstream, port: d.port, workload: r.workload, remote: k.server, netns: r.netns}
	o.unattributed(key)
	c := o.dep(key, r.t)
	c.Opened++
	c.Closed++
	c.BytesSent += d.recv
	c.BytesReceived += d.sent
	o.res.ResetPaired++
}

// expirePairs settles the reset clients that waited longer than pairWait
// for their server's end: it is elsewhere (settled as at the end).
func (o *observer) expirePairs(now time.Time) {
	for k, r := range o.resets {
		if now.Sub(r.t) > pairWait {
			delete(o.resets, k)
			o.unpairedReset(k, r)
		}
	}
}

// settleResets settles the reset clients still waiting at the window's end.
func (o *observer) settleResets() {
	for k, r := range o.resets {
		o.unpairedReset(k, r)
	}
	clear(o.resets)
}

// unpairedReset records a reset client socket whose server is not on this
// host. Its port is the one port its namespace's workload was seen using
// to that server within the window, if there is exactly one; its bytes are
// lost (the kernel cleared them), so it is counted in ResetNoBytes. Without
// a port it is in no record, only in ResetUnknown.
func (o *observer) unpairedReset(k resetKey, r pendingReset) {
	port := o.upPorts[upKey{r.netns, k.server, r.workload}]
	if port == 0 {
		o.res.ResetUnknown++
		return
	}
	key := winKey{dir: snapshot.Upstream, port: port, workload: r.workload, remote: k.server, netns: r.netns}
	c := o.dep(key, r.t)
	c.Opened++
	c.Closed++
	o.res.ResetNoBytes++
}

// finish takes, after namespace n's end dump (a final sweep), the destroy events of sockets
// that ended between the last read and that dump. Sockets the window saw
// alive that neither the end dump nor an event reports count up to their
// last dump.
//
// With handOn (the subscription outlives this run) it reads no more events:
// they are the next window's. The sockets still known are handed on in the
// returned state: counted here up to the end dump (or their last dump),
// closed in the next window when their events come.
func (o *observer) finish(n *winNS, end time.Time, handOn bool) *windowState {
	var st *windowState
	if handOn {
		st = o.handOn(n, end)
	}
	for c, ws := range n.live {
		switch {
		case handOn && ws.handedUnseen && !ws.seenInLastRun:
			// Handed on unseen, and neither a dump nor an event of this
			// window saw it: its end was lost (an event overrun). It is
			// closed here, in the record of its dependency if this window
			// has one, and not handed on again.
			if d := o.deps[ws.key]; d != nil {
				o.counted(ws, ws.lastSent, ws.lastRecv, end)
				d.Closed++
			}
			o.handedLost++
			delete(n.live, c)
		case ws.seenInLastRun || handOn:
			o.counted(ws, ws.lastSent, ws.lastRecv, end)
			delete(n.live, c)
		}
	}
	if handOn {
		return st
	}
	if n.ev != nil {
		// What arrived during the end dump, whatever is still alive: a
		// reset client among it pairs with a server end that ended in the
		// window. Then, the kernel queueing destroy events from a work
		// queue, give the ones of sockets still unaccounted for a moment
		// to arrive.
		err := n.ev.Read(0, func(s *sockdiag.Sock) { o.destroyed(n, s, true) })
		for range 3 {
			if len(n.live) == 0 || err != nil {
				break
			}
			err = n.ev.Read(50*time.Millisecond, func(s *sockdiag.Sock) { o.destroyed(n, s, true) })
		}
		if err != nil {
			o.endReadErr = errors.Join(o.endReadErr, fmt.Errorf("netns %d: %w", n.inode, err))
		}
	}
	for c, ws := range n.live {
		o.counted(ws, ws.lastSent, ws.lastRecv, end)
		o.dep(ws.key, end).Closed++
		delete(n.live, c)
	}
	for c, p := range n.pending {
		// Alive at the end, its owner not found (the last pass failed).
		o.unowned(n, p, false)
		delete(n.pending, c)
	}
	return nil
}

// apply puts the window into snap: each dependency's ConnWindow on the
// record the end-of-window scan made for it, or on a new record with no
// sockets for a dependency that ended within the window.
//
// A record that connection tracking renamed after a NAT (see natIndex) is
// the record of the sockets' own key too: a container's port published
// by the host, an upstream whose address was rewritten on the way out. So
// one connection is in one record, whether the end scan saw it alive
// (moved there by conntrack), conntrack alone saw it, or the window saw it
// end.
func (o *observer) apply(snap *snapshot.Snapshot) {
	w := o.res
	secs := w.Seconds
	idx := make(map[winKey]int, len(snap.Connections))
	for i, c := range snap.Connections {
		if c.Protocol == "tcp" {
			idx[winKey{c.Direction, c.Port, c.Process, c.Workload, c.RemoteIP, c.Netns}] = i
		}
	}
	// A record's namespace and workload must be in the snapshot's lists:
	// a namespace gone before the end scan, or a workload whose processes
	// all exited, is added.
	nss := map[uint64]bool{}
	for _, ns := range snap.Namespaces {
		nss[ns.Inode] = true
	}
	wls := map[string]bool{}
	for _, w := range snap.Workloads {
		wls[w.Name] = true
	}
	used := map[uint64]bool{}
	for k := range o.deps {
		used[k.netns] = true
	}
	for _, n := range o.nss {
		if n.inode != 0 && !nss[n.inode] && used[n.inode] {
			snap.Namespaces = append(snap.Namespaces, snapshot.Namespace{Inode: n.inode, PID: n.pid, Source: string(SourceNetlink)})
			nss[n.inode] = true
		}
	}
	for k := range o.deps {
		if w := o.workloads[k.workload]; w != nil && !wls[k.workload] {
			snap.Workloads = append(snap.Workloads, *w)
			wls[k.workload] = true
		}
	}
	slices.SortFunc(snap.Workloads, func(a, b snapshot.Workload) int { return cmp.Compare(a.Name, b.Name) })
	nat := natIndex(snap.Connections)
	onRec := map[int]*snapshot.ConnWindow{}
	for k, d := range o.deps {
		if o.polled[k.netns] {
			d.BytesUnknown = true
		}
		w.Opened += d.Opened
		w.Closed += d.Closed
		i, ok := idx[k]
		if !ok {
			i, ok = nat.record(k)
		}
		if !ok {
			cw := *d
			finishConnWindow(&cw, secs)
			snap.Connections = append(snap.Connections, snapshot.Connection{
				Direction: k.dir, Protocol: "tcp", Port: k.port, Process: k.process, RemoteIP: k.remote, Window: &cw,
				Workload: k.workload, Netns: k.netns,
			})
			continue
		}
		if cw := onRec[i]; cw != nil {
			cw.Opened += d.Opened
			cw.Closed += d.Closed
			cw.BytesSent += d.BytesSent
			cw.BytesReceived += d.BytesReceived
			cw.BytesUnknown = cw.BytesUnknown || d.BytesUnknown
			if d.FirstSeen.Before(cw.FirstSeen) {
				cw.FirstSeen = d.FirstSeen
			}
			if d.LastSeen.After(cw.LastSeen) {
				cw.LastSeen = d.LastSeen
			}
			continue
		}
		cw := *d
		onRec[i] = &cw
	}
	for i, cw := range onRec {
		finishConnWindow(cw, secs)
		snap.Connections[i].Window = cw
	}
	slices.SortStableFunc(snap.Connections, func(a, b snapshot.Connection) int {
		return cmp.Or(compareConnections(a, b), cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Netns, b.Netns))
	})
	snap.Window = &w
}

// finishConnWindow rounds a record's times as the snapshot keeps them and
// works out its rates over a window of secs seconds.
func finishConnWindow(cw *snapshot.ConnWindow, secs float64) {
	cw.FirstSeen = cw.FirstSeen.UTC().Truncate(time.Millisecond)
	cw.LastSeen = cw.LastSeen.UTC().Truncate(time.Millisecond)
	if secs > 0 {
		cw.OpenedPerSecond = float64(cw.Opened) / secs
		cw.BytesSentPerSecond = float64(cw.BytesSent) / secs
		cw.BytesReceivedPerSecond = float64(cw.BytesReceived) / secs
	}
}

// natRecords finds, for a socket's key, the record connection tracking
// put its connection under after a NAT: by the whole key, else by all but
// the process and workload (named from the socket's owner on one side and
// from its listener on the other, they may differ) where that is one record.
type natRecords struct {
	exact map[winKey]int
	loose map[winKey]int // -1: several
}

// natIndex indexes the TCP records conntrack renamed, under the key their
// sockets have (the key a window counts them by):
//   - a port the host publishes to a container (a DNAT on the host): the
//     record is the published port's, in the container's namespace, with
//     the container's address and port as its backend; the container's
//     sockets are on the backend port, their peer the client (the address
//     the record has, unless the host also rewrote the source: a hairpin
//     or proxied connection, whose sockets keep their own record);
//   - an upstream whose destination a DNAT on the way out rewrote (a
//     service VIP): the record is the actual destination's, with the
//     address dialled kept; the sockets have the dialled address and port.
func natIndex(conns []snapshot.Connection) natRecords {
	n := natRecords{exact: map[winKey]int{}, loose: map[winKey]int{}}
	for i, c := range conns {
		if c.Protocol != "tcp" {
			continue
		}
		var k winKey
		switch {
		case c.Direction == snapshot.Downstream && c.BackendIP.IsValid() && c.BackendPort != 0:
			k = winKey{c.Direction, c.BackendPort, c.Process, c.Workload, c.RemoteIP, c.Netns}
		case c.Direction == snapshot.Upstream && c.DialledIP.IsValid() && c.DialledPort != 0:
			k = winKey{c.Direction, c.DialledPort, c.Process, c.Workload, c.DialledIP, c.Netns}
		default:
			continue
		}
		if _, ok := n.exact[k]; !ok {
			n.exact[k] = i
		}
		k.process, k.workload = "", ""
		if j, ok := n.loose[k]; ok && j != i {
			n.loose[k] = -1
		} else {
			n.loose[k] = i
		}
	}
	return n
}

// record is the index of the record conntrack put the sockets of key k
// under, if it renamed one.
func (n natRecords) record(k winKey) (int, bool) {
	if i, ok := n.exact[k]; ok {
		return i, true
	}
	k.process, k.workload = "", ""
	if i, ok := n.loose[k]; ok && i >= 0 {
		return i, true
	}
	return 0, false
}
