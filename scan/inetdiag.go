package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Namespace dumps. Every sock_diag dump walks the kernel's socket hash
// tables, which all network namespaces share (unless
// net.ipv4.tcp_child_ehash_entries gives new ones their own), skipping the
// sockets of other namespaces: a dump costs about the same in a container
// with three sockets as on the host, and a scan of N namespaces costs N
// walks of the TCP table (262,144 buckets on a 24 GiB machine). The
// sock_diag request (SOCK_DIAG_BY_FAMILY) takes one family, so TCP would
// need two walks; the older inet_diag request (TCPDIAG_GETSOCK, still in
// every kernel, as ss once used it) dumps both families in one. UDP's
// table is small: one sock_diag dump per family.

// Sizes and constants of linux/inet_diag.h.
const (
	tcpdiagGetsock    = 18 // TCPDIAG_GETSOCK
	sockDiagByFamily  = 20 // SOCK_DIAG_BY_FAMILY
	sizeofDiagSockID  = 48 // struct inet_diag_sockid
	sizeofDiagMsg     = 72 // struct inet_diag_msg
	inetDiagInfo      = 2  // INET_DIAG_INFO: struct tcp_info
	inetDiagSkV6Only  = 11 // INET_DIAG_SKV6ONLY: u8
	allStates         = 0xfff
	tcpInfoBytesAcked = 120 // offsetof(struct tcp_info, tcpi_bytes_acked)
	tcpInfoBytesRecvd = 128 // offsetof(struct tcp_info, tcpi_bytes_received)
)

// compatReq is struct inet_diag_req: family, src_len, dst_len, ext, id,
// states, dbs, asking for INET_DIAG_INFO. The kernel dumps AF_UNSPEC (both
// families) for it, whatever the family says.
func compatReq() []byte {
	b := make([]byte, 4+sizeofDiagSockID+8)
	b[0] = unix.AF_INET
	b[3] = 1 << (inetDiagInfo - 1)
	binary.NativeEndian.PutUint32(b[4+sizeofDiagSockID:], allStates)
	return b
}

// v2Req is struct inet_diag_req_v2: family, protocol, ext, pad, states, id.
func v2Req(family, proto uint8) []byte {
	b := make([]byte, 8+sizeofDiagSockID)
	b[0], b[1] = family, proto
	binary.NativeEndian.PutUint32(b[4:], allStates)
	return b
}

// parseDiagMsg reads one struct inet_diag_msg and its attributes: for
// TCP the byte counters of INET_DIAG_INFO, and for IPv6 sockets
// INET_DIAG_SKV6ONLY, which the kernel adds to every AF_INET6 socket in
// the LISTEN or CLOSE state (TCP listeners, unconnected UDP sockets;
// inet_diag_msg_attrs_fill).
func parseDiagMsg(proto string, b []byte) (Socket, error) {
	if len(b) < sizeofDiagMsg {
		return Socket{}, fmt.Errorf("inet_diag message of %d bytes, want at least %d", len(b), sizeofDiagMsg)
	}
	s := Socket{Protocol: proto, Family: b[0], State: b[1]}
	addr := func(raw []byte) netip.Addr {
		if b[0] == unix.AF_INET {
			return netip.AddrFrom4([4]byte(raw[:4]))
		}
		return netip.AddrFrom16([16]byte(raw[:16])).Unmap()
	}
	s.Local = netip.AddrPortFrom(addr(b[8:24]), binary.BigEndian.Uint16(b[4:6]))
	s.Remote = netip.AddrPortFrom(addr(b[24:40]), binary.BigEndian.Uint16(b[6:8]))
	s.UID = binary.NativeEndian.Uint32(b[64:68])
	s.Inode = uint64(binary.NativeEndian.Uint32(b[68:72]))
	for rest := b[sizeofDiagMsg:]; len(rest) >= 4; {
		l := int(binary.NativeEndian.Uint16(rest[0:2]))
		typ := binary.NativeEndian.Uint16(rest[2:4])
		if l < 4 || l > len(rest) {
			break
		}
		switch {
		case typ == inetDiagInfo && proto == "tcp" && l-4 >= tcpInfoBytesRecvd+8:
			info := rest[4:l]
			s.BytesAcked = binary.NativeEndian.Uint64(info[tcpInfoBytesAcked:])
			s.BytesReceived = binary.NativeEndian.Uint64(info[tcpInfoBytesRecvd:])
			s.HasBytes = true
		case typ == inetDiagSkV6Only && s.Family == unix.AF_INET6 && l > 4:
			s.V6Only = rest[4] != 0
		}
		rest = rest[min(len(rest), (l+3)&^3):]
	}
	return s, nil
}

// errDumpInterrupted: the kernel flagged a dump as inconsistent
// (NLM_F_DUMP_INTR: the socket table changed under it).
var errDumpInterrupted = errors.New("sock_diag dump interrupted: the socket table changed under it")

// diagSockets dumps the TCP (both families, one walk) and UDP sockets of
// the namespace the sock_diag socket fd was made in. Every message is
// parsed in place from one reused receive buffer; expect (0: not known) is
// about how many sockets there are, so that the table is not copied as it
// grows.
func diagSockets(ctx context.Context, fd int, expect int) ([]Socket, error) {
	buf := make([]byte, diagRecvBuf)
	var seq uint32
	dump := func(out []Socket, msgType uint16, req []byte, proto string) ([]Socket, error) {
		start := len(out)
		return dumpRetry(func() ([]Socket, error) {
			seq++
			return diagDump(fd, seq, msgType, req, proto, buf, out[:start])
		})
	}
	out, err := dump(make([]Socket, 0, expect+expect/16), tcpdiagGetsock, compatReq(), "tcp")
	if err != nil {
		return nil, fmt.Errorf("inet_diag tcp: %w", err)
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if out, err = dump(out, sockDiagByFamily, v2Req(family, unix.IPPROTO_UDP), "udp"); err != nil {
			return nil, fmt.Errorf("sock_diag udp (family %d): %w", family, err)
		}
	}
	return out, nil
}

// diagRecvBuf is the receive buffer of a dump: the kernel fills each
// datagram up to 32 KiB.
const diagRecvBuf = 64 << 10

// dumpRetry repeats a dump the kernel reports as interrupted (the socket
// table changed under it). Three interrupted dumps in a row are an error:
// the auto source then falls back to /proc/net, with a warning, rather than
// report an inconsistent table as if it were whole.
func dumpRetry[R any](dump func() (R, error)) (R, error) {
	var res R
	var err error
	for range 3 {
		res, err = dump()
		if !errors.Is(err, errDumpInterrupted) {
			return res, err
		}
	}
	var zero R
	return zero, err
}

// diagDumpError is the errno the kernel ended (or refused) a dump of
// proto's sockets with: ENOENT when no diag module serves the protocol
// (udp_diag not loaded), EPERM, and so on. It is the kernel's, not a
// vanished process's, even when it is ENOENT.
type diagDumpError struct {
	proto, how string // how: "ended" (NLMSG_DONE) or "refused" (NLMSG_ERROR)
	errno      unix.Errno
}

func (e *diagDumpError) Error() string {
	return fmt.Sprintf("%s dump %s by the kernel: %v", e.proto, e.how, e.errno)
}

func (e *diagDumpError) Unwrap() error { return e.errno }

// diagDump sends one dump request (netlink message type msgType, payload
// req, sequence number seq) on the sock_diag socket fd and appends every
// socket of the answer to out: errDumpInterrupted, with the sockets, when
// the kernel flagged it; the kernel's errno (wrapped, naming proto) when it
// ended the dump with one, such as ENOENT for a missing diag module.
func diagDump(fd int, seq uint32, msgType uint16, req []byte, proto string, buf []byte, out []Socket) ([]Socket, error) {
	msg := make([]byte, unix.NLMSG_HDRLEN+len(req))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], msgType)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	copy(msg[unix.NLMSG_HDRLEN:], req)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return out, fmt.Errorf("send: %w", err)
	}
	interrupted := false
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("receive: %w", err)
		}
		var done bool
		if out, done, err = diagMessages(buf[:n], seq, msgType, proto, out, &interrupted); done || err != nil {
			return out, err
		}
	}
}

