package scan

import (
	"context"
	"net/netip"

	"github.com/cakturk/go-netstat/netstat"
)

// Socket is one kernel socket as a source reports it, before classification.
type Socket struct {
	Protocol string // "tcp" or "udp"
	// Family is the socket's address family, unix.AF_INET or AF_INET6 (0:
	// not known). An IPv4 connection accepted by a dual-stack listener is
	// an AF_INET6 socket with IPv4-mapped addresses, shown here unmapped.
	Family uint8
	// V6Only is IPV6_V6ONLY on an AF_INET6 socket: it takes IPv6 only.
	// netlink reports it for listeners and unconnected UDP sockets; the
	// proc source can only give the system default (net.ipv6.bindv6only).
	V6Only bool
	// State is the kernel's socket state number (include/net/tcp_states.h);
	// UDP reports ESTABLISHED when connected and CLOSE when not.
	State  uint8
	Local  netip.AddrPort // IPv4-mapped IPv6 already unmapped
	Remote netip.AddrPort
	Inode  uint64 // 0 for sockets no process holds (TIME_WAIT)
	UID    uint32
	// Byte counters from tcp_info; HasBytes is false where the source has none.
	BytesAcked    uint64
	BytesReceived uint64
	HasBytes      bool
}

// Kernel socket states. go-netstat carries the same table (and its names,
// which the snapshot uses); the values are the kernel's, shared by netlink
// sock_diag and /proc/net/*.
const (
	stateEstablished = uint8(netstat.Established)
	stateSynSent     = uint8(netstat.SynSent)
	stateSynRecv     = uint8(netstat.SynRecv)
	stateFinWait1    = uint8(netstat.FinWait1)
	stateFinWait2    = uint8(netstat.FinWait2)
	stateTimeWait    = uint8(netstat.TimeWait)
	stateClose       = uint8(netstat.Close)
	stateCloseWait   = uint8(netstat.CloseWait)
	stateLastAck     = uint8(netstat.LastAck)
	stateListen      = uint8(netstat.Listen)
	stateClosing     = uint8(netstat.Closing)
)

// stateName is the conventional name of a TCP state (ESTABLISHED, TIME_WAIT...).
func stateName(s uint8) string {
	if s > stateClosing {
		return "UNKNOWN"
	}
	if s == stateClose {
		return "CLOSE" // go-netstat leaves this one blank
	}
	return netstat.SkState(s).String()
}

// SocketSource lists the TCP and UDP sockets, IPv4 and IPv6, of one
// network namespace: the one seam every socket source plugs into
// (NetlinkSource, ProcSource, the per-namespace netlink dump, a Fallback
// chaining two). The scan picks its sources by a SourceKind.
type SocketSource interface {
	// Name is how the snapshot records the read ("netlink", "proc", a
	// Fallback's "proc (netlink refused)"); a Fallback knows it only
	// after Sockets.
	Name() string
	// Sockets dumps the table. A cancelled ctx ends it with ctx's error.
	Sockets(ctx context.Context) ([]Socket, error)
}
