package procfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The /proc parsers read files the kernel writes, but a scan also reads
// fixture trees (--proc-root) and, in containers, whatever procfs the
// runtime mounts. They must reject garbage with an error, never panic, and
// never return an address the input did not hold. Seed corpora live under
// testdata/fuzz/<Target>/: real files from a Linux host, the fixture tree,
// and hand-made nasty cases.

// FuzzParseProcNet: every socket returned has valid, zone-less, unmapped
// addresses, and rendering the result back in the kernel's format and
// parsing it again gives the same sockets.
func FuzzParseProcNet(f *testing.F) {
	f.Add([]byte(procNetHeader + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseNetSockets(bytes.NewReader(data))
		if err != nil {
			if got != nil {
				t.Fatalf("returned %d sockets and an error: %v", len(got), err)
			}
			return
		}
		if max := dataLines(data); len(got) > max {
			t.Fatalf("%d sockets from %d data lines", len(got), max)
		}
		for i, s := range got {
			checkSocketAddr(t, i, "local", s.Local)
			checkSocketAddr(t, i, "remote", s.Remote)
		}
		again, err := ParseNetSockets(strings.NewReader(renderProcNet(got)))
		if err != nil {
			t.Fatalf("re-parsing the rendered table: %v\n%s", err, renderProcNet(got))
		}
		if len(got) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip changed the sockets:\n got   %+v\n again %+v", got, again)
		}
	})
}

func checkSocketAddr(t *testing.T, i int, which string, ap netip.AddrPort) {
	t.Helper()
	a := ap.Addr()
	switch {
	case !a.IsValid():
		t.Fatalf("socket %d: %s address invalid", i, which)
	case a.Is4In6():
		t.Fatalf("socket %d: %s address %s is IPv4-mapped", i, which, a)
	case a.Zone() != "":
		t.Fatalf("socket %d: %s address %s has a zone", i, which, a)
	}
}

// dataLines counts the lines after the header that hold anything: the most
// sockets a table can yield.
func dataLines(data []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	n := 0
	for i := 0; sc.Scan(); i++ {
		if i > 0 && len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	return n
}

const procNetHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// renderProcNet writes sockets the way net/ipv4/tcp_ipv4.c (get_tcp4_sock)
// and net/ipv6/tcp_ipv6.c (get_tcp6_sock) do.
func renderProcNet(socks []Socket) string {
	var b strings.Builder
	b.WriteString(procNetHeader)
	for i, s := range socks {
		fmt.Fprintf(&b, "%4d: %s:%04X %s:%04X %02X %08X:%08X %02X:%08X %08X %5d %8d %d 1 0000000000000000 100 0 0 10 0\n",
			i, kernelHexAddr(s.Local.Addr()), s.Local.Port(), kernelHexAddr(s.Remote.Addr()), s.Remote.Port(),
			s.State, 0, 0, 0, 0, 0, s.UID, 0, s.Inode)
	}
	return b.String()
}

// kernelHexAddr prints an address as the kernel does: the network-order
// bytes read as native 32-bit words, each printed %08X.
func kernelHexAddr(a netip.Addr) string {
	var raw []byte
	if a.Is4() {
		b := a.As4()
		raw = b[:]
	} else {
		b := a.As16()
		raw = b[:]
	}
	var s strings.Builder
	for w := 0; w < len(raw); w += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(raw[w:]))
	}
	return s.String()
}

// FuzzParseFibTrieLocal: every address returned is IPv4, appears in the
// input as a "|-- " leaf, and is followed by a "/32 ... LOCAL" line before the
// next leaf; the result is sorted without duplicates.
func FuzzParseFibTrieLocal(f *testing.F) {
	f.Add([]byte("Local:\n  |-- 10.1.0.5\n     /32 host LOCAL\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseFibTrieLocal(bytes.NewReader(data))
		if err != nil {
			if got != nil {
				t.Fatalf("returned %v and an error: %v", got, err)
			}
			return
		}
		if !slices.IsSortedFunc(got, netip.Addr.Compare) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("not sorted and unique: %v", got)
		}
		local := localLeaves(data)
		for _, a := range got {
			if !a.Is4() {
				t.Fatalf("%s is not IPv4: fib_trie is the IPv4 table", a)
			}
			if !local[a] {
				t.Fatalf("%s is not a \"|-- \" leaf followed by a /32 LOCAL line in the input", a)
			}
		}
	})
}

// localLeaves is a reference reader for fib_trie, written differently from
// the parser (strings, not a state machine over bytes): the leaves with a
// "/32 ... LOCAL" line under them.
func localLeaves(data []byte) map[netip.Addr]bool {
	out := make(map[netip.Addr]bool)
	var leaf string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "|-- "); ok {
			leaf = rest
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "/32" && f[len(f)-1] == "LOCAL" {
			if a, err := netip.ParseAddr(leaf); err == nil {
				out[a] = true
			}
		}
	}
	return out
}

// FuzzParseIfInet6: one address per non-blank line, each the hex of the
// line's first field, and rendering the result as if_inet6 lines parses back
// to the same addresses.
func FuzzParseIfInet6(f *testing.F) {
	f.Add([]byte("00000000000000000000000000000001 01 80 10 80       lo\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseIfInet6(bytes.NewReader(data))
		if err != nil {
			if got != nil {
				t.Fatalf("returned %v and an error: %v", got, err)
			}
			return
		}
		var firsts []string
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				firsts = append(firsts, f[0])
			}
		}
		if len(got) != len(firsts) {
			t.Fatalf("%d addresses from %d lines", len(got), len(firsts))
		}
		var b strings.Builder
		for i, a := range got {
			if !a.Is6() || a.Zone() != "" {
				t.Fatalf("address %d: %s is not a zone-less IPv6 address", i, a)
			}
			raw := a.As16()
			if h := hex.EncodeToString(raw[:]); h != strings.ToLower(firsts[i]) {
				t.Fatalf("address %d: %s (%s) from field %q", i, a, h, firsts[i])
			}
			fmt.Fprintf(&b, "%s %02x %02x %02x %02x %8s\n", hex.EncodeToString(raw[:]), i+1, 64, 0, 0x80, "eth0")
		}
		again, err := ParseIfInet6(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if len(got) > 0 && !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip: %v, then %v", got, again)
		}
	})
}

// FuzzParsePortRange: a range accepted is 1 <= lo <= hi, made of exactly the
// two decimal numbers in the input, and its canonical form parses back.
func FuzzParsePortRange(f *testing.F) {
	f.Add("32768\t60999\n")
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParsePortRange(s)
		if err != nil {
			if lo != 0 || hi != 0 {
				t.Fatalf("%q: %d, %d with error %v", s, lo, hi, err)
			}
			if !strings.Contains(err.Error(), "port") {
				t.Fatalf("%q: error %q does not say what it wanted", s, err)
			}
			return
		}
		if lo == 0 || lo > hi {
			t.Fatalf("%q: accepted %d-%d", s, lo, hi)
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			t.Fatalf("%q: accepted with %d fields", s, len(f))
		}
		for i, want := range []uint16{lo, hi} {
			n, err := strconv.ParseUint(f[i], 10, 16)
			if err != nil || uint16(n) != want {
				t.Fatalf("%q: field %d is %q, parsed as %d", s, i, f[i], want)
			}
		}
		lo2, hi2, err := ParsePortRange(fmt.Sprintf("%d\t%d\n", lo, hi))
		if err != nil || lo2 != lo || hi2 != hi {
			t.Fatalf("%q: canonical form gave %d, %d, %v", s, lo2, hi2, err)
		}
	})
}
