package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// IPv6Route reads net/ipv6_route, the IPv6 routes (ParseIPv6Route), at
// most maxRouteFile bytes of it.
func (p FS) IPv6Route() ([]Route, error) { return p.routes("ipv6_route", ParseIPv6Route) }

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
