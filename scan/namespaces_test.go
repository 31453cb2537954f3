package scan

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/scan/workload"
	"github.com/planetdeps/planet/snapshot"
)

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// tcpLine is one /proc/net/tcp row (IPv4 in the kernel's little-endian hex).
func tcpLine(local, remote string, state, inode int) string {
	hexAP := func(s string) string {
		ap := netip.MustParseAddrPort(s)
		b := ap.Addr().As4()
		return strings.ToUpper(hexByte(b[3])+hexByte(b[2])+hexByte(b[1])+hexByte(b[0])) + ":" + strings.ToUpper(hex16(ap.Port()))
	}
	return "   0: " + hexAP(local) + " " + hexAP(remote) + " " + strings.ToUpper(hexByte(byte(state))) +
		" 00000000:00000000 00:00000000 00000000     0        0 " + strconv.Itoa(inode) + " 1 0000000000000000 100 0 0 10 0\n"
}

func hexByte(b byte) string { const d = "0123456789abcdef"; return string([]byte{d[b>>4], d[b&15]}) }
func hex16(p uint16) string { return hexByte(byte(p>>8)) + hexByte(byte(p)) }
func fibTrie(addrs ...string) string {
	var b strings.Builder
	b.WriteString("Main:\n  +-- 0.0.0.0/0 3 0 5\n")
	for _, a := range addrs {
		b.WriteString("     |-- " + a + "\n        /32 host LOCAL\n")
	}
	return b.String()
}

