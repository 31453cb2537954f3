package scan

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/scan/procfs"
)

// NetlinkSource dumps the sockets of the caller's network namespace
// through the kernel's sock_diag netlink interface, the way ss does: one
// walk of the TCP table for both families (the inet_diag compat request)
// with tcp_info, so it carries byte counters and IPV6_V6ONLY, and one UDP
// dump per family (see diagSockets).
type NetlinkSource struct{}

// Name implements SocketSource.
func (NetlinkSource) Name() string { return string(SourceNetlink) }

// Sockets implements SocketSource.
func (NetlinkSource) Sockets(ctx context.Context) ([]Socket, error) {
	fd, err := openDiag()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// The socket counters of this thread's network namespace size the
	// table.
	return diagSockets(ctx, fd, procfs.FS{Root: "/proc/thread-self"}.SocketCount())
}
