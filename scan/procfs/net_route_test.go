package procfs

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// A host with its uplink (eth0, 192.168.250.10/24, default route via .1)
// and a docker bridge (docker0, 172.17.0.1/16), as /proc shows them on a
// little-endian machine (the fixture of scan's identity tests).
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
)

func TestParseRoute(t *testing.T) {
	if !littleEndian() {
		t.Skip("skipped: the fixture is a little-endian host's /proc/net/route")
	}
	got, err := ParseRoute(strings.NewReader(routeDocker))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Iface: "eth0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.168.250.1"), Flags: 3, Metric: 100},
		{Iface: "docker0", Dst: netip.MustParsePrefix("172.17.0.0/16"), Gateway: netip.MustParseAddr("0.0.0.0"), Flags: 1},
		{Iface: "eth0", Dst: netip.MustParsePrefix("192.168.250.0/24"), Gateway: netip.MustParseAddr("0.0.0.0"), Flags: 1, Metric: 100},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"Iface\tDestination\neth0\t00000000\n",          // too few fields
		"h\neth0 ZZ000000 00000000 0003 0 0 0 00000000", // not hex
		"h\neth0 00000000 00000000 0003 0 0 0 00FF00FF", // not a prefix mask
	} {
		if _, err := ParseRoute(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseRoute(%q) = %v, want an error naming line 2", bad, err)
		}
	}
}

func TestParseIPv6Route(t *testing.T) {
	got, err := ParseIPv6Route(strings.NewReader(ipv6RouteDocker))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Dst != netip.MustParsePrefix("::/0") || got[1].Gateway != netip.MustParseAddr("2001:db8::1") ||
		got[1].Iface != "eth0" || got[1].Metric != 0x400 || got[2].Flags != 0x00200200 {
		t.Errorf("got %+v", got)
	}
	if _, err := ParseIPv6Route(strings.NewReader("0000 00 x\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("short line: err = %v, want it to name line 1", err)
	}
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }
