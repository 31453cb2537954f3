package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ProcSource reads /proc/net/{tcp,tcp6,udp,udp6} under a proc root. It is the
// fallback where netlink sock_diag is refused (some containers), and the
// source for fixture trees. It has no byte counters.
//
// It reads the same files as github.com/cakturk/go-netstat but not through
// it: that package hard-codes /proc, hides the socket inode, and finds owners
// with a loop over every socket for every fd. Owners are found by Owners.
type ProcSource struct{ Root string }

// Name implements SocketSource.
func (ProcSource) Name() string { return "proc" }

// Sockets implements SocketSource. tcp6 and udp6 are read too: IPv4
// connections accepted by a dual-stack listener only appear there.
func (p ProcSource) Sockets(ctx context.Context) ([]Socket, error) {
	var out []Socket
	v6only := bindV6Only(p.Root)
	for _, f := range []struct{ file, proto string }{
		{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"},
	} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(p.Root, "net", f.file)
		fh, err := os.Open(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && (f.file == "tcp6" || f.file == "udp6") {
				continue // kernel without IPv6
			}
			return nil, err
		}
		socks, err := ParseProcNet(fh, f.proto)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		family := uint8(unix.AF_INET)
		if strings.HasSuffix(f.file, "6") {
			family = unix.AF_INET6
		}
		for i := range socks {
			socks[i].Family = family
			socks[i].V6Only = family == unix.AF_INET6 && v6only
		}
		out = append(out, socks...)
	}
	return out, nil
}

// ParseProcNet parses one /proc/net/{tcp,tcp6,udp,udp6} table.
func ParseProcNet(r io.Reader, proto string) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 64<<10)
	var out []Socket
	line := 0
	var fields [][]byte
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		fields = splitFields(sc.Bytes(), fields[:0])
		if len(fields) == 0 {
			continue
		}
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		if len(fields) < 10 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 10", line, len(fields))
		}
		local, err := parseHexAddrPort(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: local address: %w", line, err)
		}
		remote, err := parseHexAddrPort(fields[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: remote address: %w", line, err)
		}
		st, err := strconv.ParseUint(string(fields[3]), 16, 8)
		if err != nil {
			return nil, fmt.Errorf("line %d: state %q: %w", line, fields[3], err)
		}
		uid, err := strconv.ParseUint(string(fields[7]), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: uid %q: %w", line, fields[7], err)
		}
		inode, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: inode %q: %w", line, fields[9], err)
		}
		out = append(out, Socket{
			Protocol: proto, State: uint8(st), Local: local, Remote: remote,
			Inode: inode, UID: uint32(uid),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

func splitFields(b []byte, dst [][]byte) [][]byte {
	for {
		b = bytes.TrimLeft(b, " \t")
		if len(b) == 0 {
			return dst
		}
		i := bytes.IndexAny(b, " \t")
		if i < 0 {
			return append(dst, b)
		}
		dst = append(dst, b[:i])
		b = b[i:]
	}
}

// parseHexAddrPort decodes the kernel's "0100007F:0016" form: the address is
// the in-memory bytes of the network-order address printed as 32-bit
// host-order words (so each word is byte-swapped on little-endian hosts).
func parseHexAddrPort(s []byte) (netip.AddrPort, error) {
	i := bytes.IndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: no port", s)
	}
	hexAddr, hexPort := s[:i], s[i+1:]
	port, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %w", s, err)
	}
	addr, err := parseHexAddr(hexAddr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", s, err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// parseHexAddr decodes the address half of the kernel's hex form (see
// parseHexAddrPort); an IPv4-mapped IPv6 address is unmapped.
func parseHexAddr(hexAddr []byte) (netip.Addr, error) {
	var raw [16]byte
	n := len(hexAddr) / 2
	if (n != 4 && n != 16) || len(hexAddr)%2 != 0 {
		return netip.Addr{}, errors.New("address is neither IPv4 nor IPv6")
	}
	if _, err := hex.Decode(raw[:n], hexAddr); err != nil {
		return netip.Addr{}, err
	}
	for w := 0; w < n; w += 4 {
		binary.NativeEndian.PutUint32(raw[w:], binary.BigEndian.Uint32(raw[w:]))
	}
	if n == 4 {
		return netip.AddrFrom4([4]byte(raw[:4])), nil
	}
	return netip.AddrFrom16(raw).Unmap(), nil
}
