// Package sockdiag speaks the kernel's NETLINK_SOCK_DIAG protocol for TCP:
// a dump of the sockets alive now (what ss prints) and a subscription to the
// sockets being destroyed (what ss -E prints), both with each socket's
// cookie and tcp_info byte counters.
//
// Facts it builds on (linux/sock_diag.h, linux/inet_diag.h, net/core/sock_diag.c):
//   - Every inet socket has a 64-bit cookie, unique for the life of the
//     network namespace, that a dump and a destroy event of the same socket
//     both report; it is how a window pairs the two.
//   - A full TCP socket is destroyed exactly once: when the last reference
//     goes, which for a connection closed first by this side is when it
//     enters TIME_WAIT (the TIME_WAIT mini socket that replaces it is never
//     reported again). The event carries the final tcp_info; its inode and
//     uid are zero, since the file that held it is already gone.
//   - The destroy groups (SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY)
//     are open to unprivileged listeners (the kernel registers the protocol
//     with NL_CFG_F_NONROOT_RECV; no capability check in sock_diag_bind), and,
//     like dumps, cover only the listener's own network namespace.
package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attribute types of an inet_diag message (linux/inet_diag.h).
const (
	attrInfo     = 2  // INET_DIAG_INFO: struct tcp_info
	attrCgroupID = 21 // INET_DIAG_CGROUP_ID: u64, kernel 5.7 and later
)

// Sizes of the fixed parts of the messages (linux/netlink.h, linux/inet_diag.h).
const (
	sizeNlmsghdr    = 16
	sizeInetDiagMsg = 72
	sizeReqV2       = 56
	sizeRtattr      = 4
)

// Offsets of the byte counters in struct tcp_info, taken from x/sys's copy
// of the kernel's layout rather than written out by hand.
var (
	offBytesAcked    = int(unsafe.Offsetof(unix.TCPInfo{}.Bytes_acked))
	offBytesReceived = int(unsafe.Offsetof(unix.TCPInfo{}.Bytes_received))
)

// TCP states (include/net/tcp_states.h) that matter here.
const (
	StateEstablished = 1
	StateSynSent     = 2
	StateSynRecv     = 3
	StateTimeWait    = 6
	StateClose       = 7
	StateListen      = 10
)

// Sock is one TCP socket as a dump or a destroy event reports it.
type Sock struct {
	Family uint8 // unix.AF_INET or unix.AF_INET6
	State  uint8 // kernel TCP state; a destroyed socket reports CLOSE (7)
	// Local and Remote: IPv4-mapped IPv6 addresses are unmapped.
	Local, Remote netip.AddrPort
	Cookie        uint64 // the kernel's socket cookie
	Inode         uint64 // 0 in destroy events and for TIME_WAIT sockets
	UID           uint32 // 0 in destroy events
	// BytesAcked (tcpi_bytes_acked) and BytesReceived (tcpi_bytes_received)
	// are the socket's lifetime counters; HasBytes is false where the
	// message had no tcp_info (TIME_WAIT, request sockets, old kernels).
	BytesAcked, BytesReceived uint64
	HasBytes                  bool
	// CgroupID is the inode number of the owning cgroup v2 directory; 0 where
	// the kernel does not report it.
	CgroupID uint64
}

// ErrTruncated is wrapped by Parse for a message shorter than its headers say.
var ErrTruncated = errors.New("truncated sock_diag message")

// Parse decodes the payload of one SOCK_DIAG_BY_FAMILY message (after the
// netlink header): an inet_diag_msg followed by attributes. Unknown
// attributes are skipped; a short tcp_info (an older kernel's) is used as far
// as it goes.
func Parse(b []byte) (Sock, error) {
	var s Sock
	if err := parseInto(b, &s); err != nil {
		return Sock{}, err
	}
	return s, nil
}

// parseInto is Parse into *s, overwriting all of it: a subscription reuses
// one Sock for every event rather than allocating one each. On error *s
// holds a part of the message.
func parseInto(b []byte, s *Sock) error {
	if len(b) < sizeInetDiagMsg {
		return fmt.Errorf("%w: inet_diag_msg needs %d bytes, have %d", ErrTruncated, sizeInetDiagMsg, len(b))
	}
	*s = Sock{Family: b[0], State: b[1]}
	sport := binary.BigEndian.Uint16(b[4:6])
	dport := binary.BigEndian.Uint16(b[6:8])
	src, dst := addr(s.Family, b[8:24]), addr(s.Family, b[24:40])
	s.Local, s.Remote = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	s.Cookie = uint64(binary.NativeEndian.Uint32(b[44:48])) | uint64(binary.NativeEndian.Uint32(b[48:52]))<<32
	s.UID = binary.NativeEndian.Uint32(b[64:68])
	s.Inode = uint64(binary.NativeEndian.Uint32(b[68:72]))
	for a := b[sizeInetDiagMsg:]; len(a) >= sizeRtattr; {
		l := int(binary.NativeEndian.Uint16(a[0:2]))
		typ := binary.NativeEndian.Uint16(a[2:4]) & 0x3fff // drop NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < sizeRtattr || l > len(a) {
			return fmt.Errorf("%w: attribute %d claims %d bytes, %d left", ErrTruncated, typ, l, len(a))
		}
		v := a[sizeRtattr:l]
		switch typ {
		case attrInfo:
			if len(v) >= offBytesReceived+8 {
				s.BytesAcked = binary.NativeEndian.Uint64(v[offBytesAcked:])
				s.BytesReceived = binary.NativeEndian.Uint64(v[offBytesReceived:])
				s.HasBytes = true
			}
		case attrCgroupID:
			if len(v) >= 8 {
				s.CgroupID = binary.NativeEndian.Uint64(v)
			}
		}
		a = a[min(align4(l), len(a)):]
	}
	return nil
}

func addr(family uint8, b []byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

func align4(n int) int { return (n + 3) &^ 3 }

// request builds a SOCK_DIAG_BY_FAMILY dump request for TCP sockets of one
// family in the given states (a bit mask of 1<<state), asking for tcp_info.
func request(family uint8, states uint32, seq uint32) []byte {
	b := make([]byte, sizeNlmsghdr+sizeReqV2)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	r := b[sizeNlmsghdr:]
	r[0], r[1], r[2] = family, unix.IPPROTO_TCP, 1<<(attrInfo-1)
	binary.NativeEndian.PutUint32(r[4:8], states)
	return b
}

// messages splits a netlink datagram into (header type, flags, payload)
// triples, stopping at the first malformed header.
func messages(b []byte, fn func(typ, flags uint16, payload []byte) error) error {
	for len(b) >= sizeNlmsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < sizeNlmsghdr || l > len(b) {
			return fmt.Errorf("%w: netlink message claims %d bytes, %d left", ErrTruncated, l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		if err := fn(typ, flags, b[sizeNlmsghdr:l]); err != nil {
			return err
		}
		b = b[min(align4(l), len(b)):]
	}
	return nil
}

// unsafeSizeofTCPInfo is x/sys's size of struct tcp_info.
const unsafeSizeofTCPInfo = int(unsafe.Sizeof(unix.TCPInfo{}))
