//go:build e2e

package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
)

// mergeLab is a few namespaces scanned by planet and merged, for the merge
// rules that only live sockets show: the sockets are this test process's
// own, so every process name in the graph is this process's comm.
type mergeLab struct {
	t      *testing.T
	lab    *testnet.Lab
	self   string // this test binary (as-host helper)
	planet string
	dir    string // 0755: a scan without root reads the inventory here
	inv    string // inventory file
	config string // an empty config: no machine config is read
	snaps  string // the snapshots merge reads
	comm   string // this process's name, as planet reports it
}

func newMergeLab(t *testing.T, planet string) *mergeLab {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A scan as nobody reads the inventory: open the test's directories
	// to it (they hold nothing else).
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := &mergeLab{t: t, lab: testnet.New(t), self: self, planet: planet, dir: dir,
		inv: filepath.Join(dir, "inventory.json"), snaps: filepath.Join(dir, "snapshots"),
		config: filepath.Join(dir, "planet.yaml"), comm: strings.TrimSpace(string(comm))}
	if err := os.WriteFile(m.config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(m.snaps, 0o755); err != nil {
		t.Fatal(err)
	}
	return m
}

// inventory writes the inventory: each port's addresses to its hostgroup.
func (m *mergeLab) inventory(groups map[string][]testnet.Port) {
	m.t.Helper()
	type entry struct {
		IP        string `json:"ip_address"`
		Hostgroup string `json:"hostgroup"`
	}
	var entries []entry
	for g, ports := range groups {
		for _, p := range ports {
			entries = append(entries, entry{p.IPv4.Addr().String(), g}, entry{p.IPv6.Addr().String(), g})
		}
	}
	b, err := json.Marshal(entries)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(m.inv, b, 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// scan runs `planet scan` in h with hostname name (as nobody when
// asNobody) and keeps its snapshot for merge.
func (m *mergeLab) scan(h *testnet.Host, name string, asNobody bool) {
	m.t.Helper()
	args := []string{name}
	if asNobody {
		setpriv := testenv.NeedCommand(m.t, "setpriv", "util-linux")
		args = append(args, setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups")
	}
	args = append(args, m.planet, "scan", "--config", m.config, "--inventory", m.inv, "--timeout", "5s", "-o", "-")
	cmd := h.Command(m.self, args...)
	cmd.Env = append(cleanEnv(), helperEnv+"="+modeAsHost, "HOME=/nonexistent", "XDG_CONFIG_HOME=/nonexistent")
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		m.t.Fatalf("planet scan in %s: %v\n%s", name, err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(m.snaps, name+".json"), stdout.Bytes(), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// merge runs `planet merge` on the snapshots and returns the graph, merge's
// standard error and the table render shows.
func (m *mergeLab) merge() (*graph.Graph, string, string) {
	m.t.Helper()
	out := filepath.Join(m.dir, "graph.json")
	run := func(args ...string) (string, string) {
		cmd := exec.Command(m.planet, args...)
		cmd.Env = append(cleanEnv(), "HOME=/nonexistent", "XDG_CONFIG_HOME=/nonexistent")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			m.t.Fatalf("planet %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	_, mergeErr := run("--config", m.config, "merge", m.snaps, "-o", out)
	table, _ := run("--config", m.config, "render", "-f", "table", out)
	b, err := os.ReadFile(out)
	if err != nil {
		m.t.Fatal(err)
	}
	g, err := graph.Parse(b, out)
	if err != nil {
		m.t.Fatal(err)
	}
	return g, mergeErr, table
}

func (m *mergeLab) edge(g *graph.Graph, from, to, proto string, port uint16) *graph.Edge {
	m.t.Helper()
	for _, e := range g.EdgesBetween(from, to) {
		if e.Protocol == proto && e.Port == port {
			return e
		}
	}
	var all []string
	for _, e := range g.Edges {
		all = append(all, e.String())
	}
	m.t.Fatalf("no edge %s -> %s %s/%d; edges: %q", from, to, proto, port, all)
	return nil
}

// listenTCP serves address in h: each connection is read to its end and
// closed. It returns a channel that gets a value per connection closed.
func listenTCP(t *testing.T, h *testnet.Host, address string) <-chan struct{} {
	t.Helper()
	ln, err := h.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed := make(chan struct{}, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				closed <- struct{}{}
			}()
		}
	}()
	return closed
}

// dialTCP opens n connections from h to address and holds them open.
func dialTCP(t *testing.T, h *testnet.Host, address string, n int) []net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns []net.Conn
	for range n {
		c, err := h.DialContext(ctx, "tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// TestMergeLive checks on live sockets in namespaces the merge rules that
// need both ends' snapshots: server processes from listeners, partial scans
// of a hostgroup, IPv6 link-local peers, and scans without root.
func TestMergeLive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds namespaces and runs planet in them")
	}
	testenv.NeedRoot(t)
	planet := buildPlanet(t, t.TempDir())

	t.Run("connected UDP client: server process from the server's listener", func(t *testing.T) {
		m := newMergeLab(t, planet)
		c, s := m.lab.Host("cli"), m.lab.Host("srv")
		pc, ps := m.lab.Link(c, s)
		m.inventory(map[string][]testnet.Port{"app": {pc}, "cache": {ps}})
		var srv net.PacketConn
		if err := s.Do(func() (err error) { srv, err = net.ListenPacket("udp4", "0.0.0.0:8125"); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cli, err := c.DialContext(ctx, "udp", netip.AddrPortFrom(ps.IPv4.Addr(), 8125).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		if _, err := cli.Write([]byte("metric:1|c")); err != nil {
			t.Fatal(err)
		}
		m.scan(c, "app-1", false)
		m.scan(s, "cache-1", false)
		g, _, _ := m.merge()
		e := m.edge(g, "app", "cache", "udp", 8125)
		if !slices.Equal(e.Names().ServerProcesses, []string{m.comm}) || e.SeenFrom != graph.SeenClient {
			t.Errorf("%s: server processes %q, seen from %s; want [%s], client", e, e.Names().ServerProcesses, e.SeenFrom, m.comm)
		}
	})

	t.Run("client closes first: server process from the server's listener", func(t *testing.T) {
		m := newMergeLab(t, planet)
		c, s := m.lab.Host("cli"), m.lab.Host("srv")
		pc, ps := m.lab.Link(c, s)
		m.inventory(map[string][]testnet.Port{"app": {pc}, "api": {ps}})
		closed := listenTCP(t, s, "0.0.0.0:8000")
		for _, conn := range dialTCP(t, c, netip.AddrPortFrom(ps.IPv4.Addr(), 8000).String(), 2) {
			conn.Close()
		}
		for range 2 {
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the server did not close its side")
			}
		}
		m.scan(c, "app-1", false)
		m.scan(s, "api-1", false)
		g, _, _ := m.merge()
		e := m.edge(g, "app", "api", "tcp", 8000)
		if !slices.Equal(e.Names().ServerProcesses, []string{m.comm}) || len(e.Names().ClientProcesses) != 0 {
			t.Errorf("%s: processes %q -> %q; want none -> [%s] (the client's side is TIME_WAIT)", e, e.Names().ClientProcesses, e.Names().ServerProcesses, m.comm)
		}
	})

	t.Run("hostgroups partly scanned: host pairs summed", func(t *testing.T) {
		m := newMergeLab(t, planet)
		m1, m2, s1, s2 := m.lab.Host("m1"), m.lab.Host("m2"), m.lab.Host("s1"), m.lab.Host("s2")
		ports := m.lab.Switch(m1, m2, s1, s2)
		m.inventory(map[string][]testnet.Port{"clients": ports[:2], "db": ports[2:]})
		listenTCP(t, s1, "0.0.0.0:5432")
		listenTCP(t, s2, "0.0.0.0:5432")
		dialTCP(t, m1, netip.AddrPortFrom(ports[2].IPv4.Addr(), 5432).String(), 25)
		dialTCP(t, m2, netip.AddrPortFrom(ports[3].IPv4.Addr(), 5432).String(), 10)
		m.scan(m1, "m1", false)
		m.scan(s2, "s2", false)
		g, _, _ := m.merge()
		e := m.edge(g, "clients", "db", "tcp", 5432)
		if e.Sockets != 35 || e.SeenFrom != graph.SeenMixed || e.ClientHosts != 2 || e.ServerHosts != 2 {
			t.Errorf("%s: %d sockets, seen from %s, hosts %d -> %d; want 35 (25 seen by m1 + 10 by s2), mixed, 2 -> 2",
				e, e.Sockets, e.SeenFrom, e.ClientHosts, e.ServerHosts)
		}
	})

	t.Run("IPv6 link-local peers resolve to the scanned hosts", func(t *testing.T) {
		m := newMergeLab(t, planet)
		c, s := m.lab.Host("cli"), m.lab.Host("srv")
		pc, ps := m.lab.Link(c, s)
		m.inventory(map[string][]testnet.Port{"ll-client": {pc}, "ll-server": {ps}})
		c.IP("addr", "add", "fe80::c1/64", "dev", pc.Dev, "nodad")
		s.IP("addr", "add", "fe80::5e/64", "dev", ps.Dev, "nodad")
		listenTCP(t, s, "[::]:8080")
		dialTCP(t, c, "[fe80::5e%"+pc.Dev+"]:8080", 1)
		m.scan(c, "ll-client-1", false)
		m.scan(s, "ll-server-1", false)
		g, _, _ := m.merge()
		e := m.edge(g, "ll-client", "ll-server", "tcp", 8080)
		if e.SeenFrom != graph.SeenBoth || e.Sockets != 1 {
			t.Errorf("%s: seen from %s, %d sockets; want both, 1", e, e.SeenFrom, e.Sockets)
		}
		for _, n := range g.Nodes {
			if n.Kind == graph.KindExternal {
				t.Errorf("external node %s: a link-local peer did not resolve", n.ID)
			}
		}
	})

	t.Run("a scan without root is named in the graph, on stderr and in the table", func(t *testing.T) {
		m := newMergeLab(t, planet)
		c, s := m.lab.Host("cli"), m.lab.Host("srv")
		pc, ps := m.lab.Link(c, s)
		m.inventory(map[string][]testnet.Port{"client": {pc}, "svc": {ps}})
		listenTCP(t, s, "0.0.0.0:8080")
		dialTCP(t, c, netip.AddrPortFrom(ps.IPv4.Addr(), 8080).String(), 1)
		m.scan(c, "client-1", false)
		m.scan(s, "svc-1", true)
		g, stderr, table := m.merge()
		if n := g.Node("svc"); n == nil || !slices.Equal(n.IncompleteHosts, []string{"svc-1"}) || n.UnownedSockets == 0 {
			t.Errorf("node svc: %+v; want incomplete_hosts [svc-1] and unowned sockets", n)
		}
		if n := g.Node("client"); n == nil || len(n.IncompleteHosts) != 0 {
			t.Errorf("node client, scanned as root: %+v", n)
		}
		if !strings.Contains(stderr, "svc-1") || !strings.Contains(stderr, "could not see") {
			t.Errorf("merge's stderr does not name the incomplete scan:\n%s", stderr)
		}
		if !strings.Contains(table, "INCOMPLETE SCANS") || !strings.Contains(table, "svc-1") {
			t.Errorf("the table does not name the incomplete scan:\n%s", table)
		}
		e := m.edge(g, "client", "svc", "tcp", 8080)
		if len(e.Names().ServerProcesses) != 0 {
			t.Errorf("%s: server processes %q from a scan that could not see them", e, e.Names().ServerProcesses)
		}
	})
}