// procTree writes files (path -> content; content "->X" makes a symlink to
// X, "dir" a directory) under a temporary root.
func procTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(c, "->"):
			err = os.Symlink(c[2:], full)
		case c == "dir":
			err = os.MkdirAll(full, 0o755)
		default:
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestNamespacesFixture: a host with a service calling its own container
// over the bridge. Both ends are found, each in its namespace with its
// workload; a namespace whose processes are gone is skipped silently, an
// unreadable one is counted in sources.
func TestNamespacesFixture(t *testing.T) {
	id := strings.Repeat("ab", 32)
	root := procTree(t, map[string]string{
		"sys/kernel/hostname":              "docker-1\n",
		"sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
		"self":                             "->100",
		"net/fib_trie":                     fibTrie("10.1.0.5", "172.17.0.1"),
		"net/tcp":                          tcpHeader + tcpLine("172.17.0.1:40000", "172.17.0.2:80", 1, 1001),
		"net/udp":                          tcpHeader,
		"100/ns/net":                       "->net:[1]",
		"100/comm":                         "app\n",
		"100/cmdline":                      "/usr/bin/app\x00--serve\x00",
		"100/cgroup":                       "0::/system.slice/app.service\n",
		"100/fd/3":                         "->socket:[1001]",
		// The container: nginx listening on :80, one accepted connection.
		"200/ns/net":       "->net:[2]",
		"200/comm":         "nginx\n",
		"200/cmdline":      "nginx: master process\x00",
		"200/cgroup":       "0::/system.slice/docker-" + id + ".scope\n",
		"200/fd/3":         "->socket:[2001]",
		"200/fd/4":         "->socket:[2002]",
		"200/net/tcp":      tcpHeader + tcpLine("0.0.0.0:80", "0.0.0.0:0", 10, 2001) + tcpLine("172.17.0.2:80", "172.17.0.1:40000", 1, 2002),
		"200/net/udp":      tcpHeader,
		"200/net/fib_trie": fibTrie("172.17.0.2"),
		// Gone: its net directory vanished with it.
		"300/ns/net": "->net:[3]",
		// Unreadable: its tcp table is not a file.
		"400/ns/net":       "->net:[4]",
		"400/net/tcp":      "dir",
		"400/net/fib_trie": fibTrie(),
	})
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "containers", id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "containers", id, "config.v2.json"), []byte(`{"Name":"/web"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), Options{
		ProcRoot:  root,
		Version:   "test",
		Workloads: &workload.Resolver{DockerRoot: state, PodmanRoot: "-", PodLogRoot: "-", CtrLogRoot: "-"},
		Now:       func() time.Time { return time.Unix(0, 1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	wantConns := []snapshot.Connection{
		{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: a("172.17.0.1"), Sockets: 1,
			States: map[string]int{"ESTABLISHED": 1}, Workload: "docker/web", Netns: 2},
		{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "app", RemoteIP: a("172.17.0.2"), Sockets: 1,
			States: map[string]int{"ESTABLISHED": 1}, Workload: "app.service", Netns: 1},
	}
	if !reflect.DeepEqual(s.Connections, wantConns) {
		t.Errorf("connections:\n got %+v\nwant %+v", s.Connections, wantConns)
	}
	wantLs := []snapshot.Listener{{Protocol: "tcp", Address: a("0.0.0.0"), Port: 80, Process: "nginx", Sockets: 1, Workload: "docker/web", Netns: 2}}
	if !reflect.DeepEqual(s.Listeners, wantLs) {
		t.Errorf("listeners:\n got %+v\nwant %+v", s.Listeners, wantLs)
	}
	var inodes []uint64
	for _, ns := range s.Namespaces {
		inodes = append(inodes, ns.Inode)
	}
	if !reflect.DeepEqual(inodes, []uint64{1, 2, 4}) {
		t.Errorf("namespaces %v, want [1 2 4] (3 vanished)", inodes)
	}
	if ns := s.Namespaces[1]; ns.PID != 200 || ns.Source != "proc" || !reflect.DeepEqual(ns.Addresses, []netip.Addr{a("172.17.0.2")}) || ns.Sockets != 2 {
		t.Errorf("container namespace %+v", ns)
	}
	if ns := s.Namespaces[2]; ns.Error == "" {
		t.Errorf("unreadable namespace %+v has no error", ns)
	}
	src, _ := s.Source(snapshot.SourceNamespaces)
	if src.OK || !strings.Contains(src.Error, "net:[4] (pid 400)") || !strings.Contains(src.Detail, "1 from /proc/<pid>/net without byte counters") {
		t.Errorf("namespaces source %+v", src)
	}
	wantWl := []snapshot.Workload{
		{Name: "app.service", Unit: "app.service", Processes: []snapshot.Process{{Name: "app", Command: "/usr/bin/app --serve", PIDs: 1}}},
		{Name: "docker/web", Runtime: "docker", ContainerID: id, ContainerName: "web", Processes: []snapshot.Process{{Name: "nginx", Command: "nginx: master process", PIDs: 1}}},
	}
	if !reflect.DeepEqual(s.Workloads, wantWl) {
		t.Errorf("workloads:\n got %+v\nwant %+v", s.Workloads, wantWl)
	}
	if got := s.PrivateAddresses(); !reflect.DeepEqual(got, []netip.Addr{a("172.17.0.2")}) {
		t.Errorf("private addresses %v", got)
	}

	own, err := Run(context.Background(), Options{ProcRoot: root, Namespaces: NamespacesOwn, Now: time.Now,
		Workloads: &workload.Resolver{DockerRoot: "-", PodmanRoot: "-", PodLogRoot: "-", CtrLogRoot: "-"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Namespaces) != 1 || len(own.Connections) != 1 {
		t.Errorf("--netns own: %d namespaces, %d connections; want the host's only", len(own.Namespaces), len(own.Connections))
	}
	// Started inside a namespace that is not PID 1's (nsenter, ip netns
	// exec): by default, that namespace is the host scanned.
	if err := os.MkdirAll(filepath.Join(root, "1", "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:[2]", filepath.Join(root, "1", "ns", "net")); err != nil {
		t.Fatal(err)
	}
	auto, err := Run(context.Background(), Options{ProcRoot: root, Now: time.Now,
		Workloads: &workload.Resolver{DockerRoot: "-", PodmanRoot: "-", PodLogRoot: "-", CtrLogRoot: "-"}})
	if err != nil {
		t.Fatal(err)
	}
	src, _ = auto.Source(snapshot.SourceNamespaces)
	if len(auto.Namespaces) != 1 || !src.OK || !strings.Contains(src.Detail, "not the host's (PID 1's, net:[2])") {
		t.Errorf("auto, not in PID 1's namespace: %d namespaces, source %+v; want the own one, said so", len(auto.Namespaces), src)
	}
	all, err := Run(context.Background(), Options{ProcRoot: root, Namespaces: NamespacesAll, Now: time.Now,
		Workloads: &workload.Resolver{DockerRoot: "-", PodmanRoot: "-", PodLogRoot: "-", CtrLogRoot: "-"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Namespaces) != 3 {
		t.Errorf("--netns all: %d namespaces, want 3", len(all.Namespaces))
	}
	if _, err := Run(context.Background(), Options{ProcRoot: root, Namespaces: "some"}); err == nil {
		t.Error("namespaces \"some\" accepted")
	}
}
