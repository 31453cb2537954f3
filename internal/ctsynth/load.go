package ctsynth

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Entry is one flow Load puts in the kernel's table: IPv4 tuples in the
// original and reply direction, as conntrack records them.
type Entry struct {
	Proto              uint8 // unix.IPPROTO_TCP or unix.IPPROTO_UDP
	OrigSrc, OrigDst   netip.AddrPort
	ReplySrc, ReplyDst netip.AddrPort
	TCPState           uint8 // conntrack's TCP state number (3 ESTABLISHED, 7 TIME_WAIT); 0 for UDP
	Replied            bool  // traffic seen both ways (IPS_SEEN_REPLY, IPS_ASSURED)
}

// maxEntries keeps every peer address in its /24 (a peer per 60,000).
const maxEntries = 250 * 60_000

func a4(a, b, c, d int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a), byte(b), byte(c), byte(d)})
}

func ap(a netip.Addr, port int) netip.AddrPort { return netip.AddrPortFrom(a, uint16(port)) }

// Entries calls fn with n entries of the same mix as Write (host 10.1.0.5,
// containers 172.17.0.0/16, 20,000 client addresses; published-port,
// masqueraded, closed, sendto and forwarded flows in Write's proportions),
// every one with tuples of its own, as the kernel requires of a real
// table: a client's flows take ports of their own, and every 60,000 flows
// of a kind go to another peer address. fn's Entry is reused.
func Entries(n int, fn func(*Entry) error) error {
	if n > maxEntries {
		return fmt.Errorf("%d entries: at most %d have distinct tuples", n, maxEntries)
	}
	host := a4(10, 1, 0, 5)
	var e Entry
	for i := range n {
		c := i % 20_000
		cl, clPort := a4(10, 200, c/250, 1+c%250), 1024+i/20_000
		ctr := a4(172, 17, (i/200)%4, 2+i%200)
		// A port per entry among 60,000, and a peer per 60,000 entries.
		port, peer := 1024+i%60000, i/60000
		e = Entry{Proto: unix.IPPROTO_TCP, TCPState: 3, Replied: true}
		switch i % 20 {
		case 0, 1, 2, 3, 4, 5, 6, 7: // published: client -> host:8443, DNAT to a container's 443
			e.OrigSrc, e.OrigDst = ap(cl, clPort), ap(host, 8443)
			e.ReplySrc, e.ReplyDst = ap(ctr, 443), ap(cl, clPort)
		case 8, 9, 10, 11: // a container's flow to a database, masqueraded; half closed
			db := a4(10, 3, peer, 9)
			e.OrigSrc, e.OrigDst = ap(ctr, port), ap(db, 5432)
			e.ReplySrc, e.ReplyDst = ap(db, 5432), ap(host, port)
			if i%2 == 0 {
				e.TCPState = 7
			}
		case 12, 13, 14: // the host's own closed upstream connections
			srv := a4(10, 4, peer, 1)
			e.OrigSrc, e.OrigDst = ap(host, port), ap(srv, 443)
			e.ReplySrc, e.ReplyDst = ap(srv, 443), ap(host, port)
			e.TCPState = 7
		case 15, 16: // a sendto() client of the host, never answered
			col := a4(10, 9, peer, 1)
			e.Proto, e.TCPState, e.Replied = unix.IPPROTO_UDP, 0, false
			e.OrigSrc, e.OrigDst = ap(host, port), ap(col, 8125)
			e.ReplySrc, e.ReplyDst = ap(col, 8125), ap(host, port)
		default: // forwarded between other hosts: foreign
			e.OrigSrc, e.OrigDst = ap(cl, clPort), ap(a4(10, 7, 0, 2), 80)
			e.ReplySrc, e.ReplyDst = ap(a4(10, 7, 0, 2), 80), ap(cl, clPort)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// ctnetlink constants (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtNew   = 0
	ctaTupleOrig     = 1
	ctaTupleReply    = 2
	ctaStatus        = 3
	ctaProtoinfo     = 4
	ctaTimeout       = 7
	ctaTupleIP       = 1
	ctaTupleProto    = 2
	ctaIPv4Src       = 1
	ctaIPv4Dst       = 2
	ctaProtoNum      = 1
	ctaProtoSrc      = 2
	ctaProtoDst      = 3
	ctaProtoinfoTCP  = 1
	ctaTCPState      = 1
	ipsSeenReply     = 1 << 1
	ipsAssured       = 1 << 2
	ipsConfirmed     = 1 << 3
	nlaFNested       = 1 << 15
	loadBatch        = 512 // messages per send
	loadTimeoutSecs  = 3600
	nfnlSubsysCtlink = 1
)

type msg struct{ b []byte }

func (m *msg) attr(typ uint16, payload []byte) {
	m.b = binary.NativeEndian.AppendUint16(m.b, uint16(4+len(payload)))
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	m.b = append(m.b, payload...)
	for len(m.b)%4 != 0 {
		m.b = append(m.b, 0)
	}
}

// nest appends a nested attribute whose content fill appends.
func (m *msg) nest(typ uint16, fill func()) {
	at := len(m.b)
	m.b = append(m.b, 0, 0, 0, 0)
	fill()
	binary.NativeEndian.PutUint16(m.b[at:], uint16(len(m.b)-at))
	binary.NativeEndian.PutUint16(m.b[at+2:], typ|nlaFNested)
}

func (m *msg) tuple(typ uint16, proto uint8, src, dst netip.AddrPort) {
	m.nest(typ, func() {
		m.nest(ctaTupleIP, func() {
			s, d := src.Addr().As4(), dst.Addr().As4()
			m.attr(ctaIPv4Src, s[:])
			m.attr(ctaIPv4Dst, d[:])
		})
		m.nest(ctaTupleProto, func() {
			m.attr(ctaProtoNum, []byte{proto})
			m.attr(ctaProtoSrc, binary.BigEndian.AppendUint16(nil, src.Port()))
			m.attr(ctaProtoDst, binary.BigEndian.AppendUint16(nil, dst.Port()))
		})
	})
}

// appendNew appends one IPCTNL_MSG_CT_NEW request for e, sequence seq.
func appendNew(b []byte, e *Entry, seq uint32) []byte {
	m := msg{b: b}
	at := len(m.b)
	m.b = append(m.b, make([]byte, unix.NLMSG_HDRLEN)...)
	m.b = append(m.b, unix.AF_INET, 0, 0, 0) // nfgenmsg: family, version, resource id
	m.tuple(ctaTupleOrig, e.Proto, e.OrigSrc, e.OrigDst)
	m.tuple(ctaTupleReply, e.Proto, e.ReplySrc, e.ReplyDst)
	m.attr(ctaTimeout, binary.BigEndian.AppendUint32(nil, loadTimeoutSecs))
	// A created entry is confirmed (in the table) already: the status
	// must say so, or the kernel refuses the change (EBUSY).
	status := uint32(ipsConfirmed)
	if e.Replied {
		status |= ipsSeenReply | ipsAssured
	}
	m.attr(ctaStatus, binary.BigEndian.AppendUint32(nil, status))
	if e.Proto == unix.IPPROTO_TCP {
		m.nest(ctaProtoinfo, func() {
			m.nest(ctaProtoinfoTCP, func() { m.attr(ctaTCPState, []byte{e.TCPState}) })
		})
	}
	h := m.b[at:]
	binary.NativeEndian.PutUint32(h[0:], uint32(len(h)))
	binary.NativeEndian.PutUint16(h[4:], nfnlSubsysCtlink<<8|ipctnlMsgCtNew)
	binary.NativeEndian.PutUint16(h[6:], unix.NLM_F_REQUEST|unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(h[8:], seq)
	return m.b
}

// Load puts n entries (see Entries) into the connection-tracking table of
// the calling thread's network namespace through ctnetlink, as `conntrack
// -I` does one at a time, in batches of 512 requests per send. It needs
// CAP_NET_ADMIN, and room in the table: net.netfilter.nf_conntrack_max
// (global, set from the initial namespace) bounds every namespace's. An
// entry the kernel refuses ends the load with its number and errno.
func Load(ctx context.Context, n int) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	// Acks carry only the request's header, and there is room for a
	// batch's.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	buf := make([]byte, 0, loadBatch*160)
	rbuf := make([]byte, 1<<16)
	pending, seq := 0, uint32(0)
	flush := func() error {
		if pending == 0 {
			return nil
		}
		if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("netlink send: %w", err)
		}
		buf = buf[:0]
		for pending > 0 {
			k, _, err := unix.Recvfrom(fd, rbuf, 0)
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return fmt.Errorf("netlink receive: %w", err)
			}
			for b := rbuf[:k]; len(b) >= unix.NLMSG_HDRLEN; {
				l := int(binary.NativeEndian.Uint32(b))
				if l < unix.NLMSG_HDRLEN || l > len(b) {
					return fmt.Errorf("netlink: message of %d bytes in %d", l, len(b))
				}
				if binary.NativeEndian.Uint16(b[4:]) == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
					pending--
					if code := int32(binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN:])); code != 0 {
						// The error echoes the request's header: its sequence is the entry's number.
						at := binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN+4+8:])
						return fmt.Errorf("entry %d: %w", at, unix.Errno(-code))
					}
				}
				b = b[min((l+3)&^3, len(b)):]
			}
		}
		return ctx.Err()
	}
	err = Entries(n, func(e *Entry) error {
		buf = appendNew(buf, e, seq)
		seq++
		if pending++; pending == loadBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
