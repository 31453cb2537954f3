package scan

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// TestWindowPublishedPort: a docker-like machine publishes its container's
// port 80 as its own 8080 (a real iptables DNAT), and a client elsewhere
// (not scanned) uses it during a window of the machine's scan: five short
// connections that end within the window and one long-lived connection
// alive at both ends. The container's sockets are on port 80; conntrack
// names the dependency by the published port 8080. Each connection must be
// in one record, the published port's, whether the window saw it end or
// the end scan saw it alive: no record of port 80 for that client beside
// it. Needs root.
func TestWindowPublishedPort(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s window in network namespaces")
	}
	lab := testnet.New(t)
	testenv.NeedCommand(t, "iptables", "iptables")
	user, docker, shop := lab.Host("user"), lab.Host("docker"), lab.Host("shop")
	pUser, pDocker := lab.Link(user, docker)
	dockerBr, pShop := lab.Link(docker, shop)
	run := func(h *testnet.Host, args ...string) {
		t.Helper()
		if out, err := h.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), h.Label, err, out)
		}
	}
	run(shop, "ip", "route", "add", "default", "via", dockerBr.IPv4.Addr().String())
	run(docker, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	published := netip.AddrPortFrom(pDocker.IPv4.Addr(), 8080)
	run(docker, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", published.Addr().String(), "-p", "tcp", "--dport", "8080",
		"-j", "DNAT", "--to-destination", netip.AddrPortFrom(pShop.IPv4.Addr(), 80).String())

	ln, err := shop.Listen("tcp4", ":80")
	if err != nil {
		t.Fatal(err)
	}
	serveReqs(t, ln)
	// The machine's scan finds the container's namespace through a
	// process of the machine in it.
	machine := docker.Machine("docker")
	shop.Start(machine.Command(shop, "sleep", "3600"))
	t.Cleanup(machine.Stop)
	var shopNS unix.Stat_t
	if err := unix.Stat("/run/netns/"+shop.Name, &shopNS); err != nil {
		t.Fatal(err)
	}

	dial := func() (net.Conn, error) { return user.DialContext(context.Background(), "tcp4", published.String()) }
	var short, long tally
	pooled, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close()
	if err := long.request(pooled, 100, 100); err != nil {
		t.Fatal(err)
	}

	out, err := os.Create(t.TempDir() + "/snap.json")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := machine.Command(docker, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+windowScanMode, "PLANET_WINDOW=4s")
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := docker.Start(cmd)
	lines := bufio.NewScanner(stderr)
	if !awaitBegun(t, lines, func() { _ = cmd.Process.Kill() }) {
		t.Fatal("the window scan ended (or was ended after a minute) before its window began")
	}
	go func() {
		for lines.Scan() {
			t.Logf("scan: %s", lines.Text())
		}
	}()
	const shortConns = 5
	for range shortConns {
		if err := short.shortConnWith(dial, 3000, 2000, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := long.request(pooled, 1000, 4000); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		done, err := p.Exited()
		if done && err != nil {
			t.Fatalf("window scan: %v", err)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the window scan did not end")
		}
	}
	if _, err := out.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Read(out, "docker")
	if err != nil {
		t.Fatal(err)
	}

	client := pUser.IPv4.Addr()
	var recs []snapshot.Connection
	for _, c := range snap.Connections {
		if c.Direction == snapshot.Downstream && c.Protocol == "tcp" && c.RemoteIP == client {
			recs = append(recs, c)
			t.Logf("record: port %d netns %d backend %v:%d sockets %d flows %d window %+v", c.Port, c.Netns, c.BackendIP, c.BackendPort, c.Sockets, c.Flows, c.Window)
		}
	}
	if len(recs) != 1 {
		t.Fatalf("%d downstream records of the client %v, want 1 (the published port's)", len(recs), client)
	}
	r := recs[0]
	if r.Port != 8080 || r.Netns != shopNS.Ino || r.BackendPort != 80 || r.Sockets != 1 || r.Window == nil {
		t.Fatalf("record %+v, want the published port 8080 in the container's namespace %d, backend port 80, the long-lived socket and a window", r, shopNS.Ino)
	}
	w := r.Window
	if w.Opened != shortConns || w.Closed != shortConns {
		t.Errorf("window opened %d closed %d, want %d each (the long-lived connection began before the window)", w.Opened, w.Closed, shortConns)
	}
	// The long-lived connection's first request was before the window.
	sent := short.sent.Load() + long.sent.Load() - (8 + 100)
	recv := short.received.Load() + long.received.Load() - 100
	if !within1pct(w.BytesReceived, sent) || !within1pct(w.BytesSent, recv) {
		t.Errorf("window received %d sent %d, want %d and %d (1%%)", w.BytesReceived, w.BytesSent, sent, recv)
	}
}
