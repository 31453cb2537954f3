package sockdiag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrInterrupted is returned by Dump when the kernel flagged the dump as
// inconsistent (the table changed under it); the caller may retry.
var ErrInterrupted = errors.New("sock_diag dump interrupted")

// recvBuf bounds one read: the kernel fills dump datagrams up to about
// 32 KiB, and a destroy event is a few hundred bytes.
const recvBuf = 64 << 10

// dumpTimeout bounds each read of a dump, so a kernel that never answers
// cannot hang a scan.
const dumpTimeout = 5 * time.Second

// Dump states, as bit masks of 1<<state for Dump.
const (
	// StatesConnected: every TCP state but LISTEN, TIME_WAIT and SYN_RECV
	// (request sockets): the sockets that carry a connection's counters.
	StatesConnected = 0xfff &^ (1<<StateListen | 1<<StateTimeWait | 1<<StateSynRecv)
	// StatesListen: listening sockets only.
	StatesListen = 1 << StateListen
)

func openHere() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("netlink sock_diag socket: %w", err)
	}
	return fd, nil
}

// Dump calls fn for every TCP socket of family (unix.AF_INET or AF_INET6)
// in the calling thread's network namespace whose state is in states (a mask
// of 1<<state). The Sock passed to fn is only valid during the call. It
// returns ErrInterrupted when the kernel reports the table changed mid-dump
// (fn has then seen a possibly inconsistent table), ctx's error when
// cancelled between reads.
func Dump(ctx context.Context, family uint8, states uint32, fn func(*Sock)) error {
	return dumpIn(ctx, Own, family, states, fn)
}

func dumpIn(ctx context.Context, ns Namespace, family uint8, states uint32, fn func(*Sock)) error {
	fd, err := open(ns)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(dumpTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("netlink sock_diag: %w", err)
	}
	const seq = 1
	if err := unix.Sendto(fd, request(family, states, seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink sock_diag dump request: %w", err)
	}
	buf := make([]byte, recvBuf)
	interrupted := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink sock_diag dump: %w", err)
		}
		done := false
		err = messages(buf[:n], func(typ, flags uint16, p []byte) error {
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch typ {
			case unix.NLMSG_DONE:
				done = true
				return nil
			case unix.NLMSG_ERROR:
				if len(p) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(p)); e != 0 {
						return fmt.Errorf("netlink sock_diag dump: %w", unix.Errno(-e))
					}
				}
				done = true
				return nil
			case unix.SOCK_DIAG_BY_FAMILY:
				s, err := Parse(p)
				if err != nil {
					return err
				}
				fn(&s)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			if interrupted {
				return ErrInterrupted
			}
			return nil
		}
	}
}

// DumpAll is Dump over both families, retrying an interrupted dump up to
// three times.
func DumpAll(ctx context.Context, states uint32, fn func(*Sock)) error {
	return DumpAllIn(ctx, Own, states, fn)
}

// DumpAllIn is DumpAll in network namespace ns (see Namespace).
func DumpAllIn(ctx context.Context, ns Namespace, states uint32, fn func(*Sock)) error {
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var err error
		for range 3 {
			if err = dumpIn(ctx, ns, fam, states, fn); !errors.Is(err, ErrInterrupted) {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Events is a subscription to the destroy events of TCP sockets, IPv4 and
// IPv6, in the network namespace it was opened in.
type Events struct {
	fd        int
	batch     *batch
	overrun   uint64
	truncated uint64
	// sock is the Sock every event is decoded into in turn: no allocation
	// per event.
	sock Sock
}

// batch is the receive area of one recvmmsg call: one slot per datagram
// (each destroy event is its own datagram), so that a busy host costs one
// system call per batchSlots events rather than one per event.
type batch struct {
	bufs [][]byte
	iovs []unix.Iovec
	hdrs []unix.Mmsghdr
}

// Slots of a batch and their size: an event with tcp_info is some 400
// bytes; a larger one (an attribute a later kernel adds) is counted as
// truncated.
const (
	batchSlots = 64
	slotSize   = 2048
)

func newBatch() *batch {
	b := &batch{bufs: make([][]byte, batchSlots), iovs: make([]unix.Iovec, batchSlots), hdrs: make([]unix.Mmsghdr, batchSlots)}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, slotSize)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(slotSize)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}

// recv takes up to batchSlots queued datagrams without waiting.
func (b *batch) recv(fd int) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].Len, b.hdrs[i].Hdr.Flags = 0, 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// DefaultEventBuffer is the receive buffer Subscribe asks for: about 10,000
// events (a destroy event with tcp_info is some 300 bytes, and the kernel
// charges about twice that), enough for a second of a very busy host
// between two reads.
const DefaultEventBuffer = 8 << 20

// Subscribe opens a destroy-event subscription with a receive buffer of
// rcvbuf bytes (0: DefaultEventBuffer). Without CAP_NET_ADMIN the kernel
// caps the buffer at net.core.rmem_max; events beyond it are dropped and
// counted by Overruns. It fails on kernels without destroy groups (before
// 4.4) or where netlink is filtered (seccomp, RestrictAddressFamilies).
func Subscribe(rcvbuf int) (*Events, error) {
	return SubscribeIn(Own, rcvbuf)
}

// SubscribeIn is Subscribe in network namespace ns (see Namespace): the
// events of the sockets of that namespace only.
func SubscribeIn(ns Namespace, rcvbuf int) (*Events, error) {
	if rcvbuf <= 0 {
		rcvbuf = DefaultEventBuffer
	}
	fd, err := open(ns)
	if err != nil {
		return nil, err
	}
	// FORCE needs CAP_NET_ADMIN; the plain option is capped by rmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	groups := uint32(destroyGroups)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink sock_diag: subscribe to TCP destroy events: %w", err)
	}
	return &Events{fd: fd, batch: newBatch()}, nil
}

