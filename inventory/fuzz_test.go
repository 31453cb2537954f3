package inventory

import (
	"hash/fnv"
	"net/netip"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`[{"ip_address": "10.1.2.3", "domain": "xyz.service.consul", "hostgroup": "xyz"}]`,
		`[{"ip_address": "10.0.0.0/8", "hostgroup": "a"}, {"ip_address": "10.2.3.4/16", "hostgroup": "b"}, {"ip_address": "10.2.3.4", "domain": "c"}]`,
		"{\"ip_address\": \"2001:db8::/32\", \"hostgroup\": \"v6\"}\n\n{\"ip_address\": \"::ffff:10.0.0.0/104\", \"hostgroup\": \"m\"}\n",
		"{\"ip_address\": \"::/0\", \"hostgroup\": \"all6\"}\n{\"ip_address\": \"0.0.0.0/0\", \"hostgroup\": \"all4\"}\n",
		`[{"ip_address": "127.0.0.1", "hostgroup": "lo"}, {"ip_address": "::1/128", "hostgroup": "lo6"}]`,
		`[{"ip_address": "10.1.2.3", "hostgroup": "a"}, {"ip_address": "10.1.2.3/32", "hostgroup": "b"}]`,
		"{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \n{}",
		`[{"ip_address": 1}]`,
		`[`,
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, format := range []Format{FormatAuto, FormatArray, FormatNDJSON} {
			inv, err := Parse(doc, "fuzz", format, nil)
			if err != nil {
				if inv != nil {
					t.Fatalf("%s: Parse returned an inventory and an error %v", format, err)
				}
				continue
			}
			checkInventory(t, inv, doc)
		}
	})
}

// checkInventory holds Lookup to a linear-scan reference: for every entry and
// addresses at, inside and just outside its prefix, Lookup must find what the
// longest matching entry is, and never an entry whose prefix misses the address.
func checkInventory(t *testing.T, inv *Inventory, seed []byte) {
	entries := inv.entries()
	if len(entries) != inv.Len() {
		t.Fatalf("Len() = %d, but %d entries stored", inv.Len(), len(entries))
	}
	h := fnv.New64a()
	h.Write(seed)
	bits := h.Sum64()
	for _, e := range entries {
		p := e.Prefix
		switch {
		case !p.IsValid() || p != p.Masked():
			t.Fatalf("entry prefix %s is not valid and masked", p)
		case p.Addr().Is4In6():
			t.Fatalf("entry prefix %s is IPv4-mapped; want plain IPv4", p)
		case p.Addr().Zone() != "":
			t.Fatalf("entry prefix %s has a zone", p)
		case e.Hostgroup == "" && e.Domain == "":
			t.Fatalf("entry %+v has neither hostgroup nor domain", e)
		}
		first, last := p.Addr(), lastAddr(p)
		probes := []netip.Addr{first, last, inside(p, bits), first.Prev(), last.Next()}
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			probe(t, inv, entries, a)
			if a.Is4() {
				probe(t, inv, entries, netip.AddrFrom16(a.As16()))
			}
		}
	}
	probe(t, inv, entries, netip.AddrFrom4([4]byte{byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24)}))
}

func probe(t *testing.T, inv *Inventory, entries []Entry, a netip.Addr) {
	got, ok := inv.Lookup(a)
	want, wantOK := reference(entries, a)
	if ok != wantOK || got != want {
		t.Fatalf("Lookup(%s) = %+v, %v; the longest match is %+v, %v", a, got, ok, want, wantOK)
	}
	if ok && !got.Prefix.Contains(a.Unmap()) {
		t.Fatalf("Lookup(%s) = %+v, whose prefix does not contain the address", a, got)
	}
}

// reference is Lookup by linear scan.
func reference(entries []Entry, a netip.Addr) (Entry, bool) {
	a = a.Unmap().WithZone("")
	if a.IsLoopback() {
		if a.Is4() {
			return Entry{Prefix: loopback4, Hostgroup: "localhost"}, true
		}
		return Entry{Prefix: loopback6, Hostgroup: "localhost"}, true
	}
	var best Entry
	found := false
	for _, e := range entries {
		if e.Prefix.Contains(a) && (!found || e.Prefix.Bits() > best.Prefix.Bits()) {
			best, found = e, true
		}
	}
	return best, found
}

// lastAddr returns the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	return fillHost(p, ^uint64(0))
}

// inside returns an address in p whose host bits come from bits.
func inside(p netip.Prefix, bits uint64) netip.Addr {
	return fillHost(p, bits)
}

// fillHost sets p's host bits from bits, repeated as needed.
func fillHost(p netip.Prefix, bits uint64) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if bits>>(uint(i)%64)&1 == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
