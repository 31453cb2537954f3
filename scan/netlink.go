package scan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkSource dumps sockets through the kernel's sock_diag netlink
// interface, the way ss does. It sees tcp_info, so it carries byte counters.
// Handle, when set, is a netlink handle opened in another network
// namespace (netlink.NewHandleAt); nil dumps the caller's own.
type NetlinkSource struct{ Handle *netlink.Handle }

// Name implements SocketSource.
func (NetlinkSource) Name() string { return string(SourceNetlink) }

// Sockets implements SocketSource.
func (n NetlinkSource) Sockets(ctx context.Context) ([]Socket, error) {
	tcpDump, udpDump := netlink.SocketDiagTCPInfo, netlink.SocketDiagUDP
	if n.Handle != nil {
		tcpDump, udpDump = n.Handle.SocketDiagTCPInfo, n.Handle.SocketDiagUDP
	}
	var out []Socket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tcp, err := dumpRetry(func() ([]*netlink.InetDiagTCPInfoResp, error) { return tcpDump(family) })
		if err != nil {
			return nil, fmt.Errorf("netlink sock_diag tcp (family %d): %w", family, err)
		}
		out = slices.Grow(out, len(tcp))
		for _, r := range tcp {
			if r == nil || r.InetDiagMsg == nil {
				continue
			}
			s := fromDiag("tcp", r.InetDiagMsg)
			if r.TCPInfo != nil {
				s.BytesAcked, s.BytesReceived, s.HasBytes = r.TCPInfo.Bytes_acked, r.TCPInfo.Bytes_received, true
			}
			out = append(out, s)
		}
		udp, err := dumpRetry(func() ([]*netlink.Socket, error) { return udpDump(family) })
		if err != nil {
			return nil, fmt.Errorf("netlink sock_diag udp (family %d): %w", family, err)
		}
		out = slices.Grow(out, len(udp))
		for _, m := range udp {
			if m != nil {
				out = append(out, fromDiag("udp", m))
			}
		}
	}
	// IPV6_V6ONLY of the IPv6 listeners: which of them take IPv4 too.
	for _, p := range []struct {
		name  string
		proto uint8
	}{{"tcp", unix.IPPROTO_TCP}, {"udp", unix.IPPROTO_UDP}} {
		v6only, err := v6onlySockets(p.proto)
		if err != nil {
			return nil, fmt.Errorf("netlink sock_diag %s IPV6_V6ONLY: %w", p.name, err)
		}
		for i := range out {
			if s := &out[i]; s.Protocol == p.name && s.Family == unix.AF_INET6 && v6only[s.Inode] {
				s.V6Only = true
			}
		}
	}
	return out, nil
}

// dumpRetry repeats a dump the kernel reports as interrupted (the socket
// table changed under it). Three interrupted dumps in a row are an error:
// the auto source then falls back to /proc/net, with a warning, rather than
// report an inconsistent table as if it were whole.
func dumpRetry[R any](dump func() (R, error)) (R, error) {
	var res R
	var err error
	for range 3 {
		res, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return res, err
		}
	}
	var zero R
	return zero, err
}

func fromDiag(proto string, m *netlink.Socket) Socket {
	return Socket{
		Protocol: proto,
		Family:   m.Family,
		State:    m.State,
		Local:    netip.AddrPortFrom(ipAddr(m.ID.Source), m.ID.SourcePort),
		Remote:   netip.AddrPortFrom(ipAddr(m.ID.Destination), m.ID.DestinationPort),
		Inode:    uint64(m.INode),
		UID:      m.UID,
	}
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
