// Package ctsynth writes synthetic connection-tracking tables for
// benchmarks: BenchmarkScanMillion and scripts/bench-conntrack.sh.
package ctsynth

import (
	"fmt"
	"io"
)

// Write generates a conntrack table of n entries in the kernel's text
// form, as a busy container host would hold it (host 10.1.0.5, containers
// 172.17.0.0/16, clients from 10.200.0.0/16, 20,000 client addresses):
//
//	40% published-port flows (clients -> host:8443, DNAT to a container)
//	20% masqueraded flows of containers to a database, half of them closed
//	15% the host's own closed upstream connections (TIME_WAIT)
//	10% unconnected UDP clients of the host (sendto to a collector)
//	15% forwarded flows between other hosts (foreign: ignored)
//
// with byte counters on every entry. It writes the lines to w.
func Write(w io.Writer, n int) error {
	buf := make([]byte, 0, 64<<10)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for i := range n {
		cl := fmt.Sprintf("10.200.%d.%d", (i/250)%80, 1+i%250) // 20,000 clients
		ctr := fmt.Sprintf("172.17.%d.%d", (i/200)%4, 2+i%200)
		sport := 32768 + i%28000
		switch i % 20 {
		case 0, 1, 2, 3, 4, 5, 6, 7:
			buf = fmt.Appendf(buf, "ipv4     2 tcp      6 431999 ESTABLISHED src=%s dst=10.1.0.5 sport=%d dport=8443 packets=5 bytes=400 src=%s dst=%s sport=443 dport=%d packets=4 bytes=3000 [ASSURED] mark=0 zone=0 use=2\n",
				cl, sport, ctr, cl, sport)
		case 8, 9, 10, 11:
			state := "ESTABLISHED"
			if i%2 == 0 {
				state = "TIME_WAIT"
			}
			buf = fmt.Appendf(buf, "ipv4     2 tcp      6 431999 %s src=%s dst=10.3.0.9 sport=%d dport=5432 packets=3 bytes=200 src=10.3.0.9 dst=10.1.0.5 sport=5432 dport=%d packets=2 bytes=100 [ASSURED] mark=0 zone=0 use=2\n",
				state, ctr, sport, sport)
		case 12, 13, 14:
			buf = fmt.Appendf(buf, "ipv4     2 tcp      6 110 TIME_WAIT src=10.1.0.5 dst=10.4.%d.%d sport=%d dport=443 packets=10 bytes=1200 src=10.4.%d.%d dst=10.1.0.5 sport=443 dport=%d packets=9 bytes=9000 [ASSURED] mark=0 zone=0 use=2\n",
				i%8, 1+i%50, sport, i%8, 1+i%50, sport)
		case 15, 16:
			buf = fmt.Appendf(buf, "ipv4     2 udp      17 25 src=10.1.0.5 dst=10.9.0.%d sport=%d dport=8125 packets=1 bytes=128 [UNREPLIED] src=10.9.0.%d dst=10.1.0.5 sport=8125 dport=%d packets=0 bytes=0 mark=0 zone=0 use=2\n",
				1+i%4, sport, 1+i%4, sport)
		default:
			buf = fmt.Appendf(buf, "ipv4     2 tcp      6 431999 ESTABLISHED src=%s dst=10.7.0.2 sport=%d dport=80 packets=1 bytes=60 src=10.7.0.2 dst=%s sport=80 dport=%d packets=1 bytes=60 [ASSURED] mark=0 zone=0 use=2\n",
				cl, sport, cl, sport)
		}
		if len(buf) > 60<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
