package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/planetdeps/planet/scan/sockdiag"
	"github.com/planetdeps/planet/snapshot"
)

// Default intervals between the dumps a window takes besides its two ends:
// with destroy events they only find the processes of new sockets and new
// listeners; without, they are all there is.
const (
	defaultEventPoll = 2 * time.Second
	defaultDumpPoll  = time.Second
)

// eventGather is how long the window lets destroy events gather after a
// read that found few: at most 100 wake-ups a second. At 20,000 events a
// second that is some 200 events, about 250 KB of socket buffer, within
// even an unprivileged listener's default (2 x net.core.rmem_max, 416 KiB
// on Debian); a read that found gatherMax or more does not wait.
const (
	eventGather = 10 * time.Millisecond
	gatherMax   = 256
)

// ownersShare bounds the time the /proc passes within a window take, as a
// share of the window.
const ownersShare = 0.01

// ErrWindowSource is wrapped when a window is asked of a socket source that
// cannot give one.
var ErrWindowSource = errors.New("an observation window needs netlink sock_diag")

// subscribe opens the destroy-event subscription; tests replace it to see
// a window on a host that refuses events.
var subscribe = sockdiag.Subscribe

// windowBegun, when set, is called once the start dump is taken: tests wait
// for it before making the traffic the window must see.
var windowBegun func()

// winKey is a dependency as a window counts it: TCP only.
type winKey struct {
	dir     snapshot.Direction
	port    uint16
	process string
	remote  netip.Addr
}

// winSock is a socket the window has seen alive in a dump. base is what its
// counters held when the window first saw it (zero if it began in the
// window), last what they held at the latest dump.
type winSock struct {
	key                  winKey
	baseSent, baseRecv   uint64
	lastSent, lastRecv   uint64
	began, seenInLastRun bool
}

// observer accumulates one window. Its memory is one winSock per socket
// alive at a dump (never per connection over the window) and one
// ConnWindow per distinct dependency.
type observer struct {
	proc  ProcFS
	eph   PortRange
	now   func() time.Time
	dump  func(ctx context.Context, states uint32, fn func(*sockdiag.Sock)) error
	binds map[uint16][]*bind // TCP listeners by port
	// listenOwner caches listener inodes' processes across refreshes.
	listenOwner map[uint64]Process
	live        map[uint64]*winSock // by socket cookie
	// nextOwners: the earliest time for the next /proc pass within the window.
	nextOwners time.Time
	deps       map[winKey]*snapshot.ConnWindow
	res        snapshot.Window
}

func newObserver(proc ProcFS, eph PortRange, now func() time.Time) *observer {
	return &observer{
		proc: proc, eph: eph, now: now, dump: sockdiag.DumpAll,
		binds:       map[uint16][]*bind{},
		listenOwner: map[uint64]Process{},
		live:        map[uint64]*winSock{},
		deps:        map[winKey]*snapshot.ConnWindow{},
	}
}

// observeWindow watches the host's TCP sockets for opts.Window: a dump at
// the start, destroy events (or, where refused, dumps every second) during,
// and a dump at the end. A cancelled ctx ends the window early (CutShort);
// the result is still whole for the shorter window. It fails only when no
// dump can be had at all.
func observeWindow(ctx context.Context, opts Options, proc ProcFS, eph PortRange, warn func(string, ...any)) (*observer, error) {
	if opts.SocketSource == SourceProc || filepath.Clean(opts.ProcRoot) != "/proc" {
		return nil, fmt.Errorf("%w (byte counters and socket cookies; /proc/net has neither)", ErrWindowSource)
	}
	o := newObserver(proc, eph, opts.Now)
	o.res = snapshot.Window{Requested: opts.Window.Seconds(), Method: snapshot.WindowEvents, BytesMeaning: snapshot.WindowBytesMeaning}
	poll := opts.WindowPoll
	// Subscribe before the first dump, so that no socket ends unseen
	// between the two.
	ev, err := subscribe(0)
	if err != nil {
		if poll <= 0 {
			poll = defaultDumpPoll
		}
		o.res.Method = snapshot.WindowPolling
		o.res.Detail = fmt.Sprintf("destroy events refused (%v); dumps every %v", err, poll)
		warn("TCP destroy events refused; the window falls back to repeated dumps and misses connections shorter than the interval", "error", err, "interval", poll)
	} else {
		defer ev.Close()
		if poll <= 0 {
			poll = defaultEventPoll
		}
	}
	start := o.now()
	o.res.Start = start.UTC().Truncate(time.Millisecond)
	if err := o.refreshListeners(ctx, true); err != nil {
		return nil, fmt.Errorf("window start: %w", err)
	}
	if err := o.poll(ctx, start, true, false, ev == nil); err != nil {
		return nil, fmt.Errorf("window start: %w", err)
	}
	opts.Logger.Debug("window begun", "method", o.res.Method, "live_sockets", len(o.live), "length", opts.Window)
	if windowBegun != nil {
		windowBegun()
	}
	deadline := start.Add(opts.Window)
	nextPoll := start.Add(poll)
	failedDumps, lastDumpErr := 0, error(nil)
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
		if ev != nil {
			got := 0
			if err := ev.Read(max(wait, 0), func(s *sockdiag.Sock) { got++; o.destroyed(s, false) }); err != nil {
				return nil, err
			}
			if got > 0 && got < gatherMax {
				// Let events gather in the socket buffer and take them
				// in batches: a wake-up per event costs more than the
				// event.
				time.Sleep(eventGather)
			}
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(max(wait, 0)):
			}
		}
		if now := o.now(); !now.Before(nextPoll) && now.Before(deadline) {
			// A failed intermediate dump costs attribution (and, without
			// events, the sockets that end before the next), not the window.
			err := o.refreshListeners(ctx, false)
			if err == nil {
				err = o.poll(ctx, now, false, false, ev == nil)
			}
			if err != nil && ctx.Err() == nil {
				failedDumps++
				lastDumpErr = err
			}
			nextPoll = now.Add(poll)
		}
	}
	// The end: a cancelled ctx must not stop the last dump. Events already
	// queued are of sockets that ended within the window.
	ctx = context.WithoutCancel(ctx)
	end := o.now()
	if ev != nil {
		if err := ev.Read(0, func(s *sockdiag.Sock) { o.destroyed(s, false) }); err != nil {
			return nil, err
		}
	}
	_ = o.refreshListeners(ctx, true)
	if err := o.finish(ctx, end, ev); err != nil {
		return nil, fmt.Errorf("window end: %w", err)
	}
	o.res.Seconds = end.Sub(start).Seconds()
	if failedDumps > 0 {
		warn("dumps within the window failed", "failed", failedDumps, "last_error", lastDumpErr)
	}
	if o.res.CutShort {
		warn("window cut short: the snapshot covers what was observed until the signal", "seconds", fmt.Sprintf("%.3f", o.res.Seconds), "requested", opts.Window)
	}
	if ev != nil {
		o.res.EventOverruns = ev.Overruns()
		if n := ev.Truncated(); n > 0 {
			warn("TCP destroy events too large or malformed were dropped", "events", n)
		}
		if o.res.EventOverruns > 0 {
			warn("the kernel dropped TCP destroy events: planet read them too slowly", "overruns", o.res.EventOverruns)
		}
	}
	return o, nil
}

// refreshListeners re-reads the TCP listeners, so that connections to a
// server started within the window count as downstream. Their processes
// come from /proc at the window's ends (all), and in between within the
// budget ownersOfNew keeps.
func (o *observer) refreshListeners(ctx context.Context, all bool) error {
	type l struct {
		addr   netip.AddrPort
		inode  uint64
		family uint8
	}
	var ls []l
	if err := o.dump(ctx, sockdiag.StatesListen, func(s *sockdiag.Sock) { ls = append(ls, l{s.Local, s.Inode, s.Family}) }); err != nil {
		return err
	}
	want := map[uint64]struct{}{}
	for _, x := range ls {
		if _, ok := o.listenOwner[x.inode]; !ok && x.inode != 0 {
			want[x.inode] = struct{}{}
		}
	}
	if now := time.Now(); len(want) > 0 && (all || !now.Before(o.nextOwners)) {
		owners, err := o.proc.Owners(want)
		if err != nil {
			return err
		}
		o.nextOwners = time.Now().Add(time.Since(now) * (1 / ownersShare))
		for ino := range want {
			o.listenOwner[ino] = owners[ino] // a miss is cached as unknown too
		}
	}
	binds := make(map[uint16][]*bind, len(ls))
	for _, x := range ls {
		binds[x.addr.Port()] = append(binds[x.addr.Port()], &bind{
			l:      &snapshot.Listener{Protocol: "tcp", Address: x.addr.Addr(), Port: x.addr.Port(), Process: o.listenOwner[x.inode].Name},
			family: x.family,
		})
	}
	o.binds = binds
	return nil
}

// classify names a socket's dependency the way Classify does: downstream
// when its local port is a listener's (the socket's process, else the
// listener's), or when only the peer's port is ephemeral; upstream otherwise.
func (o *observer) classify(s *sockdiag.Sock, process string) winKey {
	if l := matchListener(o.binds[s.Local.Port()], &Socket{Protocol: "tcp", Family: s.Family, Local: s.Local, Remote: s.Remote}); l != nil {
		return winKey{snapshot.Downstream, s.Local.Port(), cmp.Or(process, l.Process), s.Remote.Addr()}
	}
	if serverSide(s.Local.Port(), s.Remote.Port(), o.eph) {
		return winKey{snapshot.Downstream, s.Local.Port(), process, s.Remote.Addr()}
	}
	return winKey{snapshot.Upstream, s.Remote.Port(), process, s.Remote.Addr()}
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
	}
	d.LastSeen = t
	return d
}

// counted adds what a socket moved in the window, given its counters now.
// Counters below what was seen before (a reset clears them) count as the
// last seen.
func (o *observer) counted(ws *winSock, sent, recv uint64, t time.Time) {
	if sent < ws.lastSent || recv < ws.lastRecv {
		sent, recv = ws.lastSent, ws.lastRecv
	}
	d := o.dep(ws.key, t)
	d.BytesSent += sent - ws.baseSent
	d.BytesReceived += recv - ws.baseRecv
}

// connected reports whether a socket ever carried a connection: a client
// whose SYN was never answered (refused, timed out) has acked nothing, not
// even the SYN.
func connected(s *sockdiag.Sock, k winKey) bool {
	return s.Remote.Port() != 0 && (k.dir == snapshot.Downstream || s.BytesAcked > 0)
}

// poll dumps the connected sockets. At the start (first) their counters are
// the window's base; later, a new cookie is a socket that began in the
// window; final is the end dump. With ended (no destroy events), a known socket missing from the
// dump has ended: it is counted up to its last dump.
func (o *observer) poll(ctx context.Context, t time.Time, first, final, ended bool) error {
	var socks []sockdiag.Sock
	if err := o.dump(ctx, sockdiag.StatesConnected, func(s *sockdiag.Sock) {
		if s.Remote.Port() != 0 && s.HasBytes {
			socks = append(socks, *s)
		}
	}); err != nil {
		return err
	}
	owners := o.ownersOfNew(socks, first || final)
	for _, ws := range o.live {
		ws.seenInLastRun = false
	}
	for i := range socks {
		s := &socks[i]
		if ws := o.live[s.Cookie]; ws != nil {
			if s.BytesAcked >= ws.lastSent && s.BytesReceived >= ws.lastRecv {
				ws.lastSent, ws.lastRecv = s.BytesAcked, s.BytesReceived
			}
			ws.seenInLastRun = true
			o.dep(ws.key, t)
			continue
		}
		k := o.classify(s, owners[s.Inode].Name)
		if !first && !connected(s, k) {
			continue // still connecting: counted once it is
		}
		ws := &winSock{key: k, lastSent: s.BytesAcked, lastRecv: s.BytesReceived, seenInLastRun: true}
		d := o.dep(k, t)
		if first {
			ws.baseSent, ws.baseRecv = s.BytesAcked, s.BytesReceived
		} else {
			ws.began = true
			d.Opened++
		}
		o.live[s.Cookie] = ws
	}
	if ended {
		for c, ws := range o.live {
			if !ws.seenInLastRun {
				o.counted(ws, ws.lastSent, ws.lastRecv, t)
				o.deps[ws.key].Closed++
				delete(o.live, c)
			}
		}
	}
	return nil
}

// ownersOfNew reads /proc for the processes of sockets the window has not
// seen before.
//
// At the window's ends (all) it looks for every new socket, as an instant
// scan does. In between it looks only for upstream ones (a downstream
// socket is named after its listener), and no more often than keeps the
// passes under ownersShare of the time: on a host whose processes hold
// hundreds of thousands of descriptors a pass takes a tenth of a second.
func (o *observer) ownersOfNew(socks []sockdiag.Sock, all bool) map[uint64]Process {
	want := map[uint64]struct{}{}
	for i := range socks {
		s := &socks[i]
		if _, known := o.live[s.Cookie]; known || s.Inode == 0 {
			continue
		}
		if !all && o.classify(s, "").dir == snapshot.Downstream {
			continue
		}
		want[s.Inode] = struct{}{}
	}
	if len(want) == 0 {
		return nil
	}
	now := time.Now()
	if !all && now.Before(o.nextOwners) {
		return nil
	}
	owners, _ := o.proc.Owners(want) // unreadable /proc: sockets stay unattributed
	o.nextOwners = time.Now().Add(time.Since(now) * (1 / ownersShare))
	return owners
}

