package darkstat

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// Bytes the real-darkstat test sends each way over each address family.
const (
	upBytes   = 2_000_000 // peer B -> host A: A's ingress
	downBytes = 1_000_000 // host A -> peer B: A's egress
)

// withinTolerance says whether darkstat's count for a transfer of payload
// bytes is plausible. darkstat counts whole IP packets, so the count is at
// least the payload. Above it: IP and TCP headers (at most 40+32 bytes per
// segment of at least 1,400 bytes, about 5%; far less when the veth
// carries 64 KiB GSO segments), so 10% of the payload; plus a fixed 64 KiB
// for the handshake, the FINs, IPv6 neighbour discovery and the pure ACKs
// that answer the other direction's data (about 1,400 of them at 52-72
// bytes for 2 MB even without delayed ACKs).
func withinTolerance(counted, payload uint64) bool {
	return payload <= counted && counted <= payload+payload/10+64<<10
}

// TestRealDarkstat runs darkstat 3.0.719 in namespace A, capturing on A's
// end of a veth to namespace B, pushes known byte counts between the two
// over IPv4 and IPv6, and reads the counts back through Read from the base
// URL (the detection path a user's --darkstat http://127.0.0.1:667/ takes).
func TestRealDarkstat(t *testing.T) {
	testenv.NeedRoot(t)
	darkstat := testenv.NeedCommand(t, "darkstat", "darkstat")
	lab := testnet.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	pa, pb := lab.Link(a, b)

	// --no-dns: no resolver child process (one PID to stop, no DNS
	// traffic). The web interface is on A's own loopback.
	ds := a.Start(a.Command(darkstat, "--no-daemon", "--no-dns", "-i", pa.Dev, "-b", "127.0.0.1", "-p", "667"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	up, cancelUp := context.WithTimeout(ctx, 10*time.Second)
	defer cancelUp()
	if err := a.WaitTCP(up, "127.0.0.1:667"); err != nil {
		t.Fatalf("darkstat (pid %d) did not come up: %v\n%s", ds.Cmd.Process.Pid, err, ds.Output())
	}

	for _, dst := range []netip.Addr{pa.IPv4.Addr(), pa.IPv6.Addr()} {
		if err := transfer(ctx, a, b, netip.AddrPortFrom(dst, 9000)); err != nil {
			t.Fatal(err)
		}
	}

	opts := fetch.Options{Client: a.HTTPClient(), Timeout: 5 * time.Second, MaxBytes: 1 << 20}
	isLocal := func(ip netip.Addr) bool { return ip == pa.IPv4.Addr() || ip == pa.IPv6.Addr() }
	peers := []netip.Addr{pb.IPv4.Addr(), pb.IPv6.Addr()}

	// darkstat shows packets a moment after it captures them: poll.
	var res *Result
	var got map[netip.Addr]snapshot.Peer
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		res, err = Read(ctx, "http://127.0.0.1:667/", opts)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		got = make(map[netip.Addr]snapshot.Peer)
		for _, p := range res.Peers(isLocal) {
			got[p.RemoteIP] = p
		}
		complete := true
		for _, ip := range peers {
			complete = complete && got[ip].IngressBytes >= upBytes && got[ip].EgressBytes >= downBytes
		}
		if complete || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}

	if res.Format != FormatHTML || res.URL != "http://127.0.0.1:667/hosts/?full=yes" {
		t.Errorf("read %s as %s, want the full host table as html", res.URL, res.Format)
	}
	for _, ip := range []netip.Addr{pa.IPv4.Addr(), pa.IPv6.Addr()} {
		if _, ok := got[ip]; ok {
			t.Errorf("darkstat's own address %s is among the peers", ip)
		}
	}
	for _, ip := range peers {
		p, ok := got[ip]
		if !ok {
			t.Errorf("peer %s missing; darkstat saw %v (%s)", ip, res.Hosts, dropped(ctx, opts))
			continue
		}
		t.Logf("peer %s: ingress %d for %d sent (+%.2f%%), egress %d for %d sent (+%.2f%%)", ip,
			p.IngressBytes, upBytes, overhead(p.IngressBytes, upBytes),
			p.EgressBytes, downBytes, overhead(p.EgressBytes, downBytes))
		if !withinTolerance(p.IngressBytes, upBytes) {
			t.Errorf("peer %s: ingress %d bytes, want %d..%d (%s)", ip, p.IngressBytes, upBytes, upBytes+upBytes/10+64<<10, dropped(ctx, opts))
		}
		if !withinTolerance(p.EgressBytes, downBytes) {
			t.Errorf("peer %s: egress %d bytes, want %d..%d (%s)", ip, p.EgressBytes, downBytes, downBytes+downBytes/10+64<<10, dropped(ctx, opts))
		}
	}

	// The /hosts/ URL gives the same table.
	hostsRes, err := Read(ctx, "http://127.0.0.1:667/hosts/?sort=in", opts)
	if err != nil {
		t.Fatalf("Read /hosts/: %v", err)
	}
	if len(hostsRes.Hosts) < len(peers)+2 || hostsRes.URL != "http://127.0.0.1:667/hosts/?full=yes&sort=in" {
		t.Errorf("/hosts/: read %s, %d hosts", hostsRes.URL, len(hostsRes.Hosts))
	}
	// 3.0.719 has no /metrics: a clear error, not an empty success.
	if _, err := Read(ctx, "http://127.0.0.1:667/metrics", opts); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Read /metrics of 3.0.719: %v, want an HTTP 404 error", err)
	}

	ds.Stop()
	if exited, _ := ds.Exited(); !exited {
		t.Errorf("darkstat pid %d still running after Stop", ds.Cmd.Process.Pid)
	}
}

