package scan

import (
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/inventory"
	"github.com/planetdeps/planet/scan/procfs"
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
		routes, err := p.fs().Route()
		if err != nil {
			return netip.Addr{}
		}
		return defaultSource4(routes, addrs)
	}
	routes, err := p.fs().IPv6Route()
	if err != nil {
		return netip.Addr{}
	}
	ifas, err := p.fs().IfInet6Entries()
	if err != nil {
		return netip.Addr{}
	}
	return defaultSource6(routes, ifas)
}

// isDefaultRoute tells a usable default route: up, not a reject route,
// not on the loopback interface.
func isDefaultRoute(r procfs.Route) bool {
	return r.Dst.Bits() == 0 && r.Flags&procfs.RTFUp != 0 && r.Flags&procfs.RTFReject == 0 && r.Iface != "lo"
}

// bestDefault is the usable default route with the lowest metric.
func bestDefault(routes []procfs.Route) (procfs.Route, bool) {
	var best procfs.Route
	ok := false
	for _, r := range routes {
		if isDefaultRoute(r) && (!ok || r.Metric < best.Metric) {
			best, ok = r, true
		}
	}
	return best, ok
}

// defaultSource4: the host address, on the default route's interface, in
// the connected subnet that holds the gateway (any connected subnet of that
// interface for a route without gateway).
func defaultSource4(routes []procfs.Route, addrs []netip.Addr) netip.Addr {
	def, ok := bestDefault(routes)
	if !ok {
		return netip.Addr{}
	}
	for _, r := range routes {
		if r.Iface != def.Iface || r.Flags&procfs.RTFGateway != 0 || r.Dst.Bits() == 0 {
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

// IFA_F_* bits that make an address a poor identity.
const (
	ifaTemporary  = 0x01
	ifaDeprecated = 0x20
	ifaTentative  = 0x40
)

// defaultSource6: the first global, settled, non-temporary address of the
// IPv6 default route's interface, one in the gateway's prefix first.
func defaultSource6(routes []procfs.Route, ifas []procfs.IfAddr6) netip.Addr {
	def, ok := bestDefault(routes)
	if !ok {
		return netip.Addr{}
	}
	var cands []procfs.IfAddr6
	for _, a := range ifas {
		if a.Iface == def.Iface && a.Scope == 0 && a.Flags&(ifaTemporary|ifaDeprecated|ifaTentative) == 0 && a.Addr.IsGlobalUnicast() {
			cands = append(cands, a)
		}
	}
	slices.SortFunc(cands, func(x, y procfs.IfAddr6) int { return x.Addr.Compare(y.Addr) })
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
