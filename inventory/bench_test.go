package inventory

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// bigInventory builds an n-entry NDJSON document: 90% single addresses in
// 10.0.0.0/8, the rest /16, /20, /24 and /28 prefixes and some IPv6 /64s,
// the shape of a fleet inventory with a few network-wide entries.
func bigInventory(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	for i := range n {
		var ip string
		switch {
		case i%10 != 0:
			ip = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		case i%40 == 0:
			ip = fmt.Sprintf("2001:db8:%x:%x::/64", rng.IntN(1<<16), rng.IntN(1<<16))
		default:
			lens := []int{16, 20, 24, 28}
			a := netip.AddrFrom4([4]byte{byte(11 + rng.IntN(100)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			ip = netip.PrefixFrom(a, lens[rng.IntN(len(lens))]).Masked().String()
		}
		fmt.Fprintf(&buf, `{"ip_address": %q, "domain": "h%d.service.consul", "hostgroup": "g%d"}`+"\n", ip, i, i%500)
	}
	return buf.Bytes()
}

func BenchmarkLookup(b *testing.B) {
	const n = 100_000
	inv, err := Parse(bigInventory(n), "bench", FormatAuto, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Remote IPs as a scan sees them: inventory hosts, hosts in inventory
	// networks, strangers, IPv6, mapped IPv4.
	rng := rand.New(rand.NewPCG(3, 4))
	probes := make([]netip.Addr, 4096)
	for i := range probes {
		switch i % 5 {
		case 0, 1:
			j := rng.IntN(n)
			probes[i] = netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
		case 2:
			probes[i] = netip.AddrFrom4([4]byte{byte(11 + rng.IntN(100)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		case 3:
			probes[i] = netip.AddrFrom4([4]byte{byte(200 + rng.IntN(20)), 1, 2, byte(rng.IntN(256))})
		case 4:
			probes[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(256)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; b.Loop(); i++ {
		if _, ok := inv.Lookup(probes[i%len(probes)]); ok {
			found++
		}
	}
	if found == 0 {
		b.Fatal("no lookup found an entry")
	}
}

func BenchmarkParse(b *testing.B) {
	doc := bigInventory(100_000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc, "bench", FormatAuto, nil); err != nil {
			b.Fatal(err)
		}
	}
}
