package procfs

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// checkParsed fails t unless err contains wantErr, when that is set, or
// else err is nil and got equals want.
func checkParsed[T any](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseHexAddrPort(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "0100007F:0016", want: "127.0.0.1:22"},
		{in: "0500010A:1F90", want: "10.1.0.5:8080"},
		{in: "00000000:0000", want: "0.0.0.0:0"},
		{in: "00000000000000000000000001000000:238C", want: "[::1]:9100"},
		{in: "0000000000000000FFFF00000500010A:238C", want: "10.1.0.5:9100"}, // IPv4-mapped becomes IPv4
		{in: "000000FD000000000000000005000000:01BB", want: "[fd00::5]:443"},
		{in: "0100007F", wantErr: "no port"},
		{in: "0100007:0016", wantErr: "neither IPv4 nor IPv6"},
		{in: "0100007G:0016", wantErr: "invalid byte"},
		{in: "0100007F:1FFFF", wantErr: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseHexAddrPort([]byte(tt.in))
			checkParsed(t, got.String(), err, tt.want, tt.wantErr)
		})
	}
}

// Kernel socket states (include/net/tcp_states.h) the cases use.
const (
	stateEstablished = 1
	stateTimeWait    = 6
	stateListen      = 10
)

func TestParseNetSockets(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct {
		name    string
		in      string
		want    []Socket
		wantErr string
	}{
		{
			name: "listener and connection",
			in: header +
				"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n" +
				"   1: 0100007F:9C41 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1\n",
			want: []Socket{
				{State: stateListen, Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), Inode: 4242, UID: 1000},
				{State: stateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:40001"), Remote: netip.MustParseAddrPort("127.0.0.1:8080"), Inode: 4343},
			},
		},
		{
			name: "time wait has no inode",
			in:   header + "   0: 0100007F:9C41 0100007F:1F90 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0000000000000000\n",
			want: []Socket{{State: stateTimeWait, Local: netip.MustParseAddrPort("127.0.0.1:40001"), Remote: netip.MustParseAddrPort("127.0.0.1:8080")}},
		},
		{name: "header only", in: header},
		{name: "empty", in: ""},
		{name: "blank lines", in: header + "\n  \n"},
		{name: "short line", in: header + "   0: 0100007F:1F90 00000000:0000 0A\n", wantErr: "line 2: 4 fields"},
		{name: "bad state", in: header + "   0: 0100007F:1F90 00000000:0000 ZZ 0:0 0:0 0 0 0 1\n", wantErr: "line 2: state"},
		{name: "bad inode", in: header + "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 x\n", wantErr: "line 2: inode"},
		{name: "bad uid", in: header + "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 -1 0 7\n", wantErr: "line 2: uid"},
		{name: "bad remote", in: header + "   0: 0100007F:1F90 0000:0000 0A 0:0 0:0 0 0 0 7\n", wantErr: "line 2: remote address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNetSockets(strings.NewReader(tt.in))
			checkParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseFibTrieLocal(t *testing.T) {
	in := `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.1.0.0/24 2 0 2
        |-- 10.1.0.5
           /32 host LOCAL
        |-- 10.1.0.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
Local:
     |-- 10.1.0.5
        /32 host LOCAL
     |-- 192.0.2.7
        /24 link UNICAST
        /32 host LOCAL
     |-- not-an-ip
        /32 host LOCAL
`
	got, err := ParseFibTrieLocal(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.7")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseIfInet6(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []netip.Addr
		wantErr string
	}{
		{
			name: "addresses",
			in:   "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000005 02 40 00 80     eth0\n",
			want: []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("fd00::5")},
		},
		{name: "empty"},
		{name: "short address", in: "0001 01 80 10 80 lo\n", wantErr: "line 1"},
		{name: "not hex", in: "zz000000000000000000000000000001 01 80 10 80 lo\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIfInet6(strings.NewReader(tt.in))
			checkParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"32768\t60999\n", 32768, 60999, true},
		{"1024 65535", 1024, 65535, true},
		{"60999 32768", 0, 0, false},
		{"32768", 0, 0, false},
		{"a b", 0, 0, false},
		{"0 10", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, err := ParsePortRange(tt.in)
		if (err == nil) != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v", tt.in, lo, hi, err)
		}
	}
}

func TestSocketInode(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[]", 0, false},
		{"socket:[12a]", 0, false},
		{"pipe:[12345]", 0, false},
		{"/dev/null", 0, false},
		{"socket:[1", 0, false},
	}
	for _, tt := range tests {
		got, ok := socketInode([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("socketInode(%q) = %d, %v", tt.in, got, ok)
		}
	}
}