// destroyed takes one destroy event. A socket a dump saw is counted from
// its base to its final counters; one no dump saw began in the window and
// counts whole. With onlyKnown (after the end dump) only sockets the
// window saw alive are taken: anything else began after the window.
func (o *observer) destroyed(s *sockdiag.Sock, onlyKnown bool) {
	t := o.now()
	if ws := o.live[s.Cookie]; ws != nil {
		sent, recv := s.BytesAcked, s.BytesReceived
		if !s.HasBytes {
			sent, recv = ws.lastSent, ws.lastRecv
		}
		o.counted(ws, sent, recv, t)
		o.deps[ws.key].Closed++
		delete(o.live, s.Cookie)
		return
	}
	if onlyKnown || !s.HasBytes {
		return
	}
	if s.Remote.Port() == 0 {
		// A listener, a socket never connected, or a client socket the
		// kernel disconnected (reset with SO_LINGER 0, or a failed connect):
		// tcp_disconnect has cleared its peer port and counters.
		if a := s.Remote.Addr(); a.IsValid() && !a.IsUnspecified() {
			o.res.ResetUnknown++
		}
		return
	}
	k := o.classify(s, "")
	if !connected(s, k) {
		return
	}
	if k.dir == snapshot.Upstream {
		o.res.Unattributed++
	}
	d := o.dep(k, t)
	d.Opened++
	d.Closed++
	d.BytesSent += s.BytesAcked
	d.BytesReceived += s.BytesReceived
}

// finish takes the end dump, then the destroy events of sockets that ended
// between the last read and that dump. Sockets the window saw alive that
// neither the end dump nor an event reports count up to their last dump.
func (o *observer) finish(ctx context.Context, end time.Time, ev *sockdiag.Events) error {
	if err := o.poll(ctx, end, false, true, false); err != nil {
		return err
	}
	for c, ws := range o.live {
		if ws.seenInLastRun {
			o.counted(ws, ws.lastSent, ws.lastRecv, end)
			delete(o.live, c)
		}
	}
	if ev != nil {
		// The kernel queues destroy events from a work queue: give the
		// ones already due a moment to arrive.
		for range 3 {
			if len(o.live) == 0 {
				break
			}
			_ = ev.Read(50*time.Millisecond, func(s *sockdiag.Sock) { o.destroyed(s, true) })
		}
	}
	for c, ws := range o.live {
		o.counted(ws, ws.lastSent, ws.lastRecv, end)
		o.deps[ws.key].Closed++
		delete(o.live, c)
	}
	return nil
}

// apply puts the window into snap: each dependency's ConnWindow on the
// record the end-of-window scan made for it, or on a new record with no
// sockets for a dependency that ended within the window.
func (o *observer) apply(snap *snapshot.Snapshot) {
	w := o.res
	secs := w.Seconds
	idx := make(map[winKey]int, len(snap.Connections))
	for i, c := range snap.Connections {
		if c.Protocol == "tcp" {
			idx[winKey{c.Direction, c.Port, c.Process, c.RemoteIP}] = i
		}
	}
	for k, d := range o.deps {
		cw := *d
		w.Opened += cw.Opened
		w.Closed += cw.Closed
		cw.FirstSeen = cw.FirstSeen.UTC().Truncate(time.Millisecond)
		cw.LastSeen = cw.LastSeen.UTC().Truncate(time.Millisecond)
		if secs > 0 {
			cw.OpenedPerSecond = float64(cw.Opened) / secs
			cw.BytesSentPerSecond = float64(cw.BytesSent) / secs
			cw.BytesReceivedPerSecond = float64(cw.BytesReceived) / secs
		}
		if i, ok := idx[k]; ok {
			snap.Connections[i].Window = &cw
			continue
		}
		snap.Connections = append(snap.Connections, snapshot.Connection{
			Direction: k.dir, Protocol: "tcp", Port: k.port, Process: k.process, RemoteIP: k.remote, Window: &cw,
		})
	}
	slices.SortFunc(snap.Connections, compareConnections)
	snap.Window = &w
}
