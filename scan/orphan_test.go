package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestClassifyTableEvidence: the direction of ownerless closing sockets
// with no listener comes from the whole table (issue 15, item 4), a
// client's closing sockets go to the one process with live ones to that
// peer and port (item 5), and a listener held by several processes is named
// after the one that serves it (item 3).
func TestClassifyTableEvidence(t *testing.T) {
	// n server-side TIME_WAIT sockets on local port `port`, from clients
	// at 10.0.0.9 with ports from `from`.
	served := func(port, from, n int) []Socket {
		var out []Socket
		for i := range n {
			out = append(out, sock("tcp", stateTimeWait, fmt.Sprintf("10.0.0.1:%d", port), fmt.Sprintf("10.0.0.9:%d", from+i), 0))
		}
		return out
	}
	runClassify(t, map[uint64]Process{}, []classifyCase{
		{
			name:  "server on an ephemeral port restarted: 2000 clients are one downstream record",
			socks: served(40000, 41000, 2000),
			want: `C downstream tcp/40000 "" 10.0.0.9 x2000 map[TIME_WAIT:2000] sent=0 recv=0
unowned=0`,
		},
		{
			name:  "server below the range, clients on reserved ports (NFS): the port served, not the lower one",
			socks: served(2049, 700, 3),
			want: `C downstream tcp/2049 "" 10.0.0.9 x3 map[TIME_WAIT:3] sent=0 recv=0
unowned=0`,
		},
		{
			name:  "server above the range: still the shared port",
			socks: served(62000, 33000, 2),
			want: `C downstream tcp/62000 "" 10.0.0.9 x2 map[TIME_WAIT:2] sent=0 recv=0
unowned=0`,
		},
		{
			name: "a client port the kernel reused for two servers stays a client's, however many peers it has",
			socks: append(served(42637, 33050, 50), // 10.0.0.9:33070 is one of these clients...
				sock("tcp", stateTimeWait, "10.0.0.1:44345", "10.0.0.9:33070", 0)), // ...and of this server
			want: `C downstream tcp/42637 "" 10.0.0.9 x50 map[TIME_WAIT:50] sent=0 recv=0
C downstream tcp/44345 "" 10.0.0.9 x1 map[TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "client of a service on an ephemeral port: many local ports to one endpoint",
			socks: []Socket{
				sock("tcp", stateTimeWait, "10.0.0.1:45000", "10.0.0.9:50051", 0),
				sock("tcp", stateTimeWait, "10.0.0.1:45001", "10.0.0.9:50051", 0),
				sock("tcp", stateTimeWait, "10.0.0.1:45002", "10.0.0.9:50051", 0),
			},
			want: `C upstream tcp/50051 "" 10.0.0.9 x3 map[TIME_WAIT:3] sent=0 recv=0
unowned=0`,
		},
		{
			name: "lone socket, both ports ephemeral: unknown, no record with a client's port",
			socks: []Socket{
				sock("tcp", stateTimeWait, "10.0.0.1:45000", "10.0.0.9:50051", 0),
			},
			want: `unowned=0 undirected=1`,
		},
		{
			name: "lone socket, our port in our range, theirs not: our client port",
			socks: []Socket{
				sock("tcp", stateTimeWait, "10.0.0.1:45000", "10.0.0.9:443", 0),
			},
			want: `C upstream tcp/443 "" 10.0.0.9 x1 map[TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "connection on this host: the other end was accepted by a listener, so this one is the client",
			socks: []Socket{
				sock("tcp", stateListen, "127.0.0.1:45001", "0.0.0.0:0", 1),
				sock("tcp", stateEstablished, "127.0.0.1:45001", "127.0.0.1:45000", 2),
				sock("tcp", stateTimeWait, "127.0.0.1:45000", "127.0.0.1:45001", 0),
			},
			owners: map[uint64]Process{1: {PID: 5, Name: "srv"}, 2: {PID: 5, Name: "srv"}},
			want: `L tcp 127.0.0.1:45001 "srv" x1
C downstream tcp/45001 "srv" 127.0.0.1 x1 map[ESTABLISHED:1] sent=0 recv=0
C upstream tcp/45001 "" 127.0.0.1 x1 map[TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "client TIME_WAIT joins the one process with live sockets to that peer and port",
			socks: []Socket{
				sock("tcp", stateEstablished, "10.0.0.1:40000", "10.0.0.7:5432", 1),
				sock("tcp", stateTimeWait, "10.0.0.1:40001", "10.0.0.7:5432", 0),
				sock("tcp", stateTimeWait, "10.0.0.1:40002", "10.0.0.7:5432", 0),
				sock("tcp", stateTimeWait, "10.0.0.1:40003", "10.0.0.8:5432", 0), // another peer: nobody's
			},
			owners: map[uint64]Process{1: {PID: 7, Name: "api"}},
			want: `C upstream tcp/5432 "api" 10.0.0.7 x3 map[ESTABLISHED:1 TIME_WAIT:2] sent=0 recv=0
C upstream tcp/5432 "" 10.0.0.8 x1 map[TIME_WAIT:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "two processes with live sockets to the peer: a TIME_WAIT is neither's",
			socks: []Socket{
				sock("tcp", stateEstablished, "10.0.0.1:40000", "10.0.0.7:5432", 1),
				sock("tcp", stateEstablished, "10.0.0.1:40001", "10.0.0.7:5432", 2),
				sock("tcp", stateTimeWait, "10.0.0.1:40002", "10.0.0.7:5432", 0),
			},
			owners: map[uint64]Process{1: {PID: 7, Name: "api"}, 2: {PID: 8, Name: "backup"}},
			want: `C upstream tcp/5432 "" 10.0.0.7 x1 map[TIME_WAIT:1] sent=0 recv=0
C upstream tcp/5432 "api" 10.0.0.7 x1 map[ESTABLISHED:1] sent=0 recv=0
C upstream tcp/5432 "backup" 10.0.0.7 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "socket activation: PID 1 and sshd hold the listener; sshd serves it, TIME_WAIT too",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:22", "0.0.0.0:0", 1),
				sock("tcp", stateEstablished, "10.0.0.1:22", "10.0.0.9:50100", 2),
				sock("tcp", stateTimeWait, "10.0.0.1:22", "10.0.0.8:50200", 0),
			},
			// as ProcFS.Owners gives them: the manager is never the owner
			owners: map[uint64]Process{
				1: ownerOf([]Process{{PID: 1, Name: "systemd"}, {PID: 812, Name: "sshd"}}),
				2: {PID: 812, Name: "sshd"},
			},
			want: `L tcp 0.0.0.0:22 "sshd" x1
C downstream tcp/22 "sshd" 10.0.0.8 x1 map[TIME_WAIT:1] sent=0 recv=0
C downstream tcp/22 "sshd" 10.0.0.9 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "a shared listener is named after the holder of its accepted connections",
			socks: []Socket{
				sock("tcp", stateListen, "127.0.0.1:2222", "0.0.0.0:0", 1),
				sock("tcp", stateEstablished, "127.0.0.1:2222", "127.0.0.1:40000", 2),
			},
			// a manager that is not PID 1 (a user's systemd, or a look-alike) with a lower PID
			owners: map[uint64]Process{
				1: ownerOf([]Process{{PID: 100, Name: "launcher"}, {PID: 101, Name: "daemon"}}),
				2: {PID: 101, Name: "daemon"},
			},
			want: `L tcp 127.0.0.1:2222 "daemon" x1
C downstream tcp/2222 "daemon" 127.0.0.1 x1 map[ESTABLISHED:1] sent=0 recv=0
unowned=0`,
		},
		{
			name: "pre-fork server: master and workers, one listener record",
			socks: []Socket{
				sock("tcp", stateListen, "0.0.0.0:80", "0.0.0.0:0", 1),
				sock("tcp", stateEstablished, "10.0.0.1:80", "10.0.0.9:50300", 2),
				sock("tcp", stateEstablished, "10.0.0.1:80", "10.0.0.9:50301", 3),
			},
			owners: map[uint64]Process{
				1: ownerOf([]Process{{PID: 1186, Name: "nginx"}, {PID: 1187, Name: "nginx"}, {PID: 1188, Name: "nginx"}}),
				2: {PID: 1187, Name: "nginx"},
				3: {PID: 1188, Name: "nginx"},
			},
			want: `L tcp 0.0.0.0:80 "nginx" x1
C downstream tcp/80 "nginx" 10.0.0.9 x2 map[ESTABLISHED:2] sent=0 recv=0
unowned=0`,
		},
	})
}

func TestOwnerOf(t *testing.T) {
	tests := []struct {
		holders []Process
		want    int
		others  int
	}{
		{[]Process{{PID: 1, Name: "systemd"}, {PID: 812, Name: "sshd"}}, 812, 1},
		{[]Process{{PID: 900, Name: "systemd"}, {PID: 901, Name: "cupsd"}}, 901, 1},
		{[]Process{{PID: 1, Name: "systemd"}}, 1, 0},
		{[]Process{{PID: 10, Name: "nginx"}, {PID: 11, Name: "nginx"}}, 10, 1},
	}
	for _, tt := range tests {
		got := ownerOf(tt.holders)
		if got.PID != tt.want || len(got.Others) != tt.others {
			t.Errorf("ownerOf(%v) = %+v, want PID %d with %d others", tt.holders, got, tt.want, tt.others)
		}
	}
}

// TestOwnersShared: every holder of a socket is found, in one pass over a
// fixture /proc; the owner is the first that is not a service manager.
func TestOwnersShared(t *testing.T) {
	root := t.TempDir()
	procs := map[int]struct {
		comm string
		fds  []uint64
	}{
		1:    {"systemd", []uint64{1001}},
		812:  {"sshd", []uint64{1001, 2001, 2001}}, // one socket on two fds
		1186: {"nginx", []uint64{1002}},
		1187: {"nginx", []uint64{1002, 2002}},
		1300: {"other", []uint64{3003}},
	}
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(p.comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for i, ino := range p.fds {
			if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, "fd", strconv.Itoa(i+3))); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[uint64]struct{}{1001: {}, 1002: {}, 2001: {}, 2002: {}}
	owners, err := ProcFS{Root: root}.Owners(want)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]string{}
	for ino, p := range owners {
		s := fmt.Sprintf("%d %s", p.PID, p.Name)
		for _, o := range p.Others {
			s += fmt.Sprintf(" +%d %s", o.PID, o.Name)
		}
		got[ino] = s
	}
	exp := map[uint64]string{
		1001: "812 sshd +1 systemd",
		1002: "1186 nginx +1187 nginx",
		2001: "812 sshd",
		2002: "1187 nginx",
	}
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("owners:\n got %v\nwant %v", got, exp)
	}
}
