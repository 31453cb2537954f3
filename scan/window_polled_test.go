package scan

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// TestWindowNamespacePolled runs a window the way the packaged unit does,
// without CAP_SYS_ADMIN (setpriv drops it from the bounding set, so the
// child scan cannot setns), over a network namespace where a client makes
// short connections to a server, one after another: three connections,
// each held until the window has counted both its ends (the child says so,
// windowTook), however far apart a loaded host spaces the /proc reads and
// owners passes; the window is then ended (SIGINT). The namespace is
// reported as polled, not unwatched; its upstream and downstream records
// have exactly the three connections opened and closed, the test binary as
// their process (an upstream socket is counted only once an owners pass
// has looked for it), and bytes marked unknown rather than 0. Needs root.
func TestWindowNamespacePolled(t *testing.T) {
	if testing.Short() {
		t.Skip("a 9 s window over a network namespace")
	}
	lab := testnet.New(t)
	setpriv := testenv.NeedCommand(t, "setpriv", "util-linux")
	other := lab.Host("polled")
	anchor := anchorIn(t, other)
	inode := netnsOf(t, anchor)

	ln, err := other.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var served sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer served.Done()
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()

	out, err := os.Create(t.TempDir() + "/snap.json")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(setpriv, "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+windowScanMode, "PLANET_WINDOW=10m", "PLANET_TEST_TOOK=1", "PLANET_WINDOW_NETNS="+NamespacesAll)
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
		}
	})
	sc := bufio.NewScanner(stderr)
	if !awaitBegun(t, sc, func() { _ = cmd.Process.Kill() }) {
		t.Fatalf("the window scan ended (or was ended after a minute) before its window began: %v", cmd.Wait())
	}
	took := make(chan string, 1024) // the child's "took" lines
	go func() {
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "took ") {
				select {
				case took <- line:
				default:
					t.Errorf("scan: %s: more lines than the test reads", line)
				}
			} else {
				t.Logf("scan: %s", line)
			}
		}
		exited <- cmd.Wait()
	}()
	// counted waits until the window has counted both ends of the
	// connection whose client end is at client.
	counted := func(client string) {
		t.Helper()
		up := fmt.Sprintf("took %d %s ", inode, client)
		down := fmt.Sprintf(" %s ", client)
		var upSeen, downSeen bool
		timeout := time.After(time.Minute)
		for !upSeen || !downSeen {
			select {
			case line := <-took:
				switch {
				case strings.HasPrefix(line, up):
					upSeen = true
					t.Logf("scan: %s", line)
				case strings.HasPrefix(line, fmt.Sprintf("took %d ", inode)) && strings.Contains(line, down):
					downSeen = true
					t.Logf("scan: %s", line)
				}
			case err := <-exited:
				exited <- err
				t.Fatalf("the window scan ended (%v) before counting the connection from %s", err, client)
			case <-timeout:
				t.Fatalf("the window did not count the connection from %s (upstream %v, downstream %v) in a minute", client, upSeen, downSeen)
			}
		}
	}

	const conns = 3
	target := "127.0.0.1:" + strconv.Itoa(int(port))
	for range conns {
		served.Add(1) // done by the server once the connection is over
		c, err := other.DialContext(context.Background(), "tcp4", target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		counted(c.LocalAddr().String())
		c.Close()
	}
	over := make(chan struct{})
	go func() { served.Wait(); close(over) }()
	select {
	case <-over:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not see every connection end")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("window scan: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the window scan did not end")
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Read(out, "polled")
	if err != nil {
		t.Fatal(err)
	}
	w := snap.Window
	ino := strconv.FormatUint(inode, 10)
	t.Logf("window %+v", w)
	if w.NamespacesPolled < 1 || !strings.Contains(w.Detail, ino) {
		t.Errorf("window %+v: want namespace %d among the polled ones, named in detail", w, inode)
	}
	if !strings.Contains(w.Detail, "operation not permitted") {
		t.Errorf("window detail %q does not say entering was refused", w.Detail)
	}
	me := selfComm(t)
	for _, dir := range []snapshot.Direction{snapshot.Upstream, snapshot.Downstream} {
		var opened, closed int
		procs := map[string]bool{}
		for _, c := range snap.Connections {
			if c.Netns != inode || c.Direction != dir || c.Port != port || c.Protocol != "tcp" || c.Window == nil {
				continue
			}
			t.Logf("%s record: process %q window %+v", dir, c.Process, *c.Window)
			opened += c.Window.Opened
			closed += c.Window.Closed
			procs[c.Process] = true
			if !c.Window.BytesUnknown || c.Window.BytesSent != 0 || c.Window.BytesReceived != 0 {
				t.Errorf("%s record of %q: bytes_unknown %v, sent %d, received %d: want unknown bytes, none claimed",
					dir, c.Process, c.Window.BytesUnknown, c.Window.BytesSent, c.Window.BytesReceived)
			}
		}
		if opened != conns || closed != conns {
			t.Errorf("%s on port %d in netns %d: opened %d closed %d, want %d each", dir, port, inode, opened, closed, conns)
		}
		if len(procs) != 1 || !procs[me] {
			t.Errorf("%s processes %v, want %q", dir, procs, me)
		}
	}
}