// transfer connects from b to dst (a listener in a), sends upBytes, then
// receives downBytes. Both sides pace their writes: darkstat's capture
// buffer drops packets when a veth delivers a burst of 64 KiB segments
// faster than it reads them, and a dropped packet is uncounted bytes.
// On Linux darkstat drains its capture buffer (libpcap's default, 2 MB)
// only every 500 ms, and our veth hands it 64 KiB GSO segments, so about
// 2 MB of traffic per drain is the most it can take. 16 KiB per 10 ms
// (1.6 MB/s) stays well below that even when the machine is busy.
func transfer(ctx context.Context, a, b *testnet.Host, dst netip.AddrPort) error {
	ln, err := a.Listen("tcp", dst.String())
	if err != nil {
		return err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if n, err := io.CopyN(io.Discard, c, upBytes); err != nil {
			served <- fmt.Errorf("server got %d of %d bytes: %w", n, upBytes, err)
			return
		}
		served <- sendPaced(c, downBytes)
	}()

	c, err := b.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := sendPaced(c, upBytes); err != nil {
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != downBytes {
		return fmt.Errorf("from %s: got %d of %d bytes: %v", dst, n, downBytes, err)
	}
	return <-served
}

func sendPaced(c net.Conn, n int) error {
	buf := make([]byte, 16<<10)
	for sent := 0; sent < n; {
		k := min(len(buf), n-sent)
		if _, err := c.Write(buf[:k]); err != nil {
			return err
		}
		sent += k
		time.Sleep(10 * time.Millisecond)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}

var droppedRE = regexp.MustCompile(`id="pc">([0-9,]+)</span> <b>captured,</b> <span id="pd">([0-9,]+)`)

// dropped reports darkstat's capture counters, to explain a short count.
func dropped(ctx context.Context, opts fetch.Options) string {
	page, err := fetch.Get(ctx, "http://127.0.0.1:667/", opts)
	if err != nil {
		return "capture counters unknown: " + err.Error()
	}
	if m := droppedRE.FindSubmatch(page); m != nil {
		return fmt.Sprintf("darkstat captured %s packets, dropped %s", m[1], m[2])
	}
	return "capture counters not on darkstat's page"
}

func overhead(counted, payload uint64) float64 {
	return 100 * (float64(counted) - float64(payload)) / float64(payload)
}
