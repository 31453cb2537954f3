//go:build e2e

package fleet_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
)

// The test binary doubles as the fleet's programs. TestMain looks at
// helperEnv before anything else: the test re-executes itself inside a
// namespace (`ip netns exec NS /path/to/fleet.test`) with helperEnv set to
// one of these modes, and the process never reaches the tests.
const (
	helperEnv = "PLANET_FLEET_HELPER"
	// modeService: a service with a process name, listeners and
	// long-lived client connections (see runService).
	modeService = "service"
	// modeAsHost: set a hostname in a UTS namespace of our own, then exec
	// the rest of the command line (planet scan) in place, so that each
	// namespace's snapshot carries a stable hostname ("web-1").
	modeAsHost = "as-host"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		// Every planet command away from the machine's configuration.
		os.Exit(testenv.RunIsolated(m))
	case modeService:
		os.Exit(runService(os.Args[1:]))
	case modeAsHost:
		os.Exit(runAsHost(os.Args[1:]))
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: unknown helper mode\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// runAsHost: args are HOSTNAME PROGRAM ARG... . unshare(CLONE_NEWUTS)
// acts on the calling thread only, and execve keeps that thread's
// namespaces, so both happen on one locked thread.
func runAsHost(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "as-host: want HOSTNAME PROGRAM [ARG...]")
		return 2
	}
	runtime.LockOSThread()
	if err := syscall.Unshare(syscall.CLONE_NEWUTS); err != nil {
		fmt.Fprintln(os.Stderr, "as-host: unshare:", err)
		return 1
	}
	if err := syscall.Sethostname([]byte(args[0])); err != nil {
		fmt.Fprintln(os.Stderr, "as-host: sethostname:", err)
		return 1
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperEnv+"=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(args[1], args[1:], env)
	fmt.Fprintf(os.Stderr, "as-host: exec %s: %v\n", args[1], err)
	return 1
}

// A dial is one long-lived client connection: connect to Addr, send Send
// bytes, then read exactly Recv bytes (the server's greeting) and hold the
// connection open until stopped.
type dial struct {
	// Addr is an IP literal and port; PORT@ADDR binds the client's own
	// port first (on the wildcard address of ADDR's family).
	Addr       string
	Send, Recv int
}

func (d dial) String() string { return fmt.Sprintf("%s,%d,%d", d.Addr, d.Send, d.Recv) }

// Pacing: darkstat 3.0.719 drops packets when a veth hands it more than
// about 2 MB between two drains of its capture buffer (see
// scan/darkstat/real_test.go), and a dropped packet is uncounted bytes. One
// flow at 8 KiB per 10 ms is 0.8 MB/s, and the test starts the big flows
// one after the other.
const (
	paceChunk    = 8 << 10
	paceInterval = 10 * time.Millisecond
)

type dialList []dial

func (l *dialList) String() string { return fmt.Sprint(*l) }

func (l *dialList) Set(s string) error {
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return fmt.Errorf("dial %q: want ADDR,SEND,RECV", s)
	}
	send, err1 := strconv.Atoi(f[1])
	recv, err2 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("dial %q: %w", s, err)
	}
	*l = append(*l, dial{Addr: f[0], Send: send, Recv: recv})
	return nil
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runService is one of the fleet's programs. It names itself (the kernel's
// comm, what planet reports as the process), listens on every -listen
// address, greets each accepted connection with -greet bytes and then
// reads it until it ends (a -listen of v6only:[::]:PORT sets IPV6_V6ONLY
// with setsockopt, as nginx does for `listen [::]:80`), makes every -dial
// connection, and prints
// "ready" once all listeners are up and every dial has sent and received
// its bytes. Readiness goes over stdout rather than a probe connection: a
// probe would leave a TIME_WAIT socket that planet rightly reports.
//
// On SIGTERM it closes every connection with SO_LINGER 0, i.e. with a
// reset: an orderly close leaves one end in TIME_WAIT for 60 s, and planet
// counts TIME_WAIT, so a "removed" dependency would linger in the next scan.
func runService(args []string) int {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	comm := fs.String("comm", "", "process name to set (/proc/self/comm)")
	greet := fs.Int("greet", 0, "bytes each accepted connection is sent first")
	var listens stringList
	var dials dialList
	fs.Var(&listens, "listen", "address to listen on (repeatable)")
	fs.Var(&dials, "dial", "ADDR,SEND,RECV: a connection to hold (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *comm != "" {
		// /proc/self/comm is the thread group leader's name, the one
		// /proc/<pid>/comm shows, whichever thread writes it.
		if err := os.WriteFile("/proc/self/comm", []byte(*comm), 0); err != nil {
			fmt.Fprintln(os.Stderr, "service: set comm:", err)
			return 1
		}
	}

	var mu sync.Mutex
	var conns []net.Conn
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	for _, addr := range listens {
		var lc net.ListenConfig
		if a, ok := strings.CutPrefix(addr, "v6only:"); ok {
			addr = a
			lc.Control = func(_, _ string, c syscall.RawConn) error {
				var serr error
				if err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
				}); err != nil {
					return err
				}
				return serr
			}
		}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "service:", err)
			return 1
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				keep(c)
				go func() {
					if err := sendPaced(c, *greet); err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, c)
				}()
			}
		}()
	}

	errs := make(chan error, len(dials))
	for _, d := range dials {
		go func() {
			dl := net.Dialer{Timeout: 10 * time.Second}
			addr := d.Addr
			if port, to, ok := strings.Cut(addr, "@"); ok {
				p, err := strconv.Atoi(port)
				if err != nil {
					errs <- fmt.Errorf("dial %s: local port: %w", d.Addr, err)
					return
				}
				dl.LocalAddr, addr = &net.TCPAddr{Port: p}, to
			}
			c, err := dl.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			keep(c)
			if err := sendPaced(c, d.Send); err != nil {
				errs <- fmt.Errorf("send to %s: %w", d.Addr, err)
				return
			}
			if n, err := io.CopyN(io.Discard, c, int64(d.Recv)); err != nil {
				errs <- fmt.Errorf("from %s: got %d of %d bytes: %w", d.Addr, n, d.Recv, err)
				return
			}
			errs <- nil
		}()
	}
	for range dials {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, "service:", err)
			return 1
		}
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "ready")
	w.Flush()

	<-stop
	mu.Lock()
	defer mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	return 0
}

func sendPaced(c net.Conn, n int) error {
	buf := make([]byte, paceChunk)
	for sent := 0; sent < n; {
		k := min(len(buf), n-sent)
		if _, err := c.Write(buf[:k]); err != nil {
			return err
		}
		sent += k
		if sent < n {
			time.Sleep(paceInterval)
		}
	}
	return nil
}
