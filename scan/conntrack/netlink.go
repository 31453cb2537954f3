package conntrack

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ctnetlink constants (include/uapi/linux/netfilter/nfnetlink_conntrack.h,
// nfnetlink.h, nf_conntrack_common.h).
const (
	nfnlSubsysCtnetlink = 1
	ipctnlMsgCtGet      = 1

	ctaTupleOrig     = 1
	ctaTupleReply    = 2
	ctaStatus        = 3
	ctaProtoinfo     = 4
	ctaCountersOrig  = 9
	ctaCountersReply = 10

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaIPv6Src    = 3
	ctaIPv6Dst    = 4
	ctaProtoNum   = 1
	ctaProtoSrc   = 2
	ctaProtoDst   = 3

	ctaProtoinfoTCP      = 1
	ctaProtoinfoTCPState = 1
	ctaCountersBytes     = 2

	ipsSeenReply = 1 << 1
	ipsAssured   = 1 << 2

	nlaTypeMask = 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
)

// NetlinkSource is the name Dump's results carry in the snapshot.
const NetlinkSource = "netlink ctnetlink"

// Dump reads the connection-tracking table of the calling thread's network
// namespace through a ctnetlink dump, one receive buffer at a time (the
// whole dump is never in memory), calling fn with each TCP or UDP flow. fn
// must copy what it keeps. It needs CAP_NET_ADMIN: without it the kernel
// answers EPERM (errors.Is(err, unix.EPERM)). Every receive is bounded by
// a 5 s timeout, and the dump stops at ctx's end and after lim.MaxEntries
// entries.
func Dump(ctx context.Context, lim Limits, fn func(*Flow) error) (ReadStats, error) {
	lim = lim.withDefaults()
	var st ReadStats
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return st, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return st, fmt.Errorf("netlink bind: %w", err)
	}
	tv := unix.NsecToTimeval((5 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return st, fmt.Errorf("netlink timeout: %w", err)
	}
	// nlmsghdr + nfgenmsg{family AF_UNSPEC: both IPv4 and IPv6, version 0}.
	req := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], nfnlSubsysCtnetlink<<8|ipctnlMsgCtGet)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1) // sequence number
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return st, fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1<<20)
	var f Flow
	for {
		if err := ctx.Err(); err != nil {
			return st, context.Cause(ctx)
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return st, fmt.Errorf("netlink receive: %w", err)
		}
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return st, fmt.Errorf("netlink: message of %d bytes in %d", l, len(b))
			}
			msg := b[unix.NLMSG_HDRLEN:l]
			b = b[min(nlmAlign(l), len(b)):]
			switch typ {
			case unix.NLMSG_DONE:
				return st, nil
			case unix.NLMSG_ERROR:
				if len(msg) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(msg)); code != 0 {
						return st, fmt.Errorf("ctnetlink dump: %w", unix.Errno(-code))
					}
				}
				continue
			}
			if st.Entries >= lim.MaxEntries {
				st.Truncated = true
				return st, nil
			}
			st.Entries++
			if len(msg) < 4 {
				return st, fmt.Errorf("ctnetlink: entry %d: short message", st.Entries)
			}
			ok, err := parseEntry(msg[4:], &f)
			if err != nil {
				return st, fmt.Errorf("ctnetlink: entry %d: %w", st.Entries, err)
			}
			if !ok {
				st.Skipped++
				continue
			}
			st.HasBytes = st.HasBytes || f.HasBytes
			if err := fn(&f); err != nil {
				return st, err
			}
		}
	}
}

func nlmAlign(n int) int   { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
func nlaAlign(n int) int   { return (n + 3) &^ 3 }
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// attrs calls fn for each netlink attribute in b.
func attrs(b []byte, fn func(typ uint16, val []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return fmt.Errorf("attribute of %d bytes in %d", l, len(b))
		}
		if err := fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[4:l]); err != nil {
			return err
		}
		b = b[min(nlaAlign(l), len(b)):]
	}
	return nil
}

// parseEntry fills f from one IPCTNL_MSG_CT_NEW message's attributes. It
// returns false, without error, for a protocol other than TCP or UDP.
func parseEntry(b []byte, f *Flow) (bool, error) {
	*f = Flow{}
	var proto uint8
	var haveOrig, haveReply bool
	err := attrs(b, func(typ uint16, val []byte) error {
		switch typ {
		case ctaTupleOrig, ctaTupleReply:
			t, p, err := parseTuple(val)
			if err != nil {
				return err
			}
			proto = p
			if typ == ctaTupleOrig {
				f.Orig, haveOrig = t, true
			} else {
				f.Reply, haveReply = t, true
			}
		case ctaStatus:
			if len(val) < 4 {
				return errors.New("short status")
			}
			s := binary.BigEndian.Uint32(val)
			f.Unreplied = s&ipsSeenReply == 0
			f.Assured = s&ipsAssured != 0
		case ctaProtoinfo:
			return attrs(val, func(typ uint16, val []byte) error {
				if typ != ctaProtoinfoTCP {
					return nil
				}
				return attrs(val, func(typ uint16, val []byte) error {
					if typ == ctaProtoinfoTCPState && len(val) >= 1 && int(val[0]) < len(tcpStates) {
						f.State = tcpStates[val[0]]
					}
					return nil
				})
			})
		case ctaCountersOrig, ctaCountersReply:
			return attrs(val, func(t uint16, val []byte) error {
				if t != ctaCountersBytes || len(val) < 8 {
					return nil
				}
				f.HasBytes = true
				if typ == ctaCountersOrig {
					f.OrigBytes = binary.BigEndian.Uint64(val)
				} else {
					f.ReplyBytes = binary.BigEndian.Uint64(val)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if !haveOrig || !haveReply {
		return false, errors.New("an entry without both tuples")
	}
	switch proto {
	case unix.IPPROTO_TCP:
		f.Proto = "tcp"
	case unix.IPPROTO_UDP:
		f.Proto = "udp"
		f.State = ""
	default:
		return false, nil
	}
	return true, nil
}

// parseTuple reads a CTA_TUPLE_* nest: addresses, protocol and ports.
func parseTuple(b []byte) (Tuple, uint8, error) {
	var src, dst netip.Addr
	var sport, dport uint16
	var proto uint8
	err := attrs(b, func(typ uint16, val []byte) error {
		switch typ {
		case ctaTupleIP:
			return attrs(val, func(typ uint16, val []byte) error {
				var a netip.Addr
				switch {
				case (typ == ctaIPv4Src || typ == ctaIPv4Dst) && len(val) == 4:
					a = netip.AddrFrom4([4]byte(val))
				case (typ == ctaIPv6Src || typ == ctaIPv6Dst) && len(val) == 16:
					a = netip.AddrFrom16([16]byte(val)).Unmap()
				default:
					return nil
				}
				if typ == ctaIPv4Src || typ == ctaIPv6Src {
					src = a
				} else {
					dst = a
				}
				return nil
			})
		case ctaTupleProto:
			return attrs(val, func(typ uint16, val []byte) error {
				switch {
				case typ == ctaProtoNum && len(val) >= 1:
					proto = val[0]
				case typ == ctaProtoSrc && len(val) >= 2:
					sport = be16(val)
				case typ == ctaProtoDst && len(val) >= 2:
					dport = be16(val)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return Tuple{}, 0, err
	}
	if !src.IsValid() || !dst.IsValid() {
		return Tuple{}, 0, errors.New("a tuple without addresses")
	}
	return Tuple{netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)}, proto, nil
}
