package sockdiag

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first descriptor a service manager passes
// (sd_listen_fds(3)).
const listenFDsStart = 3

// destroyGroups is the nl_groups mask of the two TCP destroy groups.
const destroyGroups = 1<<(unix.SKNLGRP_INET_TCP_DESTROY-1) | 1<<(unix.SKNLGRP_INET6_TCP_DESTROY-1)

// Inherited returns the destroy-event subscription a service manager passed
// to this process, or nil when there is none.
//
// systemd's socket units can hold one between runs (ListenNetlink=inet-diag
// 5: NETLINK_SOCK_DIAG bound to groups 1 and 3, the IPv4 and IPv6 TCP
// destroy groups), so that the events of sockets that end while no run is
// reading queue in its buffer instead of being lost. The descriptors are
// those of sd_listen_fds(3): LISTEN_PID is this process, LISTEN_FDS of them
// from 3; the first that is a NETLINK_SOCK_DIAG socket bound to both
// destroy groups is taken. It is the namespace of the service manager
// (the host's).
func Inherited() *Events {
	if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err != nil || pid != os.Getpid() {
		return nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil {
		return nil
	}
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || dom != unix.AF_NETLINK {
			continue
		}
		if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || p != unix.NETLINK_SOCK_DIAG {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if nl, ok := sa.(*unix.SockaddrNetlink); err != nil || !ok || nl.Groups&destroyGroups != destroyGroups {
			continue
		}
		unix.CloseOnExec(fd)
		return &Events{fd: fd, batch: newBatch()}
	}
	return nil
}
