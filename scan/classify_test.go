package scan

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/snapshot"
)

func sock(proto string, state uint8, local, remote string, inode uint64) Socket {
	return Socket{Protocol: proto, State: state, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), Inode: inode}
}

// summary renders classified records compactly for comparison.
func summary(c Classified) string {
	var b strings.Builder
	for _, l := range c.Listeners {
		fmt.Fprintf(&b, "L %s %s %q x%d\n", l.Protocol, l.Bind(), l.Process, l.Sockets)
	}
	for _, x := range c.Connections {
		fmt.Fprintf(&b, "C %s %s/%d %q %s x%d %v sent=%d recv=%d\n", x.Direction, x.Protocol, x.Port, x.Process, x.RemoteIP, x.Sockets, x.States, x.BytesSent, x.BytesReceived)
	}
	fmt.Fprintf(&b, "unowned=%d", c.Unowned)
	if c.Undirected > 0 {
		fmt.Fprintf(&b, " undirected=%d", c.Undirected)
	}
	return b.String()
}

// classifyCase is a table of sockets and their owners, and the summary of
// what Classify makes of them with the ephemeral range 32768-60999.
type classifyCase struct {
	name   string
	socks  []Socket
	owners map[uint64]Process // nil: the table's shared owners
	want   string
}

func runClassify(t *testing.T, owners map[uint64]Process, tests []classifyCase) {
	t.Helper()
	eph := PortRange{32768, 60999}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.owners
			if o == nil {
				o = owners
			}
			if got := summary(Classify(tt.socks, o, eph)); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	owners := map[uint64]Process{
		1: {PID: 1, Name: "sshd"}, 2: {PID: 2, Name: "node_exporter"}, 3: {PID: 3, Name: "web"}, 4: {PID: 4, Name: "dns"},
		10: {PID: 1, Name: "sshd"}, 11: {PID: 2, Name: "node_exporter"}, 12: {PID: 3, Name: "web"}, 13: {PID: 3, Name: "web"}, 14: {PID: 3, Name: "web"}, 15: {PID: 4, Name: "dns"},
	}
	runClassify(t, owners, []classifyCase{
		{
			name: "downstream on a wildcard listener, upstream elsewhere",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:22", "0.0.0.0:0", 1),
				sock("tcp", stateEstablished, "10.0.0.1:22", "10.0.0.9:50000", 10),
				sock("tcp", stateEstablished, "10.0.0.1:40000", "10.0.0.7:5432", 12),
			},
			want: `L tcp 0.0.0.0:22 "sshd" x1
C downstream tcp/22 "sshd" 10.0.0.9 x1 map[ESTABLISHED:1] sent=0 recv=0
C upstream tcp/5432 "web" 10.0.0.7 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "dual-stack listener takes IPv4 (unmapped) connections",
			socks: []Socket{
				sock("tcp", stateListen, "[::]:9100", "[::]:0", 2),
				sock("tcp", stateEstablished, "10.0.0.1:9100", "10.0.0.8:41000", 11),
			},
			want: `L tcp :::9100 "node_exporter" x1
C downstream tcp/9100 "node_exporter" 10.0.0.8 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "IPv4 wildcard listener does not take IPv6 connections",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:8080", "0.0.0.0:0", 3),
				sock("tcp", stateEstablished, "[fd00::1]:8080", "[fd00::2]:443", 12),
			},
			want: `L tcp 0.0.0.0:8080 "web" x1
C upstream tcp/443 "web" fd00::2 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "address-specific bind: a client on the same port number elsewhere is upstream",
			socks: []Socket{
				sock("tcp", stateListen, "127.0.0.1:40000", "0.0.0.0:0", 3),
				sock("tcp", stateEstablished, "10.0.0.1:40000", "10.0.0.7:5432", 12),
				sock("tcp", stateEstablished, "127.0.0.1:40000", "127.0.0.1:45000", 13),
			},
			want: `L tcp 127.0.0.1:40000 "web" x1
C downstream tcp/40000 "web" 127.0.0.1 x1 map[ESTABLISHED:1] sent=0 recv=0
C upstream tcp/5432 "web" 10.0.0.7 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "TIME_WAIT downstream takes the listener's process; upstream stays unnamed",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:22", "0.0.0.0:0", 1),
				sock("tcp", stateTimeWait, "10.0.0.1:22", "10.0.0.9:50000", 0),
				sock("tcp", stateEstablished, "10.0.0.1:22", "10.0.0.9:50001", 10),
				sock("tcp", stateTimeWait, "10.0.0.1:40000", "10.0.0.7:5432", 0),
			},
			want: `L tcp 0.0.0.0:22 "sshd" x1
C downstream tcp/22 "sshd" 10.0.0.9 x2 map[ESTABLISHED:1 TIME_WAIT:1] sent=0 recv=0
C upstream tcp/5432 "" 10.0.0.7 x1 map[TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "listener gone: a fixed local port with an ephemeral peer is still downstream",
			socks: []Socket{
				sock("tcp", stateTimeWait, "10.0.0.1:8443", "10.0.0.9:51000", 0),
			},
			want: `C downstream tcp/8443 "" 10.0.0.9 x1 map[TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "listener gone, lone socket, neither port ephemeral here: unknown, left out",
			socks: []Socket{
				sock("tcp", stateTimeWait, "10.0.0.1:8443", "10.0.0.9:62000", 0),
			},
			want: `unowned=0 undirected=1`,
		},
		{
			name: "listener gone, clients of another OS: the shared local port was served",
			socks: []Socket{
				sock("tcp", stateTimeWait, "10.0.0.1:8443", "10.0.0.9:62000", 0),
				sock("tcp", stateTimeWait, "10.0.0.1:8443", "10.0.0.9:62001", 0),
			},
			want: `C downstream tcp/8443 "" 10.0.0.9 x2 map[TIME_WAIT:2] sent=0 recv=0
unowned=0`,
		},
		{
			name: "a live client with a fixed source port calling a high port stays upstream",
			socks: []Socket{
				sock("tcp", stateEstablished, "10.0.0.1:700", "10.0.0.9:50051", 12),
				sock("tcp", stateTimeWait, "10.0.0.1:40000", "10.0.0.9:50051", 0),
			},
			want: `C upstream tcp/50051 "web" 10.0.0.9 x2 map[ESTABLISHED:1 TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "aggregation and byte counters",
			socks: []Socket{
				{Protocol: "tcp", State: stateEstablished, Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.7:5432"), Inode: 12, BytesAcked: 100, BytesReceived: 1000, HasBytes: true},
				{Protocol: "tcp", State: stateEstablished, Local: netip.MustParseAddrPort("10.0.0.1:40001"), Remote: netip.MustParseAddrPort("10.0.0.7:5432"), Inode: 13, BytesAcked: 5, BytesReceived: 7, HasBytes: true},
				sock("tcp", stateEstablished, "10.0.0.1:40002", "10.0.0.8:5432", 14),
			},
			want: `C upstream tcp/5432 "web" 10.0.0.7 x2 map[ESTABLISHED:2] sent=105 recv=1007
C upstream tcp/5432 "web" 10.0.0.8 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "states that are not dependencies are left out",
			socks: []Socket{
				sock("tcp", stateSynSent, "10.0.0.1:40000", "10.0.0.7:5432", 12),
				sock("tcp", stateSynRecv, "10.0.0.1:22", "10.0.0.7:40000", 0),
				sock("tcp", stateClose, "10.0.0.1:40001", "0.0.0.0:0", 13),
			},
			want: `unowned=0`,
		},
		{
			name: "UDP: fixed-port server, ephemeral client noise, connected client",
			socks: []Socket{
				sock("udp", stateClose, "0.0.0.0:53", "0.0.0.0:0", 4),
				sock("udp", stateClose, "0.0.0.0:41000", "0.0.0.0:0", 13),
				sock("udp", stateEstablished, "10.0.0.1:41001", "10.0.0.53:53", 12),
				sock("udp", stateEstablished, "10.0.0.1:53", "10.0.0.9:42000", 15),
			},
			want: `L udp 0.0.0.0:53 "dns" x1
C downstream udp/53 "dns" 10.0.0.9 x1 map[] sent=0 recv=0
C upstream udp/53 "web" 10.0.0.53 x1 map[] sent=0 recv=0
unowned=0`,
		},
		{
			name: "unknown owners are counted, TIME_WAIT is not",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:25", "0.0.0.0:0", 99),
				sock("tcp", stateEstablished, "10.0.0.1:40000", "10.0.0.7:5432", 98),
				sock("tcp", stateTimeWait, "10.0.0.1:40001", "10.0.0.7:5432", 0),
			},
			want: `L tcp 0.0.0.0:25 "" x1
C upstream tcp/5432 "" 10.0.0.7 x2 map[ESTABLISHED:1 TIME_WAIT:1] sent=0 recv=0
unowned=2`,
		},
		{
			name: "SO_REUSEPORT listeners aggregate",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:80", "0.0.0.0:0", 3),
				sock("tcp", stateListen, "0.0.0.0:80", "0.0.0.0:0", 12),
			},
			want: `L tcp 0.0.0.0:80 "web" x2
unowned=0`,
		},
	})
}

