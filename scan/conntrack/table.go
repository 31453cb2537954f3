// Package conntrack reads the kernel's connection-tracking table (netfilter
// conntrack) and turns the flows the socket table cannot show into
// dependency records: ports published by a DNAT to a container or to
// another host, the actual destination behind an address the client dialled,
// masqueraded flows of the host's containers, unconnected UDP clients and
// TCP connections that closed recently.
//
// The table is read from /proc/net/nf_conntrack, one streaming pass. That
// file needs only read permission (root's, or CAP_DAC_READ_SEARCH), where
// a netlink dump needs CAP_NET_ADMIN, the capability that also rewrites
// firewall rules; and the netlink libraries collect a whole dump in memory
// before returning it, which for a million flows is several hundred MiB.
package conntrack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/snapshot"
)

// Tuple is one direction of a flow as conntrack records it.
type Tuple struct {
	Src, Dst netip.AddrPort
}

// Flow is one conntrack entry. Orig is the tuple of the first packet as it
// arrived (before any NAT); Reply is the tuple the answer is expected to
// carry (after NAT): Reply.Src differs from Orig.Dst under a DNAT, Reply.Dst
// from Orig.Src under a SNAT or MASQUERADE.
type Flow struct {
	Proto string // "tcp" or "udp"; other protocols are skipped by Parse
	Orig  Tuple
	Reply Tuple
	// State is conntrack's TCP state (ESTABLISHED, TIME_WAIT, CLOSE...);
	// empty for UDP.
	State     string
	Unreplied bool // no packet has come back yet
	Assured   bool // traffic seen both ways; kept under table pressure
	// Byte counters, present only when nf_conntrack_acct was on when the
	// flow began: IP-level bytes in the original and in the reply direction.
	OrigBytes, ReplyBytes uint64
	HasBytes              bool
}

// Ended reports whether a TCP flow has closed: conntrack keeps it for its
// state's timeout (TIME_WAIT 120 s, CLOSE 10 s by default) after the sockets
// are gone.
func (f *Flow) Ended() bool {
	switch f.State {
	case "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE":
		return true
	}
	return false
}

// Limits bound one read of the table.
type Limits struct {
	// MaxEntries stops the read after this many lines (default 4,000,000,
	// above any nf_conntrack_max a host is likely to set); the result says
	// it was cut short.
	MaxEntries int
	// MaxLine is the longest line accepted (default 1024 bytes; a real
	// line is about 300).
	MaxLine int
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 4_000_000
	}
	if l.MaxLine <= 0 {
		l.MaxLine = 1024
	}
	return l
}

// ReadStats says what one read of the table saw.
type ReadStats struct {
	Entries   int  // lines read
	Skipped   int  // entries of protocols other than TCP and UDP
	Truncated bool // MaxEntries was reached
	HasBytes  bool // some flow carried byte counters
}

