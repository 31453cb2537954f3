package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Route flags of /proc/net/route and /proc/net/ipv6_route
// (include/uapi/linux/route.h, ipv6_route.h).
const (
	RTFUp      = 0x0001
	RTFGateway = 0x0002
	RTFReject  = 0x0200
)

// maxRouteFile bounds what is read of a routing table or of if_inet6: a
// router's full table is far below it.
const maxRouteFile = 16 << 20

// Route is one row of /proc/net/route or /proc/net/ipv6_route.
type Route struct {
	Iface   string
	Dst     netip.Prefix
	Gateway netip.Addr // unspecified for a directly connected route
	Flags   uint32     // RTF_* bits
	Metric  uint32
}

// Route reads net/route, the IPv4 routes of the main table
// (ParseRoute), at most maxRouteFile bytes of it.
func (p FS) Route() ([]Route, error) { return p.routes("route", ParseRoute) }

// routes reads one routing table file with parse.
func (p FS) routes(file string, parse func(io.Reader) ([]Route, error)) ([]Route, error) {
	f, err := os.Open(p.Path("net", file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := parse(io.LimitReader(f, maxRouteFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return out, nil
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
