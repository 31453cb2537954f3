package scan

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// Issue 15 on live sockets: each test builds a host (a network namespace),
// makes the sockets of one fault with real processes, and scans it with
// this test binary run inside the namespace (the "scan" helper), through
// both socket sources.

// Environment of the helpers.
const (
	scanSourceEnv    = "PLANET_SCAN_TEST_SOURCE"
	scanInventoryEnv = "PLANET_SCAN_TEST_INVENTORY"
)

// plainHelpers are the modes the test binary runs in for these tests.
var plainHelpers = map[string]func() int{
	"scan":      helperScan,
	"activator": helperActivator,
	"activated": helperActivated,
}

// helperScan scans the namespace it runs in (only that one: where PID 1's
// namespace link is unreadable, auto would read every namespace on the
// machine) and writes the snapshot.
func helperScan() int {
	s, err := Run(context.Background(), Options{
		Namespaces:   NamespacesOwn,
		SocketSource: SourceKind(os.Getenv(scanSourceEnv)),
		Inventory:    os.Getenv(scanInventoryEnv),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := snapshot.Write(os.Stdout, s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperActivator plays a service manager: it creates a listening socket on
// 127.0.0.1, keeps it, and hands it to a daemon it starts (as fd 3, the way
// systemd's LISTEN_FDS does). It is named "launcher", has the lower PID,
// and is not PID 1: only the connections the daemon accepts can tell who
// serves. It prints the port, then waits for its stdin to close.
func helperActivator() int {
	if err := os.WriteFile("/proc/self/comm", []byte("launcher"), 0); err != nil {
		fmt.Println("error", err)
		return 1
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	child := newSelfCmd("activated")
	child.ExtraFiles = []*os.File{f}
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := child.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	f.Close() // the listener is still held by ln, and by the daemon
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-eof:
	case <-stop:
	}
	child.Process.Kill()
	child.Wait()
	return 0
}

// helperActivated is the daemon: named "sshd", it accepts on fd 3. A
// connection that sends "c" is closed by the daemon first, which leaves the
// server's side in TIME_WAIT.
func helperActivated() int {
	if err := os.WriteFile("/proc/self/comm", []byte("sshd"), 0); err != nil {
		return 1
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() { // holds c open until the client ends it, or closes it on "c"
			b := make([]byte, 1)
			if n, _ := c.Read(b); n == 1 && b[0] == 'c' {
				c.Close()
			}
		}()
	}
}

// newSelfCmd runs this test binary in a helper mode.
func newSelfCmd(mode string, arg ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, arg...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// scanIn scans h with the given socket source (and inventory file).
func scanIn(t *testing.T, h *testnet.Host, source SourceKind, inventory string) *snapshot.Snapshot {
	t.Helper()
	cmd := h.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=scan", scanSourceEnv+"="+source.String(), scanInventoryEnv+"="+inventory)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scan in %s: %v\n%s", h.Label, err, stderr.Bytes())
	}
	s, err := snapshot.Parse(out, "scan of "+h.Label)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually scans h with each socket source until check finds nothing
// wrong (the kernel settles closing handshakes asynchronously), and fails
// the test with the last scan's complaints after a deadline.
func eventually(t *testing.T, h *testnet.Host, inventory string, check func(s *snapshot.Snapshot) []string) {
	t.Helper()
	for _, source := range []SourceKind{SourceNetlink, SourceProc} {
		t.Run(source.String(), func(t *testing.T) {
			deadline := time.Now().Add(10 * time.Second)
			for {
				s := scanIn(t, h, source, inventory)
				failed := check(s)
				if len(failed) == 0 {
					return
				}
				if time.Now().After(deadline) {
					for _, f := range failed {
						t.Errorf("FAIL: %s", f)
					}
					for _, c := range s.Connections {
						t.Logf("record %+v", c)
					}
					for _, l := range s.Listeners {
						t.Logf("listener %+v", l)
					}
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// checks collects what a scan gets wrong.
type checks []string

func (c *checks) want(what string, ok bool) {
	if !ok {
		*c = append(*c, what)
	}
}

func conns(s *snapshot.Snapshot, dir snapshot.Direction, port uint16) []snapshot.Connection {
	var out []snapshot.Connection
	for _, c := range s.Connections {
		if c.Direction == dir && c.Port == port {
			out = append(out, c)
		}
	}
	return out
}

// TestLiveHostIdentity (item 1): a host with its uplink and a docker-like
// bridge (172.17.0.1, inside an inventory range) is known by its default
// route's source address, and by the exact inventory entry of that
// address; every address is still listed.
func TestLiveHostIdentity(t *testing.T) {
	lab := testnet.New(t)
	h, gw := lab.Host("web"), lab.Host("gw")
	up, gwp := lab.Link(h, gw)
	h.IP("link", "add", "docker0", "type", "bridge")
	h.IP("addr", "add", "172.17.0.1/16", "dev", "docker0")
	h.IP("link", "set", "docker0", "up")
	h.IP("route", "add", "default", "via", gwp.IPv4.Addr().String())
	own := up.IPv4.Addr()

	inv := filepath.Join(t.TempDir(), "inventory.json")
	body := fmt.Sprintf(`[{"ip_address":%q,"domain":"web1.example","hostgroup":"web"},
		{"ip_address":"172.16.0.0/12","hostgroup":"containers"}]`, own)
	if err := os.WriteFile(inv, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, source := range []SourceKind{SourceNetlink, SourceProc} {
		s := scanIn(t, h, source, "")
		if len(s.Host.Addresses) == 0 || s.Host.Addresses[0] != own {
			t.Errorf("%s: addresses %v, want %s first", source, s.Host.Addresses, own)
		}
		for _, a := range []netip.Addr{own, up.IPv6.Addr(), netip.MustParseAddr("172.17.0.1")} {
			if !containsAddr(s.Host.Addresses, a) {
				t.Errorf("%s: addresses %v lack %s", source, s.Host.Addresses, a)
			}
		}
		if got := s.Host.Label(); got != own.String() {
			t.Errorf("%s: without inventory the host is %q, want %s", source, got, own)
		}
		s = scanIn(t, h, source, inv)
		if s.Host.Hostgroup != "web" || s.Host.Domain != "web1.example" {
			t.Errorf("%s: with inventory the host is %q/%q, want web/web1.example", source, s.Host.Hostgroup, s.Host.Domain)
		}
	}

	// Without an IPv4 default route, the IPv6 one's source.
	h.IP("route", "del", "default")
	h.IP("-6", "route", "add", "default", "via", gwp.IPv6.Addr().String())
	s := scanIn(t, h, SourceAuto, "")
	if len(s.Host.Addresses) == 0 || s.Host.Addresses[0] != up.IPv6.Addr() {
		t.Errorf("IPv6 default route only: addresses %v, want %s first", s.Host.Addresses, up.IPv6.Addr())
	}
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// v6onlyListen listens on [::]:0 with IPV6_V6ONLY set by setsockopt (the
// socket nginx makes for `listen [::]:80`).
func v6onlyListen(h *testnet.Host) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "[::]:0")
		return err
	})
	return ln, err
}

// TestLiveV6OnlyListener (item 2): an IPv4 client socket whose local port
// is that of an IPV6_V6ONLY [::] listener is this host's client, not a
// peer of that listener; IPv6 connections to the listener stay downstream.
func TestLiveV6OnlyListener(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("v6only")
	v6, err := v6onlyListen(h)
	if err != nil {
		t.Fatal(err)
	}
	defer v6.Close()
	p := uint16(v6.Addr().(*net.TCPAddr).Port)
	srv, err := h.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	q := uint16(srv.Addr().(*net.TCPAddr).Port)
	go acceptAll(srv)
	go acceptAll(v6)

	var cli, cli6 net.Conn
	err = h.Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(p)}}
		var err error
		if cli, err = d.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(q)))); err != nil {
			return fmt.Errorf("IPv4 client from port %d of the v6only listener: %w", p, err)
		}
		cli6, err = net.Dial("tcp6", net.JoinHostPort("::1", strconv.Itoa(int(p))))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	defer cli6.Close()

	eventually(t, h, "", func(s *snapshot.Snapshot) []string {
		var c checks
		for _, d := range conns(s, snapshot.Downstream, p) {
			c.want(fmt.Sprintf("no IPv4 peer of the v6only listener :%d (got one from %s)", p, d.RemoteIP), !d.RemoteIP.Is4())
		}
		c.want("IPv6 peer of the v6only listener is downstream", len(conns(s, snapshot.Downstream, p)) == 1)
		up := conns(s, snapshot.Upstream, q)
		c.want(fmt.Sprintf("the IPv4 client is upstream to 127.0.0.1:%d", q), len(up) == 1 && up[0].RemoteIP == netip.MustParseAddr("127.0.0.1"))
		return c
	})
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(io.Discard, c); c.Close() }()
	}
}

// TestLiveSharedListener (item 3): a listening socket held by the process
// that made it and by the daemon it handed it to is named after the daemon,
// which serves its connections; so are the TIME_WAIT sockets on its port:
// one dependency, one record.
func TestLiveSharedListener(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("activation")
	cmd := h.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=activator")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	h.Start(cmd)
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("activator said %q (%v)", line, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	// One connection held open, one the daemon closes first.
	keep, err := h.DialContext(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	closed, err := h.DialContext(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	closed.Write([]byte("c"))
	io.Copy(io.Discard, closed) // the daemon's FIN
	closed.Close()

	eventually(t, h, "", func(s *snapshot.Snapshot) []string {
		var c checks
		l := findListener(s, "tcp", uint16(port))
		c.want("the shared listener is named sshd (not the launcher that keeps it)", l != nil && l.Process == "sshd")
		down := conns(s, snapshot.Downstream, uint16(port))
		c.want("downstream of the port is one record of sshd with the live and the TIME_WAIT socket",
			len(down) == 1 && down[0].Process == "sshd" && down[0].States["ESTABLISHED"] == 1 && down[0].States["TIME_WAIT"] == 1)
		return c
	})
}

// TestLiveServerTimeWaitStorm (item 4): a server on an ephemeral port that
// closes its side first and then its listener leaves only TIME_WAIT
// sockets, with no owner and no listener: they are one downstream record
// of the server's port, not a record per client port.
func TestLiveServerTimeWaitStorm(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("storm")
	const n = 200
	var port uint16
	err := h.Do(func() error {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = uint16(ln.Addr().(*net.TCPAddr).Port)
		var clients []net.Conn
		for range n {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			clients = append(clients, c)
			s.Close() // the server closes first
		}
		ln.Close()
		for _, c := range clients {
			io.Copy(io.Discard, c)
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, h, "", func(s *snapshot.Snapshot) []string {
		var c checks
		down := conns(s, snapshot.Downstream, port)
		c.want(fmt.Sprintf("one downstream record of port %d with %d TIME_WAIT sockets", port, n),
			len(down) == 1 && down[0].States["TIME_WAIT"] == n)
		c.want("no other record", len(s.Connections) == len(down))
		return c
	})
}

// TestLiveClientTimeWait (item 5): a client's TIME_WAIT sockets join the
// record of the one process with live sockets to that peer and port.
func TestLiveClientTimeWait(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("client")
	srv, err := h.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go acceptAll(srv)
	port := uint16(srv.Addr().(*net.TCPAddr).Port)
	var live []net.Conn
	err = h.Do(func() error {
		for i := range 5 {
			c, err := net.Dial("tcp4", srv.Addr().String())
			if err != nil {
				return err
			}
			if i < 2 {
				live = append(live, c)
				continue
			}
			c.Close() // the client closes first: its side goes to TIME_WAIT
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range live {
			c.Close()
		}
	}()
	me := selfComm(t)
	eventually(t, h, "", func(s *snapshot.Snapshot) []string {
		var c checks
		up := conns(s, snapshot.Upstream, port)
		c.want("the client's live and TIME_WAIT sockets are one record of the test process",
			len(up) == 1 && up[0].Process == me && up[0].States["ESTABLISHED"] == 2 && up[0].States["TIME_WAIT"] == 3)
		return c
	})
}

// TestLiveV6OnlyFlag: the netlink source reads IPV6_V6ONLY from the
// kernel (INET_DIAG_SKV6ONLY) for TCP listeners and UDP sockets alike.
func TestLiveV6OnlyFlag(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("v6flag")
	tcpOnly, err := v6onlyListen(h)
	if err != nil {
		t.Fatal(err)
	}
	defer tcpOnly.Close()
	tcpDual, err := h.Listen("tcp", "[::]:0") // Go leaves a "tcp" [::] socket dual-stack
	if err != nil {
		t.Fatal(err)
	}
	defer tcpDual.Close()
	var udpOnly, udpDual net.PacketConn
	var socks []Socket
	err = h.Do(func() error {
		var err error
		if udpOnly, err = net.ListenPacket("udp6", "[::]:0"); err != nil { // Go sets IPV6_V6ONLY for udp6
			return err
		}
		if udpDual, err = net.ListenPacket("udp", "[::]:0"); err != nil {
			return err
		}
		socks, err = NetlinkSource{}.Sockets(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer udpOnly.Close()
	defer udpDual.Close()
	want := map[string]bool{
		fmt.Sprint("tcp ", tcpOnly.Addr().(*net.TCPAddr).Port):      true,
		fmt.Sprint("tcp ", tcpDual.Addr().(*net.TCPAddr).Port):      false,
		fmt.Sprint("udp ", udpOnly.LocalAddr().(*net.UDPAddr).Port): true,
		fmt.Sprint("udp ", udpDual.LocalAddr().(*net.UDPAddr).Port): false,
	}
	got := map[string]bool{}
	for _, s := range socks {
		k := fmt.Sprint(s.Protocol, " ", s.Local.Port())
		if _, ok := want[k]; ok && s.Remote.Port() == 0 {
			got[k] = s.V6Only
			if s.Family != unix.AF_INET6 {
				t.Errorf("%s: family %d, want AF_INET6", k, s.Family)
			}
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: V6Only %v (seen %v), want %v", k, g, ok, v)
		}
	}
}
