package scan

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/scan/procfs"
)

// ProcSource reads net/{tcp,tcp6,udp,udp6} under a proc root (/proc, a
// fixture tree, or /proc/<pid> for another network namespace). It is the
// fallback where netlink sock_diag is refused (some containers), and the
// source for fixture trees. It has no byte counters, and IPV6_V6ONLY only
// as the system default (procfs.FS.BindV6Only).
//
// It reads the same files as github.com/cakturk/go-netstat but not through
// it: that package hard-codes /proc, hides the socket inode, and finds owners
// with a loop over every socket for every fd. Owners are found by Owners.
type ProcSource struct{ Root string }

// Name implements SocketSource.
func (ProcSource) Name() string { return string(SourceProc) }

// Sockets implements SocketSource. tcp6 and udp6 are read too: IPv4
// connections accepted by a dual-stack listener only appear there.
func (p ProcSource) Sockets(ctx context.Context) ([]Socket, error) {
	fs := procfs.FS{Root: p.Root}
	v6only := fs.BindV6Only()
	var out []Socket
	for _, f := range []struct {
		read   func() ([]procfs.Socket, error)
		proto  string
		family uint8
	}{
		{fs.NetTCP, "tcp", unix.AF_INET}, {fs.NetTCP6, "tcp", unix.AF_INET6},
		{fs.NetUDP, "udp", unix.AF_INET}, {fs.NetUDP6, "udp", unix.AF_INET6},
	} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rows, err := f.read()
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out = append(out, Socket{
				Protocol: f.proto, Family: f.family, V6Only: f.family == unix.AF_INET6 && v6only,
				State: r.State, Local: r.Local, Remote: r.Remote, Inode: r.Inode, UID: r.UID,
			})
		}
	}
	return out, nil
}
