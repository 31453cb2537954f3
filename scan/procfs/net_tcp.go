package procfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
)

// Socket is one row of net/tcp, tcp6, udp or udp6 (the format of
// net/ipv4/tcp_ipv4.c get_tcp4_sock and its siblings). The files have no
// byte counters and no per-socket IPV6_V6ONLY.
type Socket struct {
	Local  netip.AddrPort // IPv4-mapped IPv6 already unmapped
	Remote netip.AddrPort
	// State is the kernel's socket state number (include/net/tcp_states.h);
	// UDP reports ESTABLISHED when connected and CLOSE when not.
	State uint8
	UID   uint32
	Inode uint64 // 0 for sockets no process holds (TIME_WAIT)
}

// NetTCP reads net/tcp, the IPv4 TCP sockets of the root's network
// namespace.
func (p FS) NetTCP() ([]Socket, error) { return p.netSockets("tcp", false) }

// NetTCP6 reads net/tcp6, the IPv6 TCP sockets (IPv4 connections accepted
// by a dual-stack listener among them, unmapped). A kernel without IPv6
// has no such file: nil, no error.
func (p FS) NetTCP6() ([]Socket, error) { return p.netSockets("tcp6", true) }

// netSockets reads one net/{tcp,tcp6,udp,udp6} file; optional files may
// be missing. A parse error names the file and line.
func (p FS) netSockets(file string, optional bool) ([]Socket, error) {
	path := p.Path("net", file)
	f, err := os.Open(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	socks, err := ParseNetSockets(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return socks, nil
}

// ParseNetSockets parses one net/{tcp,tcp6,udp,udp6} table: a header line,
// then "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..." per
// socket, addresses in the kernel's hex form (see parseHexAddrPort). An
// error names the line.
func ParseNetSockets(r io.Reader) ([]Socket, error) {
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
		out = append(out, Socket{State: uint8(st), Local: local, Remote: remote, Inode: inode, UID: uint32(uid)})
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
