package scan

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cakturk/go-netstat/netstat"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

// The test binary doubles as a small server with a name that has a space,
// the case go-netstat gets wrong (it splits /proc/<pid>/stat on spaces).
const helperEnv = "PLANET_SCAN_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "named-server":
		namedServer()
		return
	case loadgenMode:
		loadgen()
		return
	case windowScanMode:
		windowScan()
		return
	case "scan-all":
		scanAll()
		return
	case "ns-peer":
		nsPeer()
		return
	}
	if h, ok := plainHelpers[os.Getenv(helperEnv)]; ok {
		os.Exit(h())
	}
	os.Exit(m.Run())
}

func namedServer() {
	if err := os.WriteFile("/proc/self/comm", []byte("my app"), 0); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // hold the connection open, count its bytes
		}
	}()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
}

func startNamedServer(t *testing.T) uint16 {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=named-server")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	return uint16(port)
}

// pair opens a listener on addr and one connection to it, returning the
// listener's port, the client side and the accepted server side.
func pair(t *testing.T, network, listenAddr, dialHost string) (uint16, net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, listenAddr)
	if err != nil {
		testenv.Unavailable(t, "cannot listen on %s %s here: %v", network, listenAddr, err)
	}
	t.Cleanup(func() { ln.Close() })
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	client, err := net.Dial("tcp", net.JoinHostPort(dialHost, strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return port, client, server
}

func liveScan(t *testing.T, source SourceKind) *snapshot.Snapshot {
	t.Helper()
	s, err := Run(context.Background(), Options{SocketSource: source})
	if err != nil {
		t.Fatalf("scan with %s: %v", source, err)
	}
	return s
}

func findConn(s *snapshot.Snapshot, dir snapshot.Direction, port uint16, remote string) *snapshot.Connection {
	for i, c := range s.Connections {
		if c.Direction == dir && c.Port == port && c.Protocol == "tcp" && c.RemoteIP == netip.MustParseAddr(remote) {
			return &s.Connections[i]
		}
	}
	return nil
}

func findListener(s *snapshot.Snapshot, proto string, port uint16) *snapshot.Listener {
	for i, l := range s.Listeners {
		if l.Protocol == proto && l.Port == port {
			return &s.Listeners[i]
		}
	}
	return nil
}

func selfComm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestLiveSockets(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("skipped: no /proc/net/tcp (not Linux?)")
	}
	me := selfComm(t)
	named := startNamedServer(t)
	namedClient, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(named)))
	if err != nil {
		t.Fatal(err)
	}
	defer namedClient.Close()
	const payload = 300_000
	if _, err := namedClient.Write(make([]byte, payload)); err != nil {
		t.Fatal(err)
	}

	p4, _, _ := pair(t, "tcp4", "127.0.0.1:0", "127.0.0.1")
	p6, _, _ := pair(t, "tcp6", "[::1]:0", "::1")
	pDual, _, _ := pair(t, "tcp", ":0", "127.0.0.1") // dual-stack [::] listener, IPv4 client

	// TIME_WAIT on the server side: the server closes first.
	pTW, twClient, twServer := pair(t, "tcp4", "127.0.0.1:0", "127.0.0.1")
	twServer.Close()
	io.Copy(io.Discard, twClient) // read the FIN
	twClient.Close()

	udpPort, udpConn := udpServer(t)
	defer udpConn.Close()

	// The kernel settles asynchronously (the payload's ACKs, the closing
	// handshake that leaves TIME_WAIT on the server side): scan until every
	// check holds or the deadline passes, then report the last scan.
	for _, source := range []SourceKind{SourceNetlink, SourceProc} {
		t.Run(source.String(), func(t *testing.T) {
			deadline := time.Now().Add(10 * time.Second)
			var failed []string
			var s *snapshot.Snapshot
			for {
				s = liveScan(t, source)
				failed = liveChecks(s, source, me, payload, named, p4, p6, pDual, pTW, udpPort)
				if len(failed) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, f := range failed {
				t.Errorf("FAIL: %s", f)
			}
			if t.Failed() {
				for _, c := range s.Connections {
					if c.Port == named || c.Port == p4 || c.Port == p6 || c.Port == pDual || c.Port == pTW {
						t.Logf("record %+v", c)
					}
				}
			}
		})
	}
}