// EventCharge is what the kernel charges a subscription's receive buffer
// for one queued destroy event (the datagram's truesize): some 380 bytes of
// message in a buffer of about 1,280 bytes, measured on Linux 6.1 from
// /proc/net/netlink's Rmem with 1,000 events queued.
const EventCharge = 1280

// Buffer is the receive buffer the kernel granted, in bytes it may charge
// (getsockopt SO_RCVBUF: twice what was asked, capped by net.core.rmem_max
// without CAP_NET_ADMIN); 0 when it cannot be read. Events beyond it are
// dropped (Overruns).
func (e *Events) Buffer() int {
	n, err := unix.GetsockoptInt(e.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return 0
	}
	return n
}

// Close ends the subscription.
func (e *Events) Close() error { return unix.Close(e.fd) }

// Truncated counts events dropped because they were larger than a receive
// slot or malformed.
func (e *Events) Truncated() uint64 { return e.truncated }

// Overruns counts the times the kernel dropped events because the receive
// buffer was full (ENOBUFS). Each may stand for many events.
func (e *Events) Overruns() uint64 { return e.overrun }

// Read waits up to wait for events and calls fn for each event that has
// arrived, then returns. wait 0 only takes what is already queued. The Sock
// passed to fn is only valid during the call.
func (e *Events) Read(wait time.Duration, fn func(*Sock)) error {
	pfd := []unix.PollFd{{Fd: int32(e.fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd, int(wait.Milliseconds())); err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("netlink sock_diag events: poll: %w", err)
	}
	return e.Drain(fn)
}

// Drain calls fn for each event already queued, without waiting. The Sock
// passed to fn is only valid during the call.
func (e *Events) Drain(fn func(*Sock)) error {
	for {
		n, err := e.batch.recv(e.fd)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			return nil
		case errors.Is(err, unix.ENOBUFS):
			e.overrun++
			continue
		case err != nil:
			return fmt.Errorf("netlink sock_diag events: %w", err)
		}
		for i := range n {
			h := &e.batch.hdrs[i]
			if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
				e.truncated++
				continue
			}
			// One malformed event costs that event, not the window.
			if messages(e.batch.bufs[i][:h.Len], func(typ, _ uint16, p []byte) error {
				if typ != unix.SOCK_DIAG_BY_FAMILY {
					return nil
				}
				if err := parseInto(p, &e.sock); err != nil {
					return err
				}
				fn(&e.sock)
				return nil
			}) != nil {
				e.truncated++
			}
		}
		if n < len(e.batch.hdrs) {
			return nil
		}
	}
}

// Group waits on several subscriptions at once (one per network
// namespace) with one system call per wake-up, not one per subscription.
type Group struct {
	evs []*Events
	pfd []unix.PollFd
}

// NewGroup groups evs.
func NewGroup(evs []*Events) *Group {
	g := &Group{evs: evs, pfd: make([]unix.PollFd, len(evs))}
	for i, e := range evs {
		g.pfd[i] = unix.PollFd{Fd: int32(e.fd), Events: unix.POLLIN}
	}
	return g
}

// Wait waits up to wait for events on any subscription of the group, then
// calls ready with the index (in the order given to NewGroup) of each that
// has some queued; ready would then Drain it.
func (g *Group) Wait(wait time.Duration, ready func(i int) error) error {
	for i := range g.pfd {
		g.pfd[i].Revents = 0
	}
	if _, err := unix.Poll(g.pfd, int(wait.Milliseconds())); err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("netlink sock_diag events: poll: %w", err)
	}
	for i := range g.pfd {
		if g.pfd[i].Revents != 0 {
			if err := ready(i); err != nil {
				return err
			}
		}
	}
	return nil
}