func TestMatchListenerPrefersExactBind(t *testing.T) {
	exact := &bind{l: &snapshot.Listener{Protocol: "tcp", Address: netip.MustParseAddr("10.0.0.1"), Port: 80, Process: "exact"}}
	wild := &bind{l: &snapshot.Listener{Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: 80, Process: "wild"}}
	wild6 := &bind{l: &snapshot.Listener{Protocol: "tcp", Address: netip.MustParseAddr("::"), Port: 80, Process: "wild6"}}
	bs := []*bind{wild6, wild, exact}
	conn := func(local string) *Socket {
		s := sock("tcp", stateEstablished, local, "10.9.9.9:40000", 1)
		return &s
	}
	for local, want := range map[string]string{"10.0.0.1:80": "exact", "10.0.0.2:80": "wild", "[fd00::1]:80": "wild6"} {
		if got := matchListener(bs, conn(local)); got == nil || got.Process != want {
			t.Errorf("matchListener(%s) = %v, want %s", local, got, want)
		}
	}
	if got := matchListener([]*bind{exact}, conn("10.0.0.2:80")); got != nil {
		t.Errorf("a specific bind matched another address: %v", got)
	}
}

// TestMatchListenerFamily: an accepted socket has its listener's family,
// and an IPV6_V6ONLY listener takes no IPv4 (issue 15, item 2).
func TestMatchListenerFamily(t *testing.T) {
	l6 := func(v6only bool, family uint8) *bind {
		return &bind{l: &snapshot.Listener{Protocol: "tcp", Address: netip.MustParseAddr("::"), Port: 9200, Process: "v6"}, family: family, v6only: v6only}
	}
	l4 := &bind{l: &snapshot.Listener{Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: 9200, Process: "v4"}, family: unix.AF_INET}
	conn := func(family uint8, local string) *Socket {
		s := sock("tcp", stateEstablished, local, "10.9.9.9:7003", 1)
		s.Family = family
		return &s
	}
	tests := []struct {
		name string
		bs   []*bind
		s    *Socket
		want string // "" for no listener
	}{
		{"IPv4 socket, v6only [::] listener", []*bind{l6(true, unix.AF_INET6)}, conn(unix.AF_INET, "127.0.0.1:9200"), ""},
		{"IPv4 socket, dual-stack [::] listener: another socket's family", []*bind{l6(false, unix.AF_INET6)}, conn(unix.AF_INET, "127.0.0.1:9200"), ""},
		{"mapped IPv4 on a dual-stack [::] listener", []*bind{l6(false, unix.AF_INET6)}, conn(unix.AF_INET6, "127.0.0.1:9200"), "v6"},
		{"mapped IPv4, v6only [::] listener", []*bind{l6(true, unix.AF_INET6)}, conn(unix.AF_INET6, "127.0.0.1:9200"), ""},
		{"IPv6 on a v6only [::] listener", []*bind{l6(true, unix.AF_INET6)}, conn(unix.AF_INET6, "[fd00::1]:9200"), "v6"},
		{"IPv4 socket next to both listeners", []*bind{l6(true, unix.AF_INET6), l4}, conn(unix.AF_INET, "127.0.0.1:9200"), "v4"},
		{"family unknown, v6only listener", []*bind{l6(true, 0)}, conn(0, "127.0.0.1:9200"), ""},
		{"family unknown, dual-stack listener", []*bind{l6(false, 0)}, conn(0, "127.0.0.1:9200"), "v6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if l := matchListener(tt.bs, tt.s); l != nil {
				got = l.Process
			}
			if got != tt.want {
				t.Errorf("matchListener = %q, want %q", got, tt.want)
			}
		})
	}
}
