package procfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSocketCount(t *testing.T) {
	for _, tt := range []struct {
		name          string
		sockstat, six string
		want          int
	}{
		{
			name: "both files",
			sockstat: "sockets: used 20017\nTCP: inuse 20004 orphan 0 tw 10000 alloc 20004 mem 170\n" +
				"UDP: inuse 7 mem 0\nUDPLITE: inuse 0\nRAW: inuse 1\nFRAG: inuse 0 memory 0\n",
			six:  "TCP6: inuse 3\nUDP6: inuse 2\nUDPLITE6: inuse 0\nRAW6: inuse 4\nFRAG6: inuse 0 memory 0\n",
			want: 20004 + 10000 + 7 + 3 + 2,
		},
		{name: "no IPv6", sockstat: "TCP: inuse 5 orphan 0 tw 1 alloc 5 mem 1\nUDP: inuse 2 mem 0\n", want: 8},
		{name: "neither file", want: 0},
		{name: "garbled", sockstat: "TCP: inuse x tw -3\nUDP: inuse\n", want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range map[string]string{"sockstat": tt.sockstat, "sockstat6": tt.six} {
				if body == "" {
					continue
				}
				if err := os.WriteFile(filepath.Join(root, "net", name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := (FS{Root: root}).SocketCount(); got != tt.want {
				t.Errorf("SocketCount = %d, want %d", got, tt.want)
			}
		})
	}
}
