package scan

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ProcFS reads the /proc files planet needs, under a configurable root so
// tests can point it at a fixture tree.
type ProcFS struct{ Root string }

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
	root, err := os.Open(p.Root)
	if err != nil {
		return nil, err
	}
	names, err := root.Readdirnames(-1)
	root.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Root, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	buf := make([]byte, 64)
	shared := map[uint64][]Process{} // later holders of a socket, rare
	for _, pid := range pids {
		p.ownersOf(pid, want, owners, shared, buf)
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

// ownersOf records the wanted sockets pid holds: as their owner when it is
// the first holder (PIDs come in ascending order), else in shared.
func (p ProcFS) ownersOf(pid int, want map[uint64]struct{}, owners map[uint64]Process, shared map[uint64][]Process, buf []byte) {
	dir := filepath.Join(p.Root, strconv.Itoa(pid), "fd")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	var name string
	named := false
	for {
		fds, err := f.Readdirnames(1024)
		for _, n := range fds {
			l, err := unix.Readlinkat(fd, n, buf)
			if err != nil || l >= len(buf) {
				continue
			}
			inode, ok := socketInode(buf[:l])
			if !ok {
				continue
			}
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
			if !named {
				name, named = p.Comm(pid), true
			}
			if !taken {
				owners[inode] = Process{PID: pid, Name: name}
			} else {
				shared[inode] = append(shared[inode], Process{PID: pid, Name: name})
			}
		}
		if err != nil || len(fds) == 0 {
			return
		}
	}
}

// socketInode parses a "socket:[12345]" fd link.
func socketInode(link []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(link) < len(prefix)+2 || string(link[:len(prefix)]) != prefix || link[len(link)-1] != ']' {
		return 0, false
	}
	var n uint64
	for _, c := range link[len(prefix) : len(link)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// Comm returns the process's command name, "" when it is gone. Spaces and
// other bytes are kept as they are: only the trailing newline is removed.
func (p ProcFS) Comm(pid int) string {
	b, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Hostname reads the kernel's hostname (the UTS namespace's, as seen by
// /proc/sys/kernel/hostname).
func (p ProcFS) Hostname() (string, error) {
	b, err := os.ReadFile(filepath.Join(p.Root, "sys", "kernel", "hostname"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// EphemeralRange reads net.ipv4.ip_local_port_range (used for IPv6 too).
func (p ProcFS) EphemeralRange() (lo, hi uint16, err error) {
	path := filepath.Join(p.Root, "sys", "net", "ipv4", "ip_local_port_range")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	lo, hi, err = ParsePortRange(string(b))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return lo, hi, nil
}

// ParsePortRange parses "32768\t60999".
func ParsePortRange(s string) (lo, hi uint16, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("want two port numbers, got %q", strings.TrimSpace(s))
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || l > h || l == 0 {
		return 0, 0, fmt.Errorf("bad port range %q", strings.TrimSpace(s))
	}
	return uint16(l), uint16(h), nil
}

// Addresses lists the host's own IP addresses (in its network namespace):
// IPv4 from the LOCAL /32 entries of net/fib_trie, IPv6 from net/if_inet6.
func (p ProcFS) Addresses() ([]netip.Addr, error) {
	var all []netip.Addr
	f, err := os.Open(filepath.Join(p.Root, "net", "fib_trie"))
	if err != nil {
		return nil, err
	}
	v4, err := ParseFibTrieLocal(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	all = append(all, v4...)
	if f, err := os.Open(filepath.Join(p.Root, "net", "if_inet6")); err == nil {
		v6, err := ParseIfInet6(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		all = append(all, v6...)
	}
	slices.SortFunc(all, netip.Addr.Compare)
	return slices.Compact(all), nil
}

// ParseFibTrieLocal returns the addresses that /proc/net/fib_trie lists as
// "/32 host LOCAL": the IPv4 addresses configured on this host.
func ParseFibTrieLocal(r io.Reader) ([]netip.Addr, error) {
	sc := bufio.NewScanner(r)
	var out []netip.Addr
	var leaf netip.Addr
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		switch {
		case bytes.HasPrefix(line, []byte("|-- ")):
			// fib_trie is the IPv4 table: an IPv6 "leaf" (with a zone, or
			// IPv4-mapped) is not a kernel's and must not become a host address.
			a, err := netip.ParseAddr(string(line[4:]))
			if err != nil || !a.Is4() {
				leaf = netip.Addr{}
				continue
			}
			leaf = a
		case bytes.HasPrefix(line, []byte("/32 ")) && bytes.HasSuffix(line, []byte(" LOCAL")):
			if leaf.IsValid() {
				out = append(out, leaf)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// ParseIfInet6 parses /proc/net/if_inet6: 32 hex digits of address, then
// ifindex, prefix length, scope, flags and interface name.
func ParseIfInet6(r io.Reader) ([]netip.Addr, error) {
	sc := bufio.NewScanner(r)
	var out []netip.Addr
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		a, err := ifInet6Addr(n, f[0])
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// ifInet6Addr decodes the address field of /proc/net/if_inet6's line n: 32
// hex digits, network byte order.
func ifInet6Addr(n int, field string) (netip.Addr, error) {
	var raw [16]byte
	if len(field) != 32 {
		return netip.Addr{}, fmt.Errorf("line %d: address %q is not 32 hex digits", n, field)
	}
	if _, err := hex.Decode(raw[:], []byte(field)); err != nil {
		return netip.Addr{}, fmt.Errorf("line %d: address %q: %w", n, field, err)
	}
	return netip.AddrFrom16(raw), nil
}
