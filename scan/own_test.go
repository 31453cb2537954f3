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
	own := map[netip.AddrPort]bool{netip.MustParseAddrPort("127.0.0.1:667"): true, netip.MustParseAddrPort("10.0.0.7:80"): true}
	socks := []Socket{
		sock("tcp", stateTimeWait, "127.0.0.1:667", "127.0.0.1:40000", 0), // darkstat's side of an earlier read
		sock("tcp", stateTimeWait, "127.0.0.1:40001", "127.0.0.1:667", 0), // planet's side
		sock("tcp", stateCloseWait, "10.0.0.1:40002", "10.0.0.7:80", 5),   // an inventory fetch closing
		sock("tcp", stateEstablished, "10.0.0.1:40003", "10.0.0.7:80", 6), // someone else's live use: kept
		sock("tcp", stateListen, "127.0.0.1:667", "0.0.0.0:0", 7),         // darkstat's listener: kept
		sock("tcp", stateTimeWait, "10.0.0.1:40004", "10.0.0.7:8080", 0),  // another port: kept
		sock("udp", stateEstablished, "10.0.0.1:40005", "10.0.0.7:80", 8), // UDP: kept
	}
	got := dropOwnTraffic(socks, own)
	if len(got) != 4 || got[0].Inode != 6 || got[1].Inode != 7 || got[2].Remote.Port() != 8080 || got[3].Protocol != "udp" {
		t.Errorf("kept %+v", got)
	}
}
