package conntrack

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseLine(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		line string
		want Flow
		skip bool
		err  string
	}{
		{
			name: "tcp with counters",
			line: "ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.0.50 dst=10.1.0.5 sport=40000 dport=8443 packets=5 bytes=400 src=172.17.0.2 dst=10.9.0.50 sport=443 dport=40000 packets=4 bytes=3000 [ASSURED] mark=0 zone=0 use=2",
			want: Flow{Proto: "tcp", State: "ESTABLISHED", Assured: true, HasBytes: true, OrigBytes: 400, ReplyBytes: 3000,
				Orig:  Tuple{ap("10.9.0.50:40000"), ap("10.1.0.5:8443")},
				Reply: Tuple{ap("172.17.0.2:443"), ap("10.9.0.50:40000")}},
		},
		{
			name: "udp unreplied, no counters",
			line: "ipv4     2 udp      17 25 src=10.1.0.5 dst=10.9.0.53 sport=41000 dport=514 [UNREPLIED] src=10.9.0.53 dst=10.1.0.5 sport=514 dport=41000 mark=0 use=2",
			want: Flow{Proto: "udp", Unreplied: true,
				Orig:  Tuple{ap("10.1.0.5:41000"), ap("10.9.0.53:514")},
				Reply: Tuple{ap("10.9.0.53:514"), ap("10.1.0.5:41000")}},
		},
		{
			name: "ipv6 written in full",
			line: "ipv6     10 tcp      6 110 TIME_WAIT src=fd00:0000:0000:0000:0000:0000:0000:0005 dst=fd00:0000:0000:0000:0000:0000:0000:0009 sport=50000 dport=443 src=fd00:0000:0000:0000:0000:0000:0000:0009 dst=fd00:0000:0000:0000:0000:0000:0000:0005 sport=443 dport=50000 [ASSURED] mark=0 zone=0 use=2",
			want: Flow{Proto: "tcp", State: "TIME_WAIT", Assured: true,
				Orig:  Tuple{ap("[fd00::5]:50000"), ap("[fd00::9]:443")},
				Reply: Tuple{ap("[fd00::9]:443"), ap("[fd00::5]:50000")}},
		},
		{name: "icmp skipped", skip: true,
			line: "ipv4     2 icmp     1 29 src=10.1.0.5 dst=10.9.0.1 type=8 code=0 id=7 src=10.9.0.1 dst=10.1.0.5 type=0 code=0 id=7 mark=0 use=2"},
		{name: "unknown protocol skipped", skip: true, line: "ipv4     2 unknown  47 599 src=10.0.0.1 dst=10.0.0.2 src=10.0.0.2 dst=10.0.0.1 mark=0 use=2"},
		{name: "short", line: "ipv4 2 tcp", err: "fewer than 5 leading fields"},
		{name: "one tuple", line: "ipv4 2 udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2", err: "tuple 2 incomplete"},
		{name: "bad address", line: "ipv4 2 udp 17 30 src=10.0.0.256 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1", err: "src=10.0.0.256"},
		{name: "bad port", line: "ipv4 2 udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=70000 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1", err: "sport=70000: not a port"},
		{name: "dst first", line: "ipv4 2 udp 17 30 dst=10.0.0.2 src=10.0.0.1", err: "dst= before src="},
		{name: "three tuples", line: "ipv4 2 udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 src=10.0.0.3", err: "a third tuple"},
		{name: "family", line: "ipx 2 udp 17 30 src=10.0.0.1", err: `family "ipx"`},
		{name: "stray word", line: "ipv4 2 udp 17 30 WHAT src=10.0.0.1", err: `unexpected field "WHAT"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flow
			ok, err := parseLine([]byte(tt.line), &f)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok == tt.skip {
				t.Fatalf("parsed %v, want %v", ok, !tt.skip)
			}
			if !tt.skip && f != tt.want {
				t.Errorf("got  %+v\nwant %+v", f, tt.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	line := "ipv4 2 udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1\n"
	count := func(*Flow) error { return nil }

	st, err := Parse(context.Background(), strings.NewReader(strings.Repeat(line, 5)), "t", Limits{MaxEntries: 3}, count)
	if err != nil || !st.Truncated || st.Entries != 3 {
		t.Errorf("MaxEntries 3 of 5: %+v, %v; want 3 entries, truncated", st, err)
	}
	st, err = Parse(context.Background(), strings.NewReader(strings.Repeat(line, 3)), "t", Limits{MaxEntries: 3}, count)
	if err != nil || st.Truncated || st.Entries != 3 {
		t.Errorf("MaxEntries 3 of 3: %+v, %v; want 3 entries, whole", st, err)
	}
	long := line + strings.Repeat("x", 2000) + "\n"
	_, err = Parse(context.Background(), strings.NewReader(long), "t", Limits{}, count)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(err.Error(), "t: line 2: longer than 1024 bytes") {
		t.Errorf("long line: %v, want a ParseError at line 2", err)
	}
	_, err = Parse(context.Background(), strings.NewReader(line+"ipv4 2 udp\n"), "nf", Limits{}, count)
	if err == nil || err.Error() != "nf: line 2: fewer than 5 leading fields" {
		t.Errorf("malformed line: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Parse(ctx, strings.NewReader(strings.Repeat(line, 10000)), "t", Limits{}, count); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Scan(context.Background(), filepath.Join(dir, "nf_conntrack"), Host{}, Limits{}); !errors.Is(err, ErrNoTable) {
		t.Errorf("missing table: %v, want ErrNoTable", err)
	}
	if _, _, err := Scan(context.Background(), dir, Host{}, Limits{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		// A FIFO planted where the table should be must not block the scan.
		if _, _, err := Scan(context.Background(), fifo, Host{}, Limits{}); err == nil {
			t.Errorf("a FIFO: no error")
		}
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("ipv4 2 tcp 6\n"), 0o644)
	if _, _, err := Scan(context.Background(), bad, Host{}, Limits{}); err == nil || !strings.Contains(err.Error(), bad+": line 1:") {
		t.Errorf("malformed table: %v, want the file and line", err)
	}
}

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }
