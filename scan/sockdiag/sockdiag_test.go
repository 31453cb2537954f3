package sockdiag

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// msg builds an inet_diag_msg with attributes, as the kernel lays it out.
func msg(family uint8, local, remote netip.AddrPort, cookie uint64, inode uint32, attrs ...[]byte) []byte {
	b := make([]byte, sizeInetDiagMsg)
	b[0], b[1] = family, StateEstablished
	binary.BigEndian.PutUint16(b[4:], local.Port())
	binary.BigEndian.PutUint16(b[6:], remote.Port())
	l, r := local.Addr().As16(), remote.Addr().As16()
	if family == unix.AF_INET {
		l4, r4 := local.Addr().As4(), remote.Addr().As4()
		copy(b[8:], l4[:])
		copy(b[24:], r4[:])
	} else {
		copy(b[8:], l[:])
		copy(b[24:], r[:])
	}
	binary.NativeEndian.PutUint32(b[44:], uint32(cookie))
	binary.NativeEndian.PutUint32(b[48:], uint32(cookie>>32))
	binary.NativeEndian.PutUint32(b[64:], 1000)
	binary.NativeEndian.PutUint32(b[68:], inode)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func attr(typ uint16, v []byte) []byte {
	a := make([]byte, align4(sizeRtattr+len(v)))
	binary.NativeEndian.PutUint16(a[0:], uint16(sizeRtattr+len(v)))
	binary.NativeEndian.PutUint16(a[2:], typ)
	copy(a[sizeRtattr:], v)
	return a
}

func tcpInfo(acked, received uint64) []byte {
	v := make([]byte, unsafeSizeofTCPInfo)
	binary.NativeEndian.PutUint64(v[offBytesAcked:], acked)
	binary.NativeEndian.PutUint64(v[offBytesReceived:], received)
	return v
}

func TestParse(t *testing.T) {
	l4, r4 := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:5432")
	l6, r6 := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[::ffff:10.0.0.2]:5432")
	cg := binary.NativeEndian.AppendUint64(nil, 4242)
	tests := []struct {
		name string
		in   []byte
		want Sock
		err  error
	}{
		{"v4 with info and cgroup", msg(unix.AF_INET, l4, r4, 1<<40|7, 99, attr(attrInfo, tcpInfo(1234, 5678)), attr(attrCgroupID, cg)),
			Sock{Family: unix.AF_INET, State: 1, Local: l4, Remote: r4, Cookie: 1<<40 | 7, Inode: 99, UID: 1000, BytesAcked: 1234, BytesReceived: 5678, HasBytes: true, CgroupID: 4242}, nil},
		{"v6 mapped peer unmapped, no info", msg(unix.AF_INET6, l6, r6, 3, 0),
			Sock{Family: unix.AF_INET6, State: 1, Local: l6, Remote: netip.MustParseAddrPort("10.0.0.2:5432"), Cookie: 3, UID: 1000}, nil},
		{"short tcp_info ignored", msg(unix.AF_INET, l4, r4, 1, 1, attr(attrInfo, make([]byte, 104))),
			Sock{Family: unix.AF_INET, State: 1, Local: l4, Remote: r4, Cookie: 1, Inode: 1, UID: 1000}, nil},
		{"unknown attribute skipped", msg(unix.AF_INET, l4, r4, 1, 1, attr(99, []byte{1, 2, 3}), attr(attrInfo, tcpInfo(1, 2))),
			Sock{Family: unix.AF_INET, State: 1, Local: l4, Remote: r4, Cookie: 1, Inode: 1, UID: 1000, BytesAcked: 1, BytesReceived: 2, HasBytes: true}, nil},
		{"short message", make([]byte, 71), Sock{}, ErrTruncated},
		{"attribute overruns", append(msg(unix.AF_INET, l4, r4, 1, 1), 200, 0, 2, 0), Sock{}, ErrTruncated},
		{"attribute length below header", append(msg(unix.AF_INET, l4, r4, 1, 1), 2, 0, 2, 0), Sock{}, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(msg(unix.AF_INET, netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:9"), 1, 1, attr(attrInfo, tcpInfo(1, 2))))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b)
		_ = messages(b, func(uint16, uint16, []byte) error { return nil })
	})
}

// transfer makes one loopback connection that sends up bytes and receives
// down bytes, then closes it (with a reset when rst); it returns the
// client's and the server's local addresses.
func transfer(t *testing.T, ln net.Listener, up, down int, rst bool) (client, server netip.AddrPort) {
	t.Helper()
	type res struct {
		addr netip.AddrPort
		err  error
	}
	done := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- res{err: err}
			return
		}
		defer c.Close()
		if _, err := io.CopyN(io.Discard, c, int64(up)); err != nil {
			done <- res{err: err}
			return
		}
		_, err = c.Write(bytes.Repeat([]byte{'d'}, down))
		if err == nil {
			_, err = io.Copy(io.Discard, c) // until the client closes
		}
		done <- res{c.LocalAddr().(*net.TCPAddr).AddrPort(), err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(bytes.Repeat([]byte{'u'}, up)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, c, int64(down)); err != nil {
		t.Fatal(err)
	}
	client = c.LocalAddr().(*net.TCPAddr).AddrPort()
	if rst {
		_ = c.(*net.TCPConn).SetLinger(0)
	}
	c.Close()
	r := <-done
	if r.err != nil && !rst {
		t.Fatal(r.err)
	}
	return client, netip.AddrPortFrom(client.Addr(), uint16(ln.Addr().(*net.TCPAddr).Port))
}

// TestDestroyEvents: a real loopback connection's two sockets are each
// reported once as destroyed, with their final counters, and with the
// cookie a dump of the live socket gave. Works without root.
func TestDestroyEvents(t *testing.T) {
	ev, err := Subscribe(0)
	if err != nil {
		t.Fatalf("subscribe (uid %d): %v", unix.Getuid(), err)
	}
	defer ev.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, rst := range []bool{false, true} {
		const up, down = 100_000, 7_000
		client, server := transfer(t, ln, up, down, rst)
		got := map[netip.AddrPort]Sock{}
		deadline := time.Now().Add(5 * time.Second)
		complete := func() bool {
			_, c := got[client]
			_, s := got[server]
			return s && (c || rst)
		}
		for !complete() && time.Now().Before(deadline) {
			if err := ev.Read(100*time.Millisecond, func(s *Sock) {
				if s.Local == client && s.Remote == server || s.Local == server && s.Remote == client {
					if _, dup := got[s.Local]; dup {
						t.Errorf("socket %v reported destroyed twice", s.Local)
					}
					got[s.Local] = *s
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		c, s := got[client], got[server]
		if rst {
			// tcp_disconnect, which SO_LINGER 0 runs, clears the client's
			// addresses and counters before the socket is destroyed: only
			// the server's side keeps what moved.
			if s.BytesReceived != up || s.BytesAcked != down {
				t.Errorf("reset: server counters acked %d received %d, want %d and %d", s.BytesAcked, s.BytesReceived, down, up)
			}
			continue
		}
		if !c.HasBytes || !s.HasBytes {
			t.Fatalf("rst=%v: events client %+v server %+v, want both with tcp_info", rst, c, s)
		}
		if c.BytesAcked < up || c.BytesAcked > up+2 || c.BytesReceived < down || c.BytesReceived > down+2 {
			t.Errorf("rst=%v: client counters acked %d received %d, want %d and %d (+ SYN/FIN)", rst, c.BytesAcked, c.BytesReceived, up, down)
		}
		if s.BytesReceived < up || s.BytesReceived > up+2 {
			t.Errorf("rst=%v: server received %d, want %d", rst, s.BytesReceived, up)
		}
		if c.Cookie == 0 || c.Cookie == s.Cookie {
			t.Errorf("cookies client %d server %d, want distinct and non-zero", c.Cookie, s.Cookie)
		}
		t.Logf("rst=%v client %+v\nserver %+v", rst, c, s)
	}
}

// TestDumpCookieMatchesEvent: the cookie of a live socket in a dump is the
// one its destroy event carries.
func TestDumpCookieMatchesEvent(t *testing.T) {
	ev, err := Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-acc
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	var dumped Sock
	if err := DumpAll(context.Background(), StatesConnected, func(s *Sock) {
		if s.Local == local {
			dumped = *s
		}
	}); err != nil {
		t.Fatal(err)
	}
	if dumped.Cookie == 0 || dumped.Inode == 0 || !dumped.HasBytes {
		t.Fatalf("dump of %v: %+v, want a cookie, an inode and tcp_info", local, dumped)
	}
	c.Close()
	srv.Close()
	var destroyed Sock
	for deadline := time.Now().Add(5 * time.Second); destroyed.Cookie == 0 && time.Now().Before(deadline); {
		_ = ev.Read(100*time.Millisecond, func(s *Sock) {
			if s.Local == local {
				destroyed = *s
			}
		})
	}
	if destroyed.Cookie != dumped.Cookie {
		t.Errorf("destroy event cookie %d, dump cookie %d", destroyed.Cookie, dumped.Cookie)
	}
}

// TestGroupWait: a group of two subscriptions wakes for a connection that
// ends and names both (each hears every destroy event of the namespace),
// and each then drains the connection's sockets; a wait of 0 only looks.
// Works without root.
func TestGroupWait(t *testing.T) {
	var evs []*Events
	for range 2 {
		ev, err := Subscribe(0)
		if err != nil {
			t.Fatalf("subscribe (uid %d): %v", unix.Getuid(), err)
		}
		defer ev.Close()
		evs = append(evs, ev)
	}
	g := NewGroup(evs)
	if err := g.Wait(0, func(i int) error { return evs[i].Drain(func(*Sock) {}) }); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, server := transfer(t, ln, 1000, 100, false)
	heard := [2]int{}
	for deadline := time.Now().Add(5 * time.Second); (heard[0] < 2 || heard[1] < 2) && time.Now().Before(deadline); {
		if err := g.Wait(time.Second, func(i int) error {
			return evs[i].Drain(func(s *Sock) {
				if s.Local == client || s.Local == server {
					heard[i]++
				}
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if heard != [2]int{2, 2} {
		t.Errorf("each subscription heard %v of the connection's 2 sockets, want 2 each", heard)
	}
}