// ParseError is a line of the table that is not a conntrack entry.
type ParseError struct {
	Name string // the file read
	Line int    // 1-based
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s: line %d: %v", e.Name, e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads the text form of the table (/proc/net/nf_conntrack: one
// entry per line, "ipv4 2 tcp 6 431999 ESTABLISHED src=... dst=... sport=
// ... dport=... src=... ..."), calling fn with each TCP or UDP flow. The
// Flow passed to fn is reused: fn must copy what it keeps. name is used in
// errors. It stops at ctx's end, at fn's first error, at a malformed line
// (a *ParseError) and after lim.MaxEntries lines.
func Parse(ctx context.Context, r io.Reader, name string, lim Limits, fn func(*Flow) error) (ReadStats, error) {
	lim = lim.withDefaults()
	var st ReadStats
	sc := bufio.NewScanner(r)
	// The scanner's buffer is its line limit; callers reading a file put
	// a large bufio.Reader under it (Scan does) to keep reads few.
	sc.Buffer(make([]byte, 0, lim.MaxLine), lim.MaxLine)
	var f Flow
	for sc.Scan() {
		if st.Entries >= lim.MaxEntries {
			st.Truncated = true
			return st, nil
		}
		st.Entries++
		if st.Entries&0xfff == 0 && ctx.Err() != nil {
			return st, context.Cause(ctx)
		}
		ok, err := parseLine(sc.Bytes(), &f)
		if err != nil {
			return st, &ParseError{Name: name, Line: st.Entries, Err: err}
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
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return st, &ParseError{Name: name, Line: st.Entries + 1, Err: fmt.Errorf("longer than %d bytes", lim.MaxLine)}
		}
		return st, fmt.Errorf("%s: %w", name, err)
	}
	return st, ctx.Err()
}

// parseLine fills f from one line. It returns false, without error, for a
// well-formed entry of a protocol other than TCP or UDP.
func parseLine(line []byte, f *Flow) (bool, error) {
	*f = Flow{}
	var fields [8][]byte // family, family number, proto, proto number, timeout, state?
	n := 0
	rest := line
	for n < 5 {
		var tok []byte
		tok, rest = nextField(rest)
		if tok == nil {
			return false, errors.New("fewer than 5 leading fields")
		}
		fields[n] = tok
		n++
	}
	switch string(fields[2]) {
	case "tcp":
		f.Proto = "tcp"
	case "udp":
		f.Proto = "udp"
	default:
		return false, nil
	}
	fam := string(fields[0])
	if fam != "ipv4" && fam != "ipv6" {
		return false, fmt.Errorf("family %q: want ipv4 or ipv6", fields[0])
	}
	tuple := 0 // tuples begun: 1 after the first src=, 2 after the second
	var t [2]struct {
		src, dst           netip.Addr
		sport, dport       uint16
		hasSport, hasDport bool
	}
	for {
		var tok []byte
		tok, rest = nextField(rest)
		if tok == nil {
			break
		}
		if tok[0] == '[' {
			switch string(tok) {
			case "[UNREPLIED]":
				f.Unreplied = true
			case "[ASSURED]":
				f.Assured = true
			}
			continue
		}
		eq := bytes.IndexByte(tok, '=')
		if eq < 0 {
			if f.Proto == "tcp" && tuple == 0 && f.State == "" {
				f.State = stateName(tok)
				continue
			}
			return false, fmt.Errorf("unexpected field %q", tok)
		}
		key, val := tok[:eq], tok[eq+1:]
		switch string(key) {
		case "src":
			if tuple == 2 {
				return false, errors.New("a third tuple")
			}
			tuple++
			a, err := parseAddr(val)
			if err != nil {
				return false, fmt.Errorf("src=%s: %w", val, err)
			}
			t[tuple-1].src = a
		case "dst", "sport", "dport", "packets", "bytes":
			if tuple == 0 {
				return false, fmt.Errorf("%s= before src=", key)
			}
			x := &t[tuple-1]
			switch string(key) {
			case "dst":
				a, err := parseAddr(val)
				if err != nil {
					return false, fmt.Errorf("dst=%s: %w", val, err)
				}
				x.dst = a
			case "sport", "dport":
				p, ok := parseUint(val)
				if !ok || p > 65535 {
					return false, fmt.Errorf("%s=%s: not a port", key, val)
				}
				if key[0] == 's' {
					x.sport, x.hasSport = uint16(p), true
				} else {
					x.dport, x.hasDport = uint16(p), true
				}
			case "bytes":
				b, ok := parseUint(val)
				if !ok {
					return false, fmt.Errorf("bytes=%s: not a count", val)
				}
				f.HasBytes = true
				if tuple == 1 {
					f.OrigBytes = b
				} else {
					f.ReplyBytes = b
				}
			}
		}
	}
	for i := range t {
		x := &t[i]
		if !x.src.IsValid() || !x.dst.IsValid() || !x.hasSport || !x.hasDport {
			return false, fmt.Errorf("tuple %d incomplete (want src=, dst=, sport=, dport=)", i+1)
		}
	}
	f.Orig = Tuple{netip.AddrPortFrom(t[0].src, t[0].sport), netip.AddrPortFrom(t[0].dst, t[0].dport)}
	f.Reply = Tuple{netip.AddrPortFrom(t[1].src, t[1].sport), netip.AddrPortFrom(t[1].dst, t[1].dport)}
	return true, nil
}

// nextField splits off the next space-separated field; nil at the end.
func nextField(b []byte) (tok, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	if len(b) == 0 {
		return nil, nil
	}
	if j := bytes.IndexByte(b, ' '); j >= 0 {
		return b[:j], b[j:]
	}
	return b, nil
}

// tcpStates interns conntrack's TCP state names, so parsing allocates none.
var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

func stateName(b []byte) string {
	for _, s := range tcpStates {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseAddr parses an address without allocating for IPv4. The kernel
// writes IPv6 in full (fd00:0250:0001:0000:...), which netip accepts.
func parseAddr(b []byte) (netip.Addr, error) {
	if bytes.IndexByte(b, ':') >= 0 {
		a, err := netip.ParseAddr(string(b))
		if err != nil {
			return netip.Addr{}, err
		}
		return a.Unmap(), nil
	}
	var ip [4]byte
	part, digits := 0, 0
	v := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && v == 0 {
				return netip.Addr{}, errors.New("leading zero")
			}
			v = v*10 + int(c-'0')
			digits++
			if v > 255 {
				return netip.Addr{}, errors.New("octet above 255")
			}
		case c == '.' && digits > 0 && part < 3:
			ip[part] = byte(v)
			part++
			v, digits = 0, 0
		default:
			return netip.Addr{}, errors.New("not an IP address")
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, errors.New("not an IP address")
	}
	ip[3] = byte(v)
	return netip.AddrFrom4(ip), nil
}

// ErrNoTable is wrapped by Scan's error when the host has no table to read:
// the nf_conntrack module is not loaded (or was built without its /proc
// file).
var ErrNoTable = errors.New("no connection-tracking table (nf_conntrack not loaded)")

// Path is where the table of the network namespace of a process whose
// /proc is procRoot lives.
func Path(procRoot string) string { return filepath.Join(procRoot, "net", "nf_conntrack") }

// Scan reads the table at path (the /proc text form) once and folds its
// flows into h's records. It returns the amended connections and the
// summary for the snapshot; on an error the caller keeps h.Connections: the
// table is an optional source.
func Scan(ctx context.Context, path string, h Host, lim Limits) ([]snapshot.Connection, *snapshot.Conntrack, error) {
	// O_NONBLOCK: a FIFO planted at path must not hang the open; Stat
	// then refuses anything but a regular file (procfs files are).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: %w", path, ErrNoTable)
		}
		return nil, nil, err // *fs.PathError names the file
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	return fold(path, h, func(fn func(*Flow) error) (ReadStats, error) {
		return Parse(ctx, bufio.NewReaderSize(f, 256<<10), path, lim, fn)
	})
}

// ScanNetlink is Scan reading the calling thread's network namespace's
// table through a ctnetlink dump (see Dump): it needs CAP_NET_ADMIN, and
// the kernel writes each entry several times faster than as text.
//
// A table the kernel counts empty (nf_conntrack_count) is not dumped: the
// dump walks every bucket of the hash (262,144 on a machine of a few GiB,
// some 6 ms) to find nothing. That shortcut is taken only with
// CAP_NET_ADMIN, so that without it the dump's refusal is still the answer.
func ScanNetlink(ctx context.Context, h Host, lim Limits) ([]snapshot.Connection, *snapshot.Conntrack, error) {
	return fold(NetlinkSource, h, func(fn func(*Flow) error) (ReadStats, error) {
		if countedEmpty() && netAdmin() {
			return ReadStats{}, nil
		}
		return Dump(ctx, lim, fn)
	})
}

// countPath holds the number of entries of the calling thread's network
// namespace's table.
const countPath = "/proc/sys/net/netfilter/nf_conntrack_count"

// countedEmpty reports whether the kernel counts no entry in the table
// (false when the count cannot be read).
func countedEmpty() bool {
	b, err := os.ReadFile(countPath)
	return err == nil && string(bytes.TrimSpace(b)) == "0"
}

// netAdmin reports whether the calling thread has CAP_NET_ADMIN in its
// effective set, which a ctnetlink dump needs.
func netAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
}

func fold(source string, h Host, read func(func(*Flow) error) (ReadStats, error)) ([]snapshot.Connection, *snapshot.Conntrack, error) {
	m := NewMerger(h)
	rs, err := read(func(fl *Flow) error { m.Add(fl); return nil })
	if err != nil {
		return nil, nil, err
	}
	conns, st := m.Result()
	return conns, &snapshot.Conntrack{
		Source:            source,
		Entries:           rs.Entries,
		FlowsAdded:        st.Added,
		EndedFlows:        st.Ended,
		SocketsRedirected: st.Annotated,
		Shown:             st.Shown,
		Unanswered:        st.Unanswered,
		Foreign:           st.Foreign,
		Dropped:           st.Dropped,
		Truncated:         rs.Truncated,
		ByteCounters:      rs.HasBytes,
	}, nil
}
