package scan

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/planetdeps/planet/inventory"
	"github.com/planetdeps/planet/scan/procfs"
)

// A host with its uplink (eth0, 192.168.250.10/24, default route via .1)
// and a docker bridge (docker0, 172.17.0.1/16), as /proc shows them on a
// little-endian machine.
const (
	routeDocker = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	01FAA8C0	0003	0	0	100	00000000	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
eth0	00FAA8C0	00000000	0001	0	0	100	00FFFFFF	0	0	0
`
	ipv6RouteDocker = `20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`
	ifInet6Docker = `20010db8000000000000000000000010 02 40 00 80     eth0
20010db80000000000000000000000aa 02 40 00 81     eth0
fe800000000000000000000000000001 02 40 20 80     eth0
fd00000000000000000000000000dddd 03 40 00 80  docker0
00000000000000000000000000000001 01 80 10 80       lo
`
)

func TestDefaultSources(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("172.17.0.1"), netip.MustParseAddr("192.168.250.10")}
	routes4 := []procfs.Route{
		{Iface: "eth0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.168.250.1"), Flags: procfs.RTFUp | procfs.RTFGateway, Metric: 100},
		{Iface: "docker0", Dst: netip.MustParsePrefix("172.17.0.0/16"), Gateway: netip.IPv4Unspecified(), Flags: procfs.RTFUp},
		{Iface: "eth0", Dst: netip.MustParsePrefix("192.168.250.0/24"), Gateway: netip.IPv4Unspecified(), Flags: procfs.RTFUp},
	}
	if got := defaultSource4(routes4, addrs); got != netip.MustParseAddr("192.168.250.10") {
		t.Errorf("defaultSource4 = %v, want 192.168.250.10", got)
	}
	// A lower-metric default through docker0 would win.
	alt := append(slices.Clone(routes4), procfs.Route{Iface: "docker0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("172.17.0.254"), Flags: procfs.RTFUp | procfs.RTFGateway, Metric: 5})
	if got := defaultSource4(alt, addrs); got != netip.MustParseAddr("172.17.0.1") {
		t.Errorf("defaultSource4, lower metric via docker0 = %v, want 172.17.0.1", got)
	}
	if got := defaultSource4(routes4[1:], addrs); got.IsValid() {
		t.Errorf("defaultSource4 without a default route = %v, want none", got)
	}

	routes6, err := procfs.ParseIPv6Route(strings.NewReader(ipv6RouteDocker))
	if err != nil {
		t.Fatal(err)
	}
	ifas, err := procfs.ParseIfInet6Entries(strings.NewReader(ifInet6Docker))
	if err != nil {
		t.Fatal(err)
	}
	// ...::aa is temporary (flag 01): the stable ...::10 identifies the host.
	if got := defaultSource6(routes6, ifas); got != netip.MustParseAddr("2001:db8::10") {
		t.Errorf("defaultSource6 = %v, want 2001:db8::10", got)
	}
	// Only the unreachable default on lo: no IPv6 default route.
	if got := defaultSource6(routes6[2:], ifas); got.IsValid() {
		t.Errorf("defaultSource6 with a reject route only = %v, want none", got)
	}
}

// TestHostIdentityProc: the proc reading of a fixture tree, IPv4 default
// route first, then IPv6, then the first global address.
func TestHostIdentityProc(t *testing.T) {
	if !littleEndian() {
		t.Skip("skipped: the fixture is a little-endian host's /proc/net/route")
	}
	addrs := []netip.Addr{netip.MustParseAddr("172.17.0.1"), netip.MustParseAddr("192.168.250.10"), netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::aa"), netip.MustParseAddr("fd00::dddd")}
	tests := []struct {
		name       string
		route, rt6 string
		want       string
	}{
		{"IPv4 default route", routeDocker, ipv6RouteDocker, "192.168.250.10"},
		{"IPv6 default route only", "Iface\tDestination\n", ipv6RouteDocker, "2001:db8::10"},
		{"no default route", "Iface\tDestination\n", "", "172.17.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "net"), 0o755)
			for name, body := range map[string]string{"route": tt.route, "ipv6_route": tt.rt6, "if_inet6": ifInet6Docker} {
				if err := os.WriteFile(filepath.Join(root, "net", name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := hostIdentity(ProcFS{Root: root}, false, addrs)
			if got != netip.MustParseAddr(tt.want) {
				t.Errorf("hostIdentity = %v, want %s", got, tt.want)
			}
			if first := identityFirst(addrs, got); first[0] != got || len(first) != len(addrs) {
				t.Errorf("identityFirst = %v", first)
			}
		})
	}
}

// TestHostEntry: an exact inventory entry of any address beats a prefix
// entry of the identity, which beats a prefix of another address.
func TestHostEntry(t *testing.T) {
	f := filepath.Join(t.TempDir(), "inv.json")
	os.WriteFile(f, []byte(`[
		{"ip_address":"192.168.250.10","domain":"web1.example","hostgroup":"web"},
		{"ip_address":"172.16.0.0/12","hostgroup":"containers"},
		{"ip_address":"10.0.0.0/8","hostgroup":"dc"},
		{"ip_address":"10.9.9.9","hostgroup":"exact-second"}]`), 0o600)
	inv, err := inventory.Load(context.Background(), f, inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	tests := []struct {
		addrs []netip.Addr
		want  string
	}{
		{[]netip.Addr{a("192.168.250.10"), a("172.17.0.1")}, "web"},
		{[]netip.Addr{a("172.17.0.1"), a("192.168.250.10")}, "web"}, // exact wins wherever it is
		{[]netip.Addr{a("10.1.1.1"), a("172.17.0.1")}, "dc"},        // two prefixes: the identity's
		{[]netip.Addr{a("10.1.1.1"), a("10.9.9.9")}, "exact-second"},
		{[]netip.Addr{a("203.0.113.5")}, ""},
	}
	for _, tt := range tests {
		e, _ := hostEntry(inv, tt.addrs)
		if e.Hostgroup != tt.want {
			t.Errorf("hostEntry(%v) = %q, want %q", tt.addrs, e.Hostgroup, tt.want)
		}
	}
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }
