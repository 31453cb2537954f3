package scan

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/inventory"
)

// Route flags of /proc/net/route and /proc/net/ipv6_route
// (include/uapi/linux/route.h, ipv6_route.h).
const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

// hostIdentity picks the address that identifies the host to others: the
// source address of its IPv4 default route, else of its IPv6 one, else the
// first global unicast address of addrs (sorted). It returns the invalid
// Addr when the host has none of these. A docker or libvirt bridge
// (172.17.0.1, 192.168.122.1) is the same on every host that has one, and
// is never the default route's source on a host that also has a real uplink.
//
// Live (proc root /proc) the kernel's routing table is asked over netlink
// (RTM_GETROUTE, which sees a route's preferred source); where that fails,
// and for fixture trees, the default route is read from net/route and
// net/ipv6_route and its source is the host's address on the route's
// interface in the subnet of the gateway (a preferred source set with
// `ip route ... src` is not visible in /proc).
func hostIdentity(p ProcFS, live bool, addrs []netip.Addr) netip.Addr {
	has := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		has[a] = true
	}
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		var src netip.Addr
		if live {
			src = netlinkDefaultSource(family)
		}
		if !src.IsValid() {
			src = p.procDefaultSource(family, addrs)
		}
		if src.IsValid() && has[src] {
			return src
		}
	}
	for _, a := range addrs {
		if a.IsGlobalUnicast() {
			return a
		}
	}
	return netip.Addr{}
}

// identityFirst returns addrs with id moved to the front and the rest in
// their order: addresses[0] of a snapshot is the host's identity.
func identityFirst(addrs []netip.Addr, id netip.Addr) []netip.Addr {
	i := slices.Index(addrs, id)
	if i <= 0 {
		return addrs
	}
	out := make([]netip.Addr, 0, len(addrs))
	out = append(out, id)
	out = append(out, addrs[:i]...)
	return append(out, addrs[i+1:]...)
}

// hostEntry finds the inventory entry of a host from its addresses, the
// identity first: an exact entry (a /32 or /128 naming that address) of
// any address beats a prefix entry, so a host listed by its own address is
// not taken for the container range its docker bridge falls in. Among
// entries of the same kind the earlier address wins.
func hostEntry(inv *inventory.Inventory, addrs []netip.Addr) (inventory.Entry, bool) {
	var prefix inventory.Entry
	found := false
	for _, a := range addrs {
		if a.IsLoopback() {
			continue
		}
		e, ok := inv.Lookup(a)
		if !ok {
			continue
		}
		if e.Prefix.IsSingleIP() {
			return e, true
		}
		if !found {
			prefix, found = e, true
		}
	}
	return prefix, found
}

// netlinkDefaultSource asks the kernel for the source address of the
// family's default route in the main table (the one with the lowest
// metric): the route's preferred source when set, else the source the
// kernel picks towards the route's gateway, else the first global address
// of the route's interface. It returns the invalid Addr on any failure.
func netlinkDefaultSource(family int) netip.Addr {
	routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return netip.Addr{}
	}
	var best *netlink.Route
	for i := range routes {
		r := &routes[i]
		if r.Type != unix.RTN_UNICAST {
			continue
		}
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if best == nil || r.Priority < best.Priority {
			best = r
		}
	}
	if best == nil {
		return netip.Addr{}
	}
	if a, ok := netip.AddrFromSlice(best.Src); ok && best.Src != nil {
		return a.Unmap()
	}
	gw, link := best.Gw, best.LinkIndex
	if gw == nil && len(best.MultiPath) > 0 {
		gw, link = best.MultiPath[0].Gw, best.MultiPath[0].LinkIndex
	}
	if gw != nil {
		if rs, err := netlink.RouteGet(gw); err == nil && len(rs) > 0 {
			if a, ok := netip.AddrFromSlice(rs[0].Src); ok && rs[0].Src != nil {
				return a.Unmap()
			}
		}
	}
	l, err := netlink.LinkByIndex(link)
	if err != nil {
		return netip.Addr{}
	}
	as, err := netlink.AddrList(l, family)
	if err != nil {
		return netip.Addr{}
	}
	var out []netip.Addr
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap().IsGlobalUnicast() {
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	if len(out) == 0 {
		return netip.Addr{}
	}
	return out[0]
}

// procDefaultSource finds the family's default-route source from the /proc
// route tables (see hostIdentity), or returns the invalid Addr.
func (p ProcFS) procDefaultSource(family int, addrs []netip.Addr) netip.Addr {
	if family == unix.AF_INET {
		f, err := os.Open(filepath.Join(p.Root, "net", "route"))
		if err != nil {
			return netip.Addr{}
		}
		defer f.Close()
		routes, err := ParseRoute(io.LimitReader(f, 16<<20))
		if err != nil {
			return netip.Addr{}
		}
		return defaultSource4(routes, addrs)
	}
	f, err := os.Open(filepath.Join(p.Root, "net", "ipv6_route"))
	if err != nil {
		return netip.Addr{}
	}
	defer f.Close()
	routes, err := ParseIPv6Route(io.LimitReader(f, 16<<20))
	if err != nil {
		return netip.Addr{}
	}
	g, err := os.Open(filepath.Join(p.Root, "net", "if_inet6"))
	if err != nil {
		return netip.Addr{}
	}
	defer g.Close()
	ifas, err := ParseIfInet6Entries(io.LimitReader(g, 16<<20))
	if err != nil {
		return netip.Addr{}
	}
	return defaultSource6(routes, ifas)
}

// Route is one row of /proc/net/route or /proc/net/ipv6_route.
type Route struct {
	Iface   string
	Dst     netip.Prefix
	Gateway netip.Addr // unspecified for a directly connected route
	Flags   uint32     // RTF_* bits
	Metric  uint32
}

