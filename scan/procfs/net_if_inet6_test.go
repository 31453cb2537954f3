package procfs

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseIfInet6LinkLocal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{
			name: "link-local addresses keep their interface",
			in: "00000000000000000000000000000001 01 80 10 80       lo\n" +
				"fd000000000000000000000000000005 02 40 00 80     eth0\n" +
				"fe800000000000000000000000000002 03 40 20 80     eth1\n" +
				"fe800000000000000000000000000001 02 40 20 80     eth0\n",
			want: []string{"fe80::1%eth0", "fe80::2%eth1"},
		},
		{name: "none", in: "00000000000000000000000000000001 01 80 10 80       lo\n"},
		{name: "empty"},
		{name: "no interface", in: "fe800000000000000000000000000001 02 40 20 80\n", wantErr: "line 1"},
		{name: "odd interface name", in: "fe800000000000000000000000000001 02 40 20 80 eth%0\n", wantErr: "line 1"},
		{name: "interface name too long", in: "fe800000000000000000000000000001 02 40 20 80 " + strings.Repeat("e", 16) + "\n", wantErr: "line 1"},
		{name: "bad address", in: "fe80 02 40 20 80 eth0\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIfInet6LinkLocal(strings.NewReader(tt.in))
			var want []netip.Addr
			for _, w := range tt.want {
				want = append(want, netip.MustParseAddr(w))
			}
			checkParsed(t, got, err, want, tt.wantErr)
		})
	}
}

func TestLinkLocalAddressesWithoutIPv6(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FS{Root: root}.IfInet6LinkLocal()
	if err != nil || got != nil {
		t.Fatalf("no if_inet6: %v, %v; want none and no error", got, err)
	}
}
