package scan

import (
	"context"
	"net/netip"
	"testing"
)

func TestOwnEndpoints(t *testing.T) {
	got := ownEndpoints(context.Background(), "http://127.0.0.1:667/", "https://[fd00::7]/inv.json", "http://10.0.0.1", "/etc/inventory.json", "")
	for _, want := range []string{"127.0.0.1:667", "[fd00::7]:443", "10.0.0.1:80"} {
		if !got[netip.MustParseAddrPort(want)] {
			t.Errorf("missing %s in %v", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("got %v", got)
	}
}

func TestDropOwnTraffic(t *testing.T) {
	own := map[netip.AddrPort]bool{netip.MustParseAddrPort("127.0.0.1:667"): true, netip.MustParseAddrPort("10.0.0.7:80"): true, netip.MustParseAddrPort("10.0.0.1:80"): true}
	local := map[netip.Addr]bool{netip.MustParseAddr("10.0.0.1"): true}
	eph := PortRange{32768, 60999}
	tests := []struct {
		name string
		s    Socket
		drop bool
	}{
		{"darkstat's side of planet's earlier read", sock("tcp", stateTimeWait, "127.0.0.1:667", "127.0.0.1:40000", 0), true},
		{"planet's side of an earlier darkstat read", sock("tcp", stateTimeWait, "127.0.0.1:40001", "127.0.0.1:667", 0), true},
		{"planet's earlier inventory fetch, closing", sock("tcp", stateFinWait2, "10.0.0.1:40002", "10.0.0.7:80", 0), true},
		{"someone's live connection to the inventory", sock("tcp", stateEstablished, "10.0.0.1:40003", "10.0.0.7:80", 6), false},
		{"a closing socket still held by a process", sock("tcp", stateCloseWait, "10.0.0.1:40004", "10.0.0.7:80", 9), false},
		{"darkstat's listener", sock("tcp", stateListen, "127.0.0.1:667", "0.0.0.0:0", 7), false},
		{"another port of the same host", sock("tcp", stateTimeWait, "10.0.0.1:40005", "10.0.0.7:8080", 0), false},
		{"UDP", sock("udp", stateEstablished, "10.0.0.1:40006", "10.0.0.7:80", 8), false},
		{"this host serves the inventory: other clients' closing sockets stay", sock("tcp", stateTimeWait, "10.0.0.1:80", "10.0.0.9:50000", 0), false},
		{"this host serves the inventory: planet's own fetch of it", sock("tcp", stateTimeWait, "10.0.0.1:80", "10.0.0.1:50001", 0), true},
		{"a fixed source port to the inventory is not planet's", sock("tcp", stateTimeWait, "10.0.0.1:700", "10.0.0.7:80", 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, n := dropOwnTraffic([]Socket{tt.s}, own, local, eph)
			if dropped := n == 1 && len(kept) == 0; dropped != tt.drop {
				t.Errorf("dropped = %v, want %v", dropped, tt.drop)
			}
		})
	}
}
