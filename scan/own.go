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

// dropOwnTraffic leaves out TCP sockets in a closing state (TIME_WAIT and
// the like) whose either end is one of planet's own endpoints: what is left
// of the fetches of earlier runs, on either side when the endpoint is local
// (darkstat). Established connections stay: other programs may use the
// same service.
func dropOwnTraffic(socks []Socket, own map[netip.AddrPort]bool) []Socket {
	if len(own) == 0 {
		return socks
	}
	out := socks[:0]
	for _, s := range socks {
		if s.Protocol == "tcp" && s.State != stateEstablished && s.State != stateListen &&
			(own[s.Remote] || own[s.Local]) {
			continue
		}
		out = append(out, s)
	}
	return out
}
