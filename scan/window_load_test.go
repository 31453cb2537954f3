package scan

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// reqServer answers a tiny request protocol on loopback: the client sends
// 8 bytes (up, down as two big-endian uint32), then up bytes; the server
// replies with down bytes. It repeats until the client closes.
type reqServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newReqServer(t testing.TB) *reqServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveReqs(t, ln)
}

// serveReqs answers requests on ln until the test ends.
func serveReqs(t testing.TB, ln net.Listener) *reqServer {
	s := &reqServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				var h [8]byte
				buf := make([]byte, 32<<10)
				for {
					if _, err := io.ReadFull(c, h[:]); err != nil {
						return
					}
					up, down := binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[4:])
					if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, int64(up)), buf); err != nil {
						return
					}
					for down > 0 {
						n := min(down, uint32(len(buf)))
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
						down -= n
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *reqServer) port() uint16 { return uint16(s.ln.Addr().(*net.TCPAddr).Port) }

// tally counts what clients sent and received, request headers included.
type tally struct{ sent, received, conns atomic.Int64 }

// request sends one request on c and reads its answer.
func (ta *tally) request(c net.Conn, up, down int) error {
	b := make([]byte, 8+up)
	binary.BigEndian.PutUint32(b[:4], uint32(up))
	binary.BigEndian.PutUint32(b[4:8], uint32(down))
	if _, err := c.Write(b); err != nil {
		return err
	}
	ta.sent.Add(int64(len(b)))
	n, err := io.CopyN(io.Discard, c, int64(down))
	ta.received.Add(n)
	return err
}

// shortConn opens one connection, makes one request and closes it, with a
// reset when rst (SO_LINGER 0).
func (ta *tally) shortConn(port uint16, up, down int, rst bool) error {
	return ta.shortConnWith(func() (net.Conn, error) {
		return net.DialTCP("tcp4", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	}, up, down, rst)
}

// shortConnWith is shortConn with the connection made by dial.
func (ta *tally) shortConnWith(dial func() (net.Conn, error), up, down int, rst bool) error {
	c, err := dial()
	if err != nil {
		return err
	}
	ta.conns.Add(1)
	err = ta.request(c, up, down)
	if rst {
		err = errors.Join(err, c.(*net.TCPConn).SetLinger(0))
	}
	return errors.Join(err, c.Close())
}
