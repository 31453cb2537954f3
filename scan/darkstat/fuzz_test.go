package darkstat

import (
	"testing"
)

// The seed corpus is in testdata/fuzz/<Name>/, made from the fixtures
// (saved darkstat 3.0.719 pages among them). Beyond not panicking, every
// successful parse must give valid, unique IPs in order.

func FuzzParseHTML(f *testing.F) {
	f.Fuzz(func(t *testing.T, page []byte) {
		hosts, err := ParseHTML(page)
		if err != nil {
			if hosts != nil {
				t.Fatalf("hosts %v with error %v", hosts, err)
			}
			return
		}
		checkFuzzHosts(t, hosts)
	})
}

func FuzzParseMetrics(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte) {
		hosts, err := ParseMetrics(text)
		if err != nil {
			if hosts != nil {
				t.Fatalf("hosts %v with error %v", hosts, err)
			}
			return
		}
		checkFuzzHosts(t, hosts)
	})
}

func checkFuzzHosts(t *testing.T, hosts []Host) {
	t.Helper()
	seen := make(map[string]bool, len(hosts))
	for i, h := range hosts {
		if !h.IP.IsValid() || h.IP.Zone() != "" {
			t.Fatalf("host %d: invalid IP %#v", i, h.IP)
		}
		if seen[h.IP.String()] {
			t.Fatalf("IP %s appears twice", h.IP)
		}
		seen[h.IP.String()] = true
		if i > 0 && hosts[i-1].IP.Compare(h.IP) >= 0 {
			t.Fatalf("not sorted at %d: %s after %s", i, h.IP, hosts[i-1].IP)
		}
	}
	// Peers keeps the promise too: unique, unmapped, sorted.
	peers := (&Result{Hosts: hosts}).Peers(nil)
	for i, p := range peers {
		if !p.RemoteIP.IsValid() || p.RemoteIP.Is4In6() {
			t.Fatalf("peer %d: bad IP %v", i, p.RemoteIP)
		}
		if i > 0 && peers[i-1].RemoteIP.Compare(p.RemoteIP) >= 0 {
			t.Fatalf("peers not sorted and unique at %d: %s after %s", i, p.RemoteIP, peers[i-1].RemoteIP)
		}
	}
}
