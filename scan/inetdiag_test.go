package scan

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testnet"
)

// TestNamespaceDumpAgrees: in a real namespace with IPv4 and IPv6 TCP
// connections (one dual-stack listener), UDP sockets of both families and
// bytes sent, the one-walk dump (inet_diag compat for TCP) reads the same
// sockets, byte counters included, as sock_diag per family through
// github.com/vishvananda/netlink (perFamilySockets), and IPV6_V6ONLY as
// the sockets have it.
func TestNamespaceDumpAgrees(t *testing.T) {
	lab := testnet.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	_, pb := lab.Link(a, b)
	// Processes, not this test's threads, hold the sockets: a thread moved
	// into a namespace may be the main one, whose namespace the test's own
	// /proc/self/net shows to every later test.
	port := startPeer(t, b, "")
	startPeer(t, a, pb.IPv4.Addr().String()+":"+port+",["+pb.IPv6.Addr().String()+"]:"+port)
	for _, host := range []*testnet.Host{a, b} {
		t.Run(host.Label, func(t *testing.T) { compareDumps(t, host) })
	}
}

// nsPeer is the helper mode "ns-peer": with PLANET_NS_DIAL unset, listen
// on TCP [::]:0 (printing the port), open a UDP socket of each family and
// read every connection; with PLANET_NS_DIAL=ADDR,ADDR... dial each and
// send 5000 bytes, then print "ready". Either holds until stdin closes.
func nsPeer() {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var keep []io.Closer
	if dial := os.Getenv("PLANET_NS_DIAL"); dial != "" {
		for _, addr := range strings.Split(dial, ",") {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fail(err)
			}
			if _, err := c.Write(make([]byte, 5000)); err != nil {
				fail(err)
			}
			keep = append(keep, c)
		}
		fmt.Println("ready")
	} else {
		ln, err := net.Listen("tcp", "[::]:0")
		if err != nil {
			fail(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, c) }()
			}
		}()
		for _, network := range []string{"udp4", "udp6"} {
			u, err := net.ListenPacket(network, ":0")
			if err != nil {
				fail(err)
			}
			keep = append(keep, u)
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range keep {
		c.Close()
	}
}

// startPeer runs nsPeer in h (dialing dial, or listening when dial is
// empty) and returns its first line: the port, or "ready".
func startPeer(t *testing.T, h *testnet.Host, dial string) string {
	t.Helper()
	cmd := h.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=ns-peer", "PLANET_NS_DIAL="+dial)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.Start(cmd)
	t.Cleanup(func() { stdin.Close() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("peer in %s: %q %v", h.Label, line, err)
	}
	return line
}

// compareDumps checks netlinkIn against NetlinkSource in host: the same
// sockets, and each family's established TCP socket with byte counters.
func compareDumps(t *testing.T, host *testnet.Host) {
	path := "/run/netns/" + host.Name
	h, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		t.Fatal(err)
	}
	got, err := netlinkIn(context.Background(), path, st.Ino)
	if err != nil {
		t.Fatal(err)
	}
	// The library moves a thread into h and back, ignoring a failure to
	// come back; on a thread of its own that stays locked, so the runtime
	// ends it rather than run the rest of the tests in h.
	type handle struct {
		h   *netlink.Handle
		err error
	}
	ch := make(chan handle, 1)
	go func() {
		runtime.LockOSThread()
		nh, err := netlink.NewHandleAt(h, unix.NETLINK_INET_DIAG)
		ch <- handle{nh, err}
	}()
	r := <-ch
	nh, err := r.h, r.err
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	want, err := perFamilySockets(nh)
	if err != nil {
		t.Fatal(err)
	}
	// Byte counters move while the receiver drains: compare them apart.
	// The library drops INET_DIAG_SKV6ONLY: checked below.
	key := func(s Socket) Socket { s.BytesAcked, s.BytesReceived, s.V6Only = 0, 0, false; return s }
	norm := func(ss []Socket) []Socket {
		out := make([]Socket, len(ss))
		for i, s := range ss {
			out[i] = key(s)
		}
		slices.SortFunc(out, func(x, y Socket) int {
			if c := x.Local.Compare(y.Local); c != 0 {
				return c
			}
			return x.Remote.Compare(y.Remote)
		})
		return out
	}
	if g, w := norm(got), norm(want); !slices.Equal(g, w) {
		t.Errorf("one-walk dump:\n%+v\nper-family sock_diag:\n%+v", g, w)
	}
	var v4, v6 int
	for _, s := range got {
		// nsPeer's udp6 socket has IPV6_V6ONLY (Go sets it for "udp6"),
		// its TCP listener and udp4 socket not.
		unconnected := s.Remote.Port() == 0
		if wantV6Only := s.Protocol == "udp" && s.Family == unix.AF_INET6 && unconnected; unconnected && s.V6Only != wantV6Only {
			t.Errorf("%s %v: V6Only %v, want %v", s.Protocol, s.Local, s.V6Only, wantV6Only)
		}
		if s.Protocol != "tcp" || s.State != stateEstablished {
			continue
		}
		if s.Remote.Addr().Is4() {
			v4++
		} else {
			v6++
		}
		if !s.HasBytes || s.BytesAcked+s.BytesReceived == 0 {
			t.Errorf("%v: no byte counters %+v", s.Local, s)
		}
	}
	if v4 != 1 || v6 != 1 {
		t.Errorf("%d IPv4 and %d IPv6 established TCP sockets, want one each: %+v", v4, v6, got)
	}
}

// perFamilySockets dumps the TCP and UDP sockets of nh's namespace with
// one sock_diag request per family and protocol, through
// github.com/vishvananda/netlink: the reference the one-walk dump is
// checked against. It has no IPV6_V6ONLY (the library drops the attribute).
func perFamilySockets(nh *netlink.Handle) ([]Socket, error) {
	var out []Socket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		tcp, err := nh.SocketDiagTCPInfo(family)
		if err != nil {
			return nil, fmt.Errorf("tcp (family %d): %w", family, err)
		}
		for _, r := range tcp {
			if r == nil || r.InetDiagMsg == nil {
				continue
			}
			s := fromLibrary("tcp", r.InetDiagMsg)
			if r.TCPInfo != nil {
				s.BytesAcked, s.BytesReceived, s.HasBytes = r.TCPInfo.Bytes_acked, r.TCPInfo.Bytes_received, true
			}
			out = append(out, s)
		}
		udp, err := nh.SocketDiagUDP(family)
		if err != nil {
			return nil, fmt.Errorf("udp (family %d): %w", family, err)
		}
		for _, m := range udp {
			if m != nil {
				out = append(out, fromLibrary("udp", m))
			}
		}
	}
	return out, nil
}

func fromLibrary(proto string, m *netlink.Socket) Socket {
	addr := func(ip net.IP) netip.Addr {
		a, _ := netip.AddrFromSlice(ip)
		return a.Unmap()
	}
	return Socket{
		Protocol: proto,
		Family:   m.Family,
		State:    m.State,
		Local:    netip.AddrPortFrom(addr(m.ID.Source), m.ID.SourcePort),
		Remote:   netip.AddrPortFrom(addr(m.ID.Destination), m.ID.DestinationPort),
		Inode:    uint64(m.INode),
		UID:      m.UID,
	}
}
