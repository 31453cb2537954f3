package scan

import (
	"context"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testnet"
)

// TestNamespaceDumpAgrees: in a real namespace with IPv4 and IPv6 TCP
// connections (one dual-stack listener), UDP sockets of both families and
// bytes sent, the one-walk dump (inet_diag compat for TCP) reads the same
// sockets, byte counters included, as sock_diag per family (NetlinkSource)
// and as /proc/<pid>/net.
func TestNamespaceDumpAgrees(t *testing.T) {
	lab := testnet.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	_, pb := lab.Link(a, b)
	ln, err := b.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	for _, addr := range []string{pb.IPv4.Addr().String(), "[" + pb.IPv6.Addr().String() + "]"} {
		c, err := a.DialContext(context.Background(), "tcp", addr+":"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, 5000)); err != nil {
			t.Fatal(err)
		}
	}
	for _, network := range []string{"udp4", "udp6"} {
		err := b.Do(func() error {
			u, err := net.ListenPacket(network, ":0")
			if err == nil {
				t.Cleanup(func() { u.Close() })
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	for _, host := range []*testnet.Host{a, b} {
		t.Run(host.Label, func(t *testing.T) { compareDumps(t, host) })
	}
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
	want, err := NetlinkSource{Handle: nh}.Sockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Byte counters move while the receiver drains: compare them apart.
	key := func(s Socket) Socket { s.BytesAcked, s.BytesReceived = 0, 0; return s }
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
