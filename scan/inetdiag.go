package scan

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink/nl"
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
	allStates         = 0xfff
	tcpInfoBytesAcked = 120 // offsetof(struct tcp_info, tcpi_bytes_acked)
	tcpInfoBytesRecvd = 128 // offsetof(struct tcp_info, tcpi_bytes_received)
)

// compatReq is struct inet_diag_req: family, src_len, dst_len, ext, id,
// states, dbs. The kernel dumps AF_UNSPEC (both families) for it.
type compatReq struct{}

func (compatReq) Len() int { return 4 + sizeofDiagSockID + 8 }

func (compatReq) Serialize() []byte {
	b := make([]byte, 4+sizeofDiagSockID+8)
	b[0] = unix.AF_INET
	b[3] = 1 << (inetDiagInfo - 1)
	binary.NativeEndian.PutUint32(b[4+sizeofDiagSockID:], allStates)
	return b
}

// v2Req is struct inet_diag_req_v2: family, protocol, ext, pad, states, id.
type v2Req struct{ family, proto uint8 }

func (v2Req) Len() int { return 8 + sizeofDiagSockID }

func (r v2Req) Serialize() []byte {
	b := make([]byte, 8+sizeofDiagSockID)
	b[0], b[1] = r.family, r.proto
	binary.NativeEndian.PutUint32(b[4:], allStates)
	return b
}

// parseDiagMsg reads one struct inet_diag_msg and, for TCP, the byte
// counters of its INET_DIAG_INFO attribute.
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
		if typ == inetDiagInfo && proto == "tcp" && l-4 >= tcpInfoBytesRecvd+8 {
			info := rest[4:l]
			s.BytesAcked = binary.NativeEndian.Uint64(info[tcpInfoBytesAcked:])
			s.BytesReceived = binary.NativeEndian.Uint64(info[tcpInfoBytesRecvd:])
			s.HasBytes = true
		}
		rest = rest[min(len(rest), (l+3)&^3):]
	}
	return s, nil
}

// diagSockets dumps the TCP (both families, one walk) and UDP sockets of
// the namespace sock lives in.
func diagSockets(ctx context.Context, sock *nl.NetlinkSocket) ([]Socket, error) {
	handles := map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: sock}}
	dump := func(msgType int, data nl.NetlinkRequestData, proto string) ([]Socket, error) {
		return dumpRetry(func() ([]Socket, error) {
			req := nl.NewNetlinkRequest(msgType, unix.NLM_F_DUMP)
			req.Sockets = handles
			req.AddData(data)
			var out []Socket
			var perr error
			err := req.ExecuteIter(unix.NETLINK_INET_DIAG, uint16(msgType), func(msg []byte) bool {
				s, err := parseDiagMsg(proto, msg)
				if err != nil {
					perr = err
					return false
				}
				out = append(out, s)
				return true
			})
			if perr != nil {
				return nil, perr
			}
			return out, err
		})
	}
	out, err := dump(tcpdiagGetsock, compatReq{}, "tcp")
	if err != nil {
		return nil, fmt.Errorf("inet_diag tcp: %w", err)
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		udp, err := dump(sockDiagByFamily, v2Req{family, unix.IPPROTO_UDP}, "udp")
		if err != nil {
			return nil, fmt.Errorf("sock_diag udp (family %d): %w", family, err)
		}
		out = append(out, udp...)
	}
	return out, nil
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
	sock, err := socketIn(h)
	if err != nil {
		// Without CAP_SYS_ADMIN, or under RestrictNamespaces=, setns is
		// refused (EPERM, which the library's message does not wrap):
		// /proc/<pid>/net is the way in then.
		return nil, &netlinkRefused{fmt.Errorf("netlink socket inside %s: %w", nsPath, err)}
	}
	defer sock.Close()
	// The kernel answers a dump at once; this only bounds a wedged one.
	if err := sock.SetReceiveTimeout(&unix.Timeval{Sec: 10}); err != nil {
		return nil, err
	}
	return diagSockets(ctx, sock)
}

// socketIn makes a sock_diag socket inside namespace h, on a thread of its
// own: the thread goes into h and back. Where it cannot go back (setns to
// the original namespace refused: it may belong to a user namespace above
// planet's), the thread stays locked, so the runtime ends it with its
// goroutine instead of running other code, such as a read of
// /proc/self/net, in the wrong namespace. (The library's own restore
// ignores that error and hands the thread back.)
func socketIn(h netns.NsHandle) (*nl.NetlinkSocket, error) {
	type result struct {
		sock *nl.NetlinkSocket
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer cur.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		// Not open handles: the socket is made where the thread is.
		sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_INET_DIAG)
		if berr := netns.Set(cur); berr != nil {
			// Stays locked: the thread ends with this goroutine.
			ch <- result{sock, err}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{sock, err}
	}()
	r := <-ch
	return r.sock, r.err
}
