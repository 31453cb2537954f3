package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
)

// FibTrieLocal lists the IPv4 addresses configured in the root's network
// namespace, from net/fib_trie (ParseFibTrieLocal). A missing file is an
// error: every kernel with IPv4 has it.
func (p FS) FibTrieLocal() ([]netip.Addr, error) {
	f, err := os.Open(p.Path("net", "fib_trie"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := ParseFibTrieLocal(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return out, nil
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
