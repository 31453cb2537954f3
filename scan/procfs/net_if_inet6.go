package scan

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxIfName is the longest interface name the kernel allows (IFNAMSIZ - 1).
const maxIfName = 15

// LinkLocalAddresses lists the host's IPv6 link-local addresses
// (fe80::/10) from net/if_inet6, each with its interface as the zone
// ("fe80::2%eth1"): a link-local address means something only on its link,
// so merge resolves peers between scanned hosts by them but never names a
// host by one. A host without IPv6 (no if_inet6) has none.
func (p ProcFS) LinkLocalAddresses() ([]netip.Addr, error) {
	f, err := os.Open(filepath.Join(p.Root, "net", "if_inet6"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := ParseIfInet6LinkLocal(f)
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
		if !a.IsLinkLocalUnicast() {
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("line %d: want 6 fields (address, ifindex, prefix length, scope, flags, interface), got %d", n, len(f))
		}
		name := f[5]
		if len(name) > maxIfName || strings.ContainsAny(name, "%/") || !printableASCII(name) {
			return nil, fmt.Errorf("line %d: interface name %q is not one the kernel gives", n, name)
		}
		out = append(out, a.WithZone(name))
	}
	if err := sc.Err(); err != nil {
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