func (r Route) isDefault() bool {
	return r.Dst.Bits() == 0 && r.Flags&rtfUp != 0 && r.Flags&rtfReject == 0 && r.Iface != "lo"
}

// bestDefault is the usable default route with the lowest metric.
func bestDefault(routes []Route) (Route, bool) {
	var best Route
	ok := false
	for _, r := range routes {
		if r.isDefault() && (!ok || r.Metric < best.Metric) {
			best, ok = r, true
		}
	}
	return best, ok
}

// defaultSource4: the host address, on the default route's interface, in
// the connected subnet that holds the gateway (any connected subnet of that
// interface for a route without gateway).
func defaultSource4(routes []Route, addrs []netip.Addr) netip.Addr {
	def, ok := bestDefault(routes)
	if !ok {
		return netip.Addr{}
	}
	for _, r := range routes {
		if r.Iface != def.Iface || r.Flags&rtfGateway != 0 || r.Dst.Bits() == 0 {
			continue
		}
		if def.Gateway.IsValid() && !def.Gateway.IsUnspecified() && !r.Dst.Contains(def.Gateway) {
			continue
		}
		for _, a := range addrs {
			if a.Is4() && r.Dst.Contains(a) {
				return a
			}
		}
	}
	return netip.Addr{}
}

// IfAddr6 is one row of /proc/net/if_inet6.
type IfAddr6 struct {
	Addr   netip.Addr
	Prefix int
	Scope  uint8 // 0x00 global, 0x20 link, 0x10 host
	Flags  uint8 // IFA_F_* bits
	Iface  string
}

// IFA_F_* bits that make an address a poor identity.
const (
	ifaTemporary  = 0x01
	ifaDeprecated = 0x20
	ifaTentative  = 0x40
)

// defaultSource6: the first global, settled, non-temporary address of the
// IPv6 default route's interface, one in the gateway's prefix first.
func defaultSource6(routes []Route, ifas []IfAddr6) netip.Addr {
	def, ok := bestDefault(routes)
	if !ok {
		return netip.Addr{}
	}
	var cands []IfAddr6
	for _, a := range ifas {
		if a.Iface == def.Iface && a.Scope == 0 && a.Flags&(ifaTemporary|ifaDeprecated|ifaTentative) == 0 && a.Addr.IsGlobalUnicast() {
			cands = append(cands, a)
		}
	}
	slices.SortFunc(cands, func(x, y IfAddr6) int { return x.Addr.Compare(y.Addr) })
	for _, a := range cands {
		if p, err := a.Addr.Prefix(a.Prefix); err == nil && p.Contains(def.Gateway) {
			return a.Addr
		}
	}
	if len(cands) > 0 {
		return cands[0].Addr
	}
	return netip.Addr{}
}

// ParseRoute parses /proc/net/route: Iface, Destination, Gateway, Flags,
// RefCnt, Use, Metric, Mask..., addresses as the kernel prints them (a
// host-order word of the network-order address).
func ParseRoute(r io.Reader) ([]Route, error) {
	sc := bufio.NewScanner(r)
	var out []Route
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n == 1 || len(f) == 0 {
			continue // header
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 8", n, len(f))
		}
		dst, err1 := parseHexAddr([]byte(f[1]))
		gw, err2 := parseHexAddr([]byte(f[2]))
		mask, err3 := parseHexAddr([]byte(f[7]))
		flags, err4 := strconv.ParseUint(f[3], 16, 32)
		metric, err5 := strconv.ParseUint(f[6], 10, 32)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		m := mask.As4()
		ones, bits := net.IPMask(m[:]).Size()
		if bits == 0 {
			return nil, fmt.Errorf("line %d: mask %s is not a prefix", n, mask)
		}
		out = append(out, Route{Iface: f[0], Dst: netip.PrefixFrom(dst, ones).Masked(), Gateway: gw, Flags: uint32(flags), Metric: uint32(metric)})
	}
	return out, sc.Err()
}

// ParseIPv6Route parses /proc/net/ipv6_route: destination, its prefix
// length, source, its prefix length, next hop, metric, refcount, use,
// flags, interface; addresses as 32 hex digits in network order.
func ParseIPv6Route(r io.Reader) ([]Route, error) {
	sc := bufio.NewScanner(r)
	var out []Route
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("line %d: %d fields, want 10", n, len(f))
		}
		dst, err1 := parseHex16(f[0])
		plen, err2 := strconv.ParseUint(f[1], 16, 8)
		gw, err3 := parseHex16(f[4])
		metric, err4 := strconv.ParseUint(f[5], 16, 32)
		flags, err5 := strconv.ParseUint(f[8], 16, 32)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		p, err := dst.Prefix(int(plen))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, Route{Iface: f[9], Dst: p, Gateway: gw, Flags: uint32(flags), Metric: uint32(metric)})
	}
	return out, sc.Err()
}

// ParseIfInet6Entries parses /proc/net/if_inet6: 32 hex digits of address,
// then ifindex, prefix length, scope and flags in hex, and the interface.
func ParseIfInet6Entries(r io.Reader) ([]IfAddr6, error) {
	sc := bufio.NewScanner(r)
	var out []IfAddr6
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		a, err := parseHex16(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		e := IfAddr6{Addr: a}
		if len(f) >= 6 {
			plen, err1 := strconv.ParseUint(f[2], 16, 8)
			scope, err2 := strconv.ParseUint(f[3], 16, 8)
			flags, err3 := strconv.ParseUint(f[4], 16, 8)
			if err := errors.Join(err1, err2, err3); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			e.Prefix, e.Scope, e.Flags, e.Iface = int(plen), uint8(scope), uint8(flags), f[5]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

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
