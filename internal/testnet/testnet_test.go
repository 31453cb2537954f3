package testnet

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAddrs(t *testing.T) {
	if got := addr4(3, 2).String(); got != "10.250.3.2/24" {
		t.Errorf("addr4(3, 2) = %s", got)
	}
	if got := addr6(3, 2).String(); got != "fd00:250:3::2/64" {
		t.Errorf("addr6(3, 2) = %s", got)
	}
	if got := addr6(255, 250).String(); got != "fd00:250:ff::fa/64" {
		t.Errorf("addr6(255, 250) = %s", got)
	}
}

// TestLinkAndCleanup checks that a link carries IPv4 and IPv6 between two
// namespaces at once (nodad), that processes are stopped by PID, and that
// every namespace is gone after the test that made it.
func TestLinkAndCleanup(t *testing.T) {
	var names []string
	var pid int
	t.Run("inner", func(t *testing.T) {
		lab := New(t)
		a, b := lab.Host("a"), lab.Host("b")
		names = append(names, a.Name, b.Name)
		pa, pb := lab.Link(a, b)
		if pa.IPv4.String() != "10.250.1.1/24" || pb.IPv6.String() != "fd00:250:1::2/64" {
			t.Fatalf("addresses %v %v, want 10.250.1.1/24 and fd00:250:1::2/64", pa.IPv4, pb.IPv6)
		}
		if !strings.HasPrefix(a.Name, Prefix) {
			t.Errorf("namespace %q lacks prefix %q", a.Name, Prefix)
		}

		for _, dst := range []netip.Addr{pa.IPv4.Addr(), pa.IPv6.Addr()} {
			echo(t, a, b, netip.AddrPortFrom(dst, 7000))
		}

		// The namespace is really separate: b's address is not in a.
		out, err := a.Command("ip", "-o", "addr", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("ip addr in a: %v: %s", err, out)
		}
		if !strings.Contains(string(out), pa.IPv4.String()) || strings.Contains(string(out), pb.IPv4.String()) {
			t.Errorf("addresses in a:\n%s", out)
		}

		p := a.Start(a.Command("sleep", "600"))
		pid = p.Cmd.Process.Pid
		if exited, err := p.Exited(); exited {
			t.Fatalf("sleep exited at once: %v", err)
		}
	})
	if pid != 0 {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("process %d still exists after cleanup (kill 0: %v)", pid, err)
		}
	}
	for _, n := range names {
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after cleanup (%v)", n, err)
		}
	}
}

func TestSwitch(t *testing.T) {
	lab := New(t)
	hosts := []*Host{lab.Host("x"), lab.Host("y"), lab.Host("z")}
	ports := lab.Switch(hosts...)
	// Every host reaches every other one through the bridge.
	for i, from := range hosts {
		for j, to := range hosts {
			if i != j {
				echo(t, to, from, netip.AddrPortFrom(ports[j].IPv4.Addr(), 7001))
				echo(t, to, from, netip.AddrPortFrom(ports[j].IPv6.Addr(), 7002))
			}
		}
	}
}

func TestHTTPClientAndWaitTCP(t *testing.T) {
	lab := New(t)
	a := lab.Host("web")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Nothing listens yet: WaitTCP must give up when ctx ends.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if err := a.WaitTCP(short, "127.0.0.1:8080"); err == nil {
		t.Fatal("WaitTCP succeeded with nothing listening")
	}

	ln, err := a.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "inside")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	if err := a.WaitTCP(ctx, "127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	resp, err := a.HTTPClient().Get("http://127.0.0.1:8080/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "inside" {
		t.Errorf("body %q", body)
	}
	// The test's own namespace has no such server (or a different one).
	if c, err := net.DialTimeout("tcp", "127.0.0.1:8080", 200*time.Millisecond); err == nil {
		c.Close()
		t.Log("note: something listens on 127.0.0.1:8080 outside the namespace")
	}
}

// echo listens on dst inside server, connects from client and checks that
// bytes make the round trip.
func echo(t *testing.T, server, client *Host, dst netip.AddrPort) {
	t.Helper()
	ln, err := server.Listen("tcp", dst.String())
	if err != nil {
		t.Fatalf("listen %s in %s: %v", dst, server.Label, err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		t.Fatalf("dial %s from %s: %v", dst, client.Label, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := "hello " + dst.String()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo via %s from %s: %q, %v", dst, client.Label, buf, err)
	}
}

// TestSweepStale: a namespace left by a dead test process goes at New.
func TestSweepStale(t *testing.T) {
	New(t)                                      // skips unless root
	name := Prefix + "000000-p2147483647-stale" // no such PID can exist
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	New(t)
	if _, err := os.Stat(netnsDir + "/" + name); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s survived New (%v)", name, err)
	}
}
