package scan

import (
	"net/netip"
	"runtime"
	"slices"

	"github.com/planetdeps/planet/scan/procfs"
)

// ProcFS is the scan's view of a proc root (/proc, or a fixture tree in
// tests): what it makes of several /proc files together, such as the
// owners of sockets. Package procfs reads the files.
type ProcFS struct{ Root string }

func (p ProcFS) fs() procfs.FS { return procfs.FS{Root: p.Root} }

// Process is a socket's owner.
type Process struct {
	PID  int
	Name string // /proc/<pid>/comm: the kernel's name, at most 15 bytes
	// Others are the other processes holding the same socket, by PID: the
	// workers of a pre-fork server, or the daemon a service manager handed
	// a listening socket to (systemd socket activation).
	Others []Process
}

// Holders returns every process holding the socket, p first.
func (p Process) Holders() []Process {
	if len(p.Others) == 0 {
		return []Process{p}
	}
	out := make([]Process, 0, 1+len(p.Others))
	out = append(out, Process{PID: p.PID, Name: p.Name})
	return append(out, p.Others...)
}

// isManager tells a service manager that keeps a socket it handed to a
// daemon: PID 1, or a systemd (the per-user manager runs as "systemd" too).
func isManager(p Process) bool { return p.PID == 1 || p.Name == "systemd" }

// Owners maps each wanted socket inode to the processes holding it, in one
// pass over /proc/*/fd. Processes that vanish mid-pass, and fd directories
// we may not read (other users' processes when not root), are skipped: the
// inodes they hold stay unowned. A socket several processes hold is owned
// by the first holder that is not a service manager (isManager), by PID,
// the others listed in Process.Others; Classify may still name a shared
// listener after another holder (the one serving its connections). Every
// process is read, since a shared socket's holders may be anywhere.
func (p ProcFS) Owners(want map[uint64]struct{}) (map[uint64]Process, error) {
	owners := make(map[uint64]Process, len(want))
	if len(want) == 0 {
		return owners, nil
	}
	pids, err := p.fs().PIDs()
	if err != nil {
		return nil, err
	}
	// The fd links are read on every CPU (procfs.FS.SocketInodes), and
	// the name of a process holding a wanted socket right after its links;
	// the owners are then picked in PID order, as before.
	held, names := p.fs().SocketInodes(pids, runtime.GOMAXPROCS(0), func(inode uint64) bool {
		_, ok := want[inode]
		return ok
	})
	shared := map[uint64][]Process{} // later holders of a socket, rare
	for i, pid := range pids {
		ownersOf(Process{PID: pid, Name: names[i]}, held[i], want, owners, shared)
	}
	for inode, later := range shared {
		owners[inode] = ownerOf(append([]Process{owners[inode]}, later...))
	}
	return owners, nil
}

// ownerOf picks the owner among a socket's holders (ascending PID): the
// first that is not a service manager, else the first.
func ownerOf(hs []Process) Process {
	i := slices.IndexFunc(hs, func(p Process) bool { return !isManager(p) })
	if i < 0 {
		i = 0
	}
	o := hs[i]
	if len(hs) > 1 {
		o.Others = slices.Concat(hs[:i:i], hs[i+1:])
	}
	return o
}

// ownersOf records the wanted sockets among inodes, the sockets process
// pr holds: as their owner when it is the first holder (PIDs come in
// ascending order), else in shared.
func ownersOf(pr Process, inodes []uint64, want map[uint64]struct{}, owners map[uint64]Process, shared map[uint64][]Process) {
	pid := pr.PID
	for _, inode := range inodes {
		if _, wanted := want[inode]; !wanted {
			continue
		}
		first, taken := owners[inode]
		if taken && first.PID == pid {
			continue // the same socket on two fds of one process
		}
		if later := shared[inode]; len(later) > 0 && later[len(later)-1].PID == pid {
			continue
		}
		if !taken {
			owners[inode] = pr
		} else {
			shared[inode] = append(shared[inode], pr)
		}
	}
}

// Addresses lists the host's own IP addresses (in its network namespace),
// sorted: IPv4 from the LOCAL /32 entries of net/fib_trie, IPv6 from
// net/if_inet6.
func (p ProcFS) Addresses() ([]netip.Addr, error) {
	v4, err := p.fs().FibTrieLocal()
	if err != nil {
		return nil, err
	}
	v6, err := p.fs().IfInet6()
	if err != nil {
		return nil, err
	}
	all := append(v4, v6...)
	slices.SortFunc(all, netip.Addr.Compare)
	return slices.Compact(all), nil
}
