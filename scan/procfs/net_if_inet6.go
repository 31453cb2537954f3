package procfs

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// maxIfName is the longest interface name the kernel allows (IFNAMSIZ - 1).
const maxIfName = 15

// IfInet6 lists the addresses of net/if_inet6, the IPv6 addresses
// configured in the root's network namespace (ParseIfInet6). A host
// without IPv6 (no if_inet6) has none: nil, no error.
func (p FS) IfInet6() ([]netip.Addr, error) {
	return readIfInet6(p, ParseIfInet6)
}

// IfInet6LinkLocal lists the IPv6 link-local addresses (fe80::/10) of
// net/if_inet6, each with its interface as the zone ("fe80::2%eth1"), as
// ParseIfInet6LinkLocal does. A host without IPv6 has none: nil, no error.
func (p FS) IfInet6LinkLocal() ([]netip.Addr, error) {
	return readIfInet6(p, ParseIfInet6LinkLocal)
}

// IfInet6Entries reads every row of net/if_inet6 (ParseIfInet6Entries),
// at most maxRouteFile bytes of it. A missing file is an error.
func (p FS) IfInet6Entries() ([]IfAddr6, error) {
	f, err := os.Open(p.Path("net", "if_inet6"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := ParseIfInet6Entries(io.LimitReader(f, maxRouteFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return out, nil
}

// readIfInet6 parses net/if_inet6 with parse; a missing file gives nil.
func readIfInet6[T any](p FS, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(p.Path("net", "if_inet6"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return out, nil
}

// ParseIfInet6LinkLocal returns the link-local addresses of
// /proc/net/if_inet6 (32 hex digits of address, ifindex, prefix length,
// scope, flags, interface name), zoned with their interface name, sorted.
// A link-local line without a usable interface name is an error naming the
// line; other lines are only checked for their address.
func ParseIfInet6LinkLocal(r io.Reader) ([]netip.Addr, error) {
	var out []netip.Addr
	err := eachIfInet6(r, func(n int, f []string, a netip.Addr) error {
		if !a.IsLinkLocalUnicast() {
			return nil
		}
		if len(f) != 6 {
			return fmt.Errorf("line %d: want 6 fields (address, ifindex, prefix length, scope, flags, interface), got %d", n, len(f))
		}
		name := f[5]
		if len(name) > maxIfName || strings.ContainsAny(name, "%/") || !printableASCII(name) {
			return fmt.Errorf("line %d: interface name %q is not one the kernel gives", n, name)
		}
		out = append(out, a.WithZone(name))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ParseIfInet6 parses /proc/net/if_inet6: 32 hex digits of address, then
// ifindex, prefix length, scope, flags and interface name.
func ParseIfInet6(r io.Reader) ([]netip.Addr, error) {
	var out []netip.Addr
	err := eachIfInet6(r, func(_ int, _ []string, a netip.Addr) error {
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachIfInet6 calls fn with each non-blank line of /proc/net/if_inet6: its
// number (from 1), its fields and its decoded address. A bad address, a
// read error or fn's error ends it.
func eachIfInet6(r io.Reader, fn func(n int, fields []string, a netip.Addr) error) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		a, err := ifInet6Addr(n, f[0])
		if err != nil {
			return err
		}
		if err := fn(n, f, a); err != nil {
			return err
		}
	}
	return sc.Err()
}

// IfAddr6 is one row of /proc/net/if_inet6.
type IfAddr6 struct {
	Addr   netip.Addr
	Prefix int
	Scope  uint8 // 0x00 global, 0x20 link, 0x10 host
	Flags  uint8 // IFA_F_* bits
	Iface  string
}

// ParseIfInet6Entries parses /proc/net/if_inet6: 32 hex digits of address,
// then ifindex, prefix length, scope and flags in hex, and the interface.
func ParseIfInet6Entries(r io.Reader) ([]IfAddr6, error) {
	var out []IfAddr6
	err := eachIfInet6(r, func(n int, f []string, a netip.Addr) error {
		e := IfAddr6{Addr: a}
		if len(f) >= 6 {
			plen, err1 := strconv.ParseUint(f[2], 16, 8)
			scope, err2 := strconv.ParseUint(f[3], 16, 8)
			flags, err3 := strconv.ParseUint(f[4], 16, 8)
			if err := errors.Join(err1, err2, err3); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			e.Prefix, e.Scope, e.Flags, e.Iface = int(plen), uint8(scope), uint8(flags), f[5]
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ifInet6Addr decodes the address field of /proc/net/if_inet6's line n: 32
// hex digits, network byte order.
func ifInet6Addr(n int, field string) (netip.Addr, error) {
	a, err := parseHex16(field)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("line %d: %w", n, err)
	}
	return a, nil
}

// parseHex16 decodes an IPv6 address printed as 32 hex digits in network
// byte order (net/if_inet6, net/ipv6_route).
func parseHex16(s string) (netip.Addr, error) {
	var raw [16]byte
	if len(s) != 32 {
		return netip.Addr{}, fmt.Errorf("address %q is not 32 hex digits", s)
	}
	if _, err := hex.Decode(raw[:], []byte(s)); err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	return netip.AddrFrom16(raw), nil
}
