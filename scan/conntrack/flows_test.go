package conntrack

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/planetdeps/planet/snapshot"
)

func flow(proto, state, orig, reply string) Flow {
	var f Flow
	line := fmt.Sprintf("ipv4 2 %s 0 30 %s %s %s", proto, state, orig, reply)
	if ok, err := parseLine([]byte(line), &f); !ok || err != nil {
		panic(fmt.Sprint(line, ok, err))
	}
	return f
}

func tuple(src, dst string) string {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return fmt.Sprintf("src=%s dst=%s sport=%d dport=%d", s.Addr(), d.Addr(), s.Port(), d.Port())
}

func show(cs []snapshot.Connection) []string {
	var out []string
	for _, c := range cs {
		s := fmt.Sprintf("%s %s/%d %s %q sockets=%d flows=%d ended=%d", c.Direction, c.Protocol, c.Port, c.RemoteIP, c.Process, c.Sockets, c.Flows, c.EndedFlows)
		if c.DialledIP.IsValid() {
			s += fmt.Sprintf(" dialled=%s:%d", c.DialledIP, c.DialledPort)
		}
		if c.BackendIP.IsValid() {
			s += fmt.Sprintf(" backend=%s:%d", c.BackendIP, c.BackendPort)
		}
		if c.OriginIP.IsValid() {
			s += " origin=" + c.OriginIP.String()
		}
		if c.BytesSent+c.BytesReceived > 0 {
			s += fmt.Sprintf(" bytes=%d/%d", c.BytesSent, c.BytesReceived)
		}
		if len(c.States) > 0 {
			s += fmt.Sprint(" ", c.States)
		}
		if c.Workload != "" || c.Netns != 0 {
			s += fmt.Sprintf(" workload=%s netns=%d", c.Workload, c.Netns)
		}
		out = append(out, s)
	}
	return out
}

// The cases the fixture golden and TestNAT do not reach.
func TestMergerRules(t *testing.T) {
	const host = "10.1.0.5"
	tests := []struct {
		name  string
		h     Host
		flows []Flow
		want  []string
		stats Stats
	}{
		{
			name:  "UDP from a port this host serves is that server's (listener rule)",
			h:     Host{Listeners: []snapshot.Listener{{Protocol: "udp", Address: netip.IPv4Unspecified(), Port: 123, Process: "ntpd"}}},
			flows: []Flow{flow("udp", "", tuple(host+":123", "10.9.0.1:123"), tuple("10.9.0.1:123", host+":123"))},
			want:  []string{`downstream udp/123 10.9.0.1 "ntpd" sockets=0 flows=1 ended=0`},
		},
		{
			name: "a DNAT on this host moves the socket, its state and bytes, to the actual destination",
			h: Host{
				Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort(host + ":40000"), Remote: netip.MustParseAddrPort("10.96.0.10:80"),
					Process: "app", State: "ESTABLISHED", BytesSent: 10, BytesReceived: 20, HasBytes: true}},
				Connections: []snapshot.Connection{
					{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "app", RemoteIP: netip.MustParseAddr("10.96.0.10"), Sockets: 2,
						States: map[string]int{"ESTABLISHED": 1, "TIME_WAIT": 1}, BytesSent: 15, BytesReceived: 25},
				},
			},
			flows: []Flow{flow("tcp", "ESTABLISHED", tuple(host+":40000", "10.96.0.10:80"), tuple("10.3.0.4:8000", host+":40000"))},
			want: []string{
				`upstream tcp/80 10.96.0.10 "app" sockets=1 flows=0 ended=0 bytes=5/5 map[TIME_WAIT:1]`,
				`upstream tcp/8000 10.3.0.4 "app" sockets=1 flows=0 ended=0 dialled=10.96.0.10:80 bytes=10/20 map[ESTABLISHED:1]`,
			},
			stats: Stats{Flows: 1, Annotated: 1, Shown: 1},
		},
		{
			name: "records of one process name in two workloads stay apart; a DNAT moves the socket within its own",
			h: Host{
				Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort(host + ":40000"), Remote: netip.MustParseAddrPort("10.96.0.10:80"),
					Process: "java", Workload: "b.service", Netns: 1, State: "ESTABLISHED"}},
				Connections: []snapshot.Connection{
					{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "java", Workload: "a.service", Netns: 1,
						RemoteIP: netip.MustParseAddr("10.96.0.10"), Sockets: 1, States: map[string]int{"ESTABLISHED": 1}},
					{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "java", Workload: "b.service", Netns: 1,
						RemoteIP: netip.MustParseAddr("10.96.0.10"), Sockets: 1, States: map[string]int{"ESTABLISHED": 1}},
				},
			},
			flows: []Flow{flow("tcp", "ESTABLISHED", tuple(host+":40000", "10.96.0.10:80"), tuple("10.3.0.4:8000", host+":40000"))},
			want: []string{
				`upstream tcp/80 10.96.0.10 "java" sockets=1 flows=0 ended=0 map[ESTABLISHED:1] workload=a.service netns=1`,
				`upstream tcp/8000 10.3.0.4 "java" sockets=1 flows=0 ended=0 dialled=10.96.0.10:80 map[ESTABLISHED:1] workload=b.service netns=1`,
			},
			stats: Stats{Flows: 1, Annotated: 1, Shown: 1},
		},
		{
			name: "a masqueraded flow of a container whose namespace the scan read is its socket's",
			h: Host{Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort("172.17.0.2:40000"), Remote: netip.MustParseAddrPort("10.9.0.9:5432"),
				Process: "worker", Workload: "docker/app", Netns: 2}}},
			flows: []Flow{
				flow("tcp", "ESTABLISHED", tuple("172.17.0.2:40000", "10.9.0.9:5432"), tuple("10.9.0.9:5432", host+":40000")),
				// A container not read: its flow is the host's, on its behalf.
				flow("tcp", "ESTABLISHED", tuple("172.17.0.3:40001", "10.9.0.9:5432"), tuple("10.9.0.9:5432", host+":40001")),
			},
			want:  []string{`upstream tcp/5432 10.9.0.9 "" sockets=0 flows=1 ended=0 origin=172.17.0.3`},
			stats: Stats{Flows: 2, Shown: 1, Added: 1},
		},
		{
			name: "a port published to a container is its listener's: the container's socket moves to the published port, an ended flow gets the listener",
			h: Host{
				HostNetns:  1,
				Containers: map[netip.Addr]Container{netip.MustParseAddr("172.17.0.2"): {Netns: 2, Workload: "docker/web"}},
				Listeners: []snapshot.Listener{
					{Protocol: "tcp", Address: netip.IPv4Unspecified(), Port: 80, Process: "hostweb", Netns: 1},
					{Protocol: "tcp", Address: netip.IPv4Unspecified(), Port: 80, Process: "web", Workload: "docker/web", Netns: 2},
				},
				Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort("172.17.0.2:80"), Remote: netip.MustParseAddrPort("10.9.0.7:50000"),
					Process: "web", Workload: "docker/web", Netns: 2, State: "ESTABLISHED"}},
				Connections: []snapshot.Connection{{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "web", Workload: "docker/web", Netns: 2,
					RemoteIP: netip.MustParseAddr("10.9.0.7"), Sockets: 1, States: map[string]int{"ESTABLISHED": 1}}},
			},
			flows: []Flow{
				flow("tcp", "ESTABLISHED", tuple("10.9.0.7:50000", host+":8080"), tuple("172.17.0.2:80", "10.9.0.7:50000")),
				flow("tcp", "TIME_WAIT", tuple("10.9.0.8:50001", host+":8080"), tuple("172.17.0.2:80", "10.9.0.8:50001")),
			},
			want: []string{
				`downstream tcp/8080 10.9.0.7 "web" sockets=1 flows=0 ended=0 backend=172.17.0.2:80 map[ESTABLISHED:1] workload=docker/web netns=2`,
				`downstream tcp/8080 10.9.0.8 "web" sockets=0 flows=1 ended=1 backend=172.17.0.2:80 workload=docker/web netns=2`,
			},
			stats: Stats{Flows: 2, Shown: 1, Annotated: 1, Added: 1, Ended: 1},
		},
		{
			name: "a container's socket the socket scan counted under another process leaves the flow to count on the published port",
			h: Host{
				HostNetns:  1,
				Containers: map[netip.Addr]Container{netip.MustParseAddr("172.17.0.2"): {Netns: 2, Workload: "docker/web"}},
				Listeners:  []snapshot.Listener{{Protocol: "tcp", Address: netip.IPv4Unspecified(), Port: 80, Process: "master", Workload: "docker/web", Netns: 2}},
				Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort("172.17.0.2:80"), Remote: netip.MustParseAddrPort("10.9.0.7:50000"),
					Process: "worker", Workload: "docker/web", Netns: 2}},
				Connections: []snapshot.Connection{{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "master", Workload: "docker/web", Netns: 2,
					RemoteIP: netip.MustParseAddr("10.9.0.7"), Sockets: 1}},
			},
			flows: []Flow{flow("tcp", "ESTABLISHED", tuple("10.9.0.7:50000", host+":8080"), tuple("172.17.0.2:80", "10.9.0.7:50000"))},
			want: []string{
				`downstream tcp/80 10.9.0.7 "master" sockets=1 flows=0 ended=0 workload=docker/web netns=2`,
				`downstream tcp/8080 10.9.0.7 "master" sockets=0 flows=1 ended=0 backend=172.17.0.2:80 workload=docker/web netns=2`,
			},
			stats: Stats{Flows: 1, Added: 1},
		},
		{
			name: "masqueraded flows no socket shows are the container's: its workload, and its sendto() socket's process",
			h: Host{
				HostNetns:  1,
				Containers: map[netip.Addr]Container{netip.MustParseAddr("172.17.0.3"): {Netns: 3, Workload: "docker/app"}},
				Unconnected: []Socket{
					{Proto: "udp", Local: netip.MustParseAddrPort("0.0.0.0:41000"), Process: "hostsender", Netns: 1},
					{Proto: "udp", Local: netip.MustParseAddrPort("0.0.0.0:41000"), Process: "statsc", Workload: "docker/app", Netns: 3},
				},
			},
			flows: []Flow{
				flow("udp", "", tuple("172.17.0.3:41000", "10.9.0.9:8125"), tuple("10.9.0.9:8125", host+":41000")),
				flow("tcp", "TIME_WAIT", tuple("172.17.0.3:40001", "10.9.0.9:5432"), tuple("10.9.0.9:5432", host+":40001")),
			},
			want: []string{
				`upstream tcp/5432 10.9.0.9 "" sockets=0 flows=1 ended=1 origin=172.17.0.3 workload=docker/app netns=3`,
				`upstream udp/8125 10.9.0.9 "statsc" sockets=0 flows=1 ended=0 origin=172.17.0.3 workload=docker/app netns=3`,
			},
			stats: Stats{Flows: 2, Added: 2, Ended: 1},
		},
		{
			name: "a container's socket to a service address the host DNATs and masquerades moves to the actual destination",
			h: Host{
				HostNetns:  1,
				Containers: map[netip.Addr]Container{netip.MustParseAddr("172.17.0.2"): {Netns: 2, Workload: "docker/app"}},
				Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort("172.17.0.2:40000"), Remote: netip.MustParseAddrPort("10.96.0.10:80"),
					Process: "worker", Workload: "docker/app", Netns: 2}},
				Connections: []snapshot.Connection{{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "worker", Workload: "docker/app", Netns: 2,
					RemoteIP: netip.MustParseAddr("10.96.0.10"), Sockets: 1}},
			},
			flows: []Flow{flow("tcp", "ESTABLISHED", tuple("172.17.0.2:40000", "10.96.0.10:80"), tuple("10.3.0.4:8000", host+":40000"))},
			want:  []string{`upstream tcp/8000 10.3.0.4 "worker" sockets=1 flows=0 ended=0 dialled=10.96.0.10:80 workload=docker/app netns=2`},
			stats: Stats{Flows: 1, Shown: 1, Annotated: 1},
		},
		{
			name:  "a REDIRECT to a local port is the local server's socket",
			h:     Host{Connected: []Socket{{Proto: "tcp", Local: netip.MustParseAddrPort(host + ":8080"), Remote: netip.MustParseAddrPort("10.9.0.7:50000"), Process: "web"}}},
			flows: []Flow{flow("tcp", "ESTABLISHED", tuple("10.9.0.7:50000", host+":80"), tuple(host+":8080", "10.9.0.7:50000"))},
			stats: Stats{Flows: 1, Shown: 1},
		},
		{
			name:  "a closed loopback connection counts at both ends",
			h:     Host{Listeners: []snapshot.Listener{{Protocol: "tcp", Address: netip.MustParseAddr("127.0.0.1"), Port: 6379, Process: "redis"}}},
			flows: []Flow{flow("tcp", "TIME_WAIT", tuple("127.0.0.1:45000", "127.0.0.1:6379"), tuple("127.0.0.1:6379", "127.0.0.1:45000"))},
			want: []string{
				`downstream tcp/6379 127.0.0.1 "redis" sockets=0 flows=1 ended=1`,
				`upstream tcp/6379 127.0.0.1 "" sockets=0 flows=1 ended=1`,
			},
			stats: Stats{Flows: 1, Added: 2, Ended: 2},
		},
		{
			name: "planet's own fetches, unanswered attempts, UDP to a port no one serves, forwarded traffic",
			h:    Host{Own: map[netip.AddrPort]bool{netip.MustParseAddrPort("10.9.0.80:80"): true}},
			flows: []Flow{
				flow("tcp", "TIME_WAIT", tuple(host+":41000", "10.9.0.80:80"), tuple("10.9.0.80:80", host+":41000")),
				flow("tcp", "SYN_SENT", tuple(host+":41001", "10.9.0.81:80"), tuple("10.9.0.81:80", host+":41001")),
				flow("udp", "", tuple("10.9.0.2:5000", host+":9999"), tuple(host+":9999", "10.9.0.2:5000")),
				flow("tcp", "ESTABLISHED", tuple("10.7.0.1:41002", "10.7.0.2:443"), tuple("10.7.0.2:443", "10.7.0.1:41002")),
			},
			stats: Stats{Flows: 4, Own: 1, Unanswered: 2, Foreign: 1},
		},
		{
			name: "records stop at MaxRecords; flows into existing records still count",
			h:    Host{MaxRecords: 1},
			flows: []Flow{
				flow("udp", "", tuple(host+":41000", "10.9.0.1:53"), tuple("10.9.0.1:53", host+":41000")),
				flow("udp", "", tuple(host+":41001", "10.9.0.1:53"), tuple("10.9.0.1:53", host+":41001")),
				flow("udp", "", tuple(host+":41002", "10.9.0.2:53"), tuple("10.9.0.2:53", host+":41002")),
			},
			want:  []string{`upstream udp/53 10.9.0.1 "" sockets=0 flows=2 ended=0`},
			stats: Stats{Flows: 3, Added: 2, Dropped: 1},
		},
	}
	for _, tt := range tests {
		// Each case twice: the sockets given in Connected and
		// Unconnected, and handed over by LoadSockets at the first flow.
		for _, lazy := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/lazy=%v", tt.name, lazy), func(t *testing.T) {
				h := tt.h
				h.Local = map[netip.Addr]bool{netip.MustParseAddr(host): true}
				loads := 0
				if lazy {
					connected, unconnected := h.Connected, h.Unconnected
					h.Connected, h.Unconnected = nil, nil
					h.LoadSockets = func() ([]Socket, []Socket) { loads++; return connected, unconnected }
				}
				m := NewMerger(h)
				for i := range tt.flows {
					m.Add(&tt.flows[i])
				}
				conns, st := m.Result()
				if got := show(conns); !slices.Equal(got, tt.want) {
					t.Errorf("records\n got %q\nwant %q", got, tt.want)
				}
				stats := tt.stats
				if stats == (Stats{}) {
					stats = Stats{Flows: len(tt.flows), Added: len(tt.want)}
				}
				if st != stats {
					t.Errorf("stats %+v, want %+v", st, stats)
				}
				if want := min(len(tt.flows), 1); lazy && loads != want {
					t.Errorf("LoadSockets called %d times for %d flows, want %d", loads, len(tt.flows), want)
				}
			})
		}
	}
}