// diagMessages appends the sockets in b, one datagram of the answer to dump
// seq (its messages of type msgType), to out; done tells the dump's end.
// interrupted records, across datagrams, that a message was flagged
// NLM_F_DUMP_INTR: errDumpInterrupted at the end. The kernel ends a dump it
// could not do with an errno, negated, in the payload of NLMSG_DONE (ENOENT
// when the protocol's diag module is missing) or of NLMSG_ERROR: that errno
// is the error.
func diagMessages(b []byte, seq uint32, msgType uint16, proto string, out []Socket, interrupted *bool) ([]Socket, bool, error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return out, true, fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		mseq := binary.NativeEndian.Uint32(b[8:12])
		body := b[unix.NLMSG_HDRLEN:l]
		b = b[min(len(b), (l+3)&^3):]
		if mseq != seq {
			continue // an earlier, abandoned dump's
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			*interrupted = true
		}
		switch typ {
		case unix.NLMSG_DONE:
			if len(body) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
					return out, true, &diagDumpError{proto: proto, how: "ended", errno: unix.Errno(-e)}
				}
			}
			if *interrupted {
				return out, true, errDumpInterrupted
			}
			return out, true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
					return out, true, &diagDumpError{proto: proto, how: "refused", errno: unix.Errno(-e)}
				}
			}
			return out, true, nil
		case msgType:
			s, err := parseDiagMsg(proto, body)
			if err != nil {
				return out, true, err
			}
			out = append(out, s)
		}
	}
	return out, false, nil
}

// openDiag makes a sock_diag socket in the calling thread's network
// namespace. The kernel answers a dump at once; the receive timeout only
// bounds a wedged one.
func openDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return -1, fmt.Errorf("netlink sock_diag socket: %w", err)
	}
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink sock_diag receive timeout: %w", err)
	}
	return fd, nil
}

// netlinkNS is the netlink source of another network namespace: a
// sock_diag socket made inside the namespace at path, which must still be
// the one of inode (see netlinkIn).
type netlinkNS struct {
	path  string
	inode uint64
}

// Name implements SocketSource.
func (netlinkNS) Name() string { return string(SourceNetlink) }

// Sockets implements SocketSource.
func (n netlinkNS) Sockets(ctx context.Context) ([]Socket, error) {
	return netlinkIn(ctx, n.path, n.inode)
}

// netlinkIn dumps the sockets of the namespace at nsPath over a sock_diag
// socket created inside it (setns on a locked thread, and back). A refused
// setns is a *netlinkRefused.
func netlinkIn(ctx context.Context, nsPath string, inode uint64) ([]Socket, error) {
	h, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return nil, err
	}
	if st.Ino != inode {
		return nil, errVanished
	}
	fd, err := socketIn(h)
	if err != nil {
		// Without CAP_SYS_ADMIN, or under RestrictNamespaces=, setns is
		// refused (EPERM, which the library's message does not wrap):
		// /proc/<pid>/net is the way in then.
		return nil, &netlinkRefused{fmt.Errorf("netlink socket inside %s: %w", nsPath, err)}
	}
	defer unix.Close(fd)
	return diagSockets(ctx, fd, 0)
}

// socketIn makes a sock_diag socket inside namespace h, on a thread of its
// own: the thread goes into h and back. Where it cannot go back (setns to
// the original namespace refused: it may belong to a user namespace above
// planet's), the thread stays locked, so the runtime ends it with its
// goroutine instead of running other code, such as a read of
// /proc/self/net, in the wrong namespace. (The library's own restore
// ignores that error and hands the thread back.)
func socketIn(h netns.NsHandle) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer cur.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		fd, err := openDiag()
		if berr := netns.Set(cur); berr != nil {
			// Stays locked: the thread ends with this goroutine.
			ch <- result{fd, err}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}