// liveChecks returns what TestLiveSockets expects of a scan and does not find.
func liveChecks(s *snapshot.Snapshot, source SourceKind, me string, payload uint64, named, p4, p6, pDual, pTW, udpPort uint16) []string {
	var failed []string
	add := func(what string, ok bool) {
		if !ok {
			failed = append(failed, what)
		}
	}
	l := findListener(s, "tcp", named)
	add("listener of the named server is \"my app\"", l != nil && l.Process == "my app" && l.Bind() == fmt.Sprintf("127.0.0.1:%d", named))
	up := findConn(s, snapshot.Upstream, named, "127.0.0.1")
	add("upstream to the named server from this test", up != nil && up.Process == me && up.Sockets == 1)
	down := findConn(s, snapshot.Downstream, named, "127.0.0.1")
	add("downstream at the named server is \"my app\"", down != nil && down.Process == "my app")
	if source == SourceNetlink {
		add("netlink byte counters: client sent the payload", up != nil && up.BytesSent >= payload && up.BytesSent < payload+1000)
		add("netlink byte counters: server received it", down != nil && down.BytesReceived >= payload && down.BytesReceived < payload+1000)
		add("snapshot explains the byte counters", s.ByteCounters != "")
	} else {
		add("proc source has no byte counters", up != nil && up.BytesSent == 0 && s.ByteCounters == "")
	}

	add("IPv4 loopback upstream", findConn(s, snapshot.Upstream, p4, "127.0.0.1") != nil)
	add("IPv4 loopback downstream", findConn(s, snapshot.Downstream, p4, "127.0.0.1") != nil)
	add("IPv6 loopback upstream", findConn(s, snapshot.Upstream, p6, "::1") != nil)
	add("IPv6 loopback downstream", findConn(s, snapshot.Downstream, p6, "::1") != nil)
	dl := findListener(s, "tcp", pDual)
	add("dual-stack listener binds :::port", dl != nil && dl.Bind() == fmt.Sprintf(":::%d", pDual))
	dd := findConn(s, snapshot.Downstream, pDual, "127.0.0.1")
	add("IPv4 connection on the dual-stack listener is downstream, remote unmapped", dd != nil && dd.Process == me)

	tw := findConn(s, snapshot.Downstream, pTW, "127.0.0.1")
	add("server-side TIME_WAIT is downstream and named after its listener", tw != nil && tw.States["TIME_WAIT"] == 1 && tw.Process == me)
	add("the closed client side is not upstream anymore", findConn(s, snapshot.Upstream, pTW, "127.0.0.1") == nil)

	ul := findListener(s, "udp", udpPort)
	add("UDP server outside the ephemeral range is a listener", ul != nil && ul.Process == me)

	for _, c := range s.Connections {
		if c.RemoteIP.Is4In6() {
			add("no IPv4-mapped remote addresses: "+c.RemoteIP.String(), false)
		}
	}
	return failed
}

// udpServer binds a UDP socket on loopback to a free port below the
// ephemeral range, where a server would be.
func udpServer(t *testing.T) (uint16, *net.UDPConn) {
	t.Helper()
	for range 50 {
		port := 20000 + rand.IntN(10000)
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err == nil {
			return uint16(port), c
		}
	}
	t.Fatal("no free UDP port in 20000-30000")
	return 0, nil
}

// TestProcSourceAgreesWithGoNetstat cross-checks our /proc/net reader with
// github.com/cakturk/go-netstat's on the same live table: every socket it
// lists for our test port, we list too, with the same addresses and state.
func TestProcSourceAgreesWithGoNetstat(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("skipped: no /proc/net/tcp")
	}
	port, _, _ := pair(t, "tcp4", "127.0.0.1:0", "127.0.0.1")
	theirs, err := netstat.TCPSocks(func(e *netstat.SockTabEntry) bool {
		return e.LocalAddr.Port == port || e.RemoteAddr.Port == port
	})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := ProcSource{Root: "/proc"}.Sockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key := func(local, remote netip.AddrPort, state uint8) string {
		return fmt.Sprintf("%s %s %d", local, remote, state)
	}
	have := map[string]bool{}
	for _, s := range ours {
		if s.Protocol == "tcp" {
			have[key(s.Local, s.Remote, s.State)] = true
		}
	}
	if len(theirs) != 3 {
		t.Fatalf("go-netstat saw %d sockets on port %d, want 3 (listener, client, server)", len(theirs), port)
	}
	for _, e := range theirs {
		l, _ := netip.AddrFromSlice(e.LocalAddr.IP)
		r, _ := netip.AddrFromSlice(e.RemoteAddr.IP)
		k := key(netip.AddrPortFrom(l.Unmap(), e.LocalAddr.Port), netip.AddrPortFrom(r.Unmap(), e.RemoteAddr.Port), uint8(e.State))
		if !have[k] {
			t.Errorf("go-netstat lists %s, our proc source does not", k)
		}
	}
}
