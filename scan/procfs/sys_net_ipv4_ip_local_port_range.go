package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// EphemeralRange reads sys/net/ipv4/ip_local_port_range
// (net.ipv4.ip_local_port_range, which IPv6 uses too): the ports the
// kernel picks a client's local port from. A malformed file is an error
// naming it.
func (p FS) EphemeralRange() (lo, hi uint16, err error) {
	path := p.Path("sys", "net", "ipv4", "ip_local_port_range")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	lo, hi, err = ParsePortRange(string(b))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return lo, hi, nil
}

// ParsePortRange parses "32768\t60999": two ports, 1 <= lo <= hi.
func ParsePortRange(s string) (lo, hi uint16, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("want two port numbers, got %q", strings.TrimSpace(s))
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || l > h || l == 0 {
		return 0, 0, fmt.Errorf("bad port range %q", strings.TrimSpace(s))
	}
	return uint16(l), uint16(h), nil
}
