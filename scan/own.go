package scan

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
)

// ownEndpoints resolves the addresses planet itself talks to during a scan
// (the inventory and darkstat URLs), so that the sockets of earlier scans'
// fetches can be told from the host's own dependencies.
func ownEndpoints(ctx context.Context, sources ...string) map[netip.AddrPort]bool {
	out := map[netip.AddrPort]bool{}
	for _, src := range sources {
		if !fetch.IsURL(src) {
			continue
		}
		u, err := url.Parse(src)
		if err != nil {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			addrs = []netip.Addr{a}
		} else {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			addrs, _ = net.DefaultResolver.LookupNetIP(rctx, "ip", u.Hostname())
			cancel()
		}
		for _, a := range addrs {
			out[netip.AddrPortFrom(a.Unmap(), uint16(p))] = true
		}
	}
	return out
}

// dropOwnTraffic leaves out what is left of planet's own fetches in earlier
// runs: ownerless closing TCP sockets (TIME_WAIT and the like) between an
// ephemeral port of this host and one of planet's endpoints, on planet's
// side, and, for an endpoint on this host (darkstat), on the server's side
// when the peer is this host. Live connections, and closing ones of other
// clients of the same service, stay. It returns the sockets kept and how
// many it left out.
func dropOwnTraffic(socks []Socket, own map[netip.AddrPort]bool, local map[netip.Addr]bool, ephemeral PortRange) ([]Socket, int) {
	if len(own) == 0 {
		return socks, 0
	}
	out := socks[:0]
	dropped := 0
	for _, s := range socks {
		closing := s.Protocol == "tcp" && s.Inode == 0 && s.State != stateEstablished && s.State != stateListen
		mine := own[s.Remote] && ephemeral.Contains(s.Local.Port()) ||
			own[s.Local] && (local[s.Remote.Addr()] || s.Remote.Addr().IsLoopback()) && ephemeral.Contains(s.Remote.Port())
		if closing && mine {
			dropped++
			continue
		}
		out = append(out, s)
	}
	return out, dropped
}
