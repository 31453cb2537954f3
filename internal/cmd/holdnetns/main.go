// Command holdnetns makes a host with many network namespaces for the scan
// benchmark: -ns namespaces, each with lo up, one loopback listener and
// -conns connections to it (both ends held here: 2*conns+1 TCP sockets per
// namespace), and a sleep process in each, which is how a scan finds a
// namespace (through /proc/<pid>/ns/net) as it finds a container's. It
// prints one line per namespace, the sleep's PID, then "ready", and holds
// everything until SIGINT or SIGTERM, when the namespaces go with their
// processes and sockets. Run as root.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func main() {
	nsCount := flag.Int("ns", 500, "network namespaces to make")
	conns := flag.Int("conns", 50, "loopback connections per namespace")
	flag.Parse()
	var lim unix.Rlimit
	check(unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	lim.Cur = lim.Max
	check(unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
	perProc := int((lim.Max - 64) / uint64(2**conns+2))
	if *nsCount > perProc {
		// More sockets than one process may hold: split over children.
		split(*nsCount, perProc, *conns)
		return
	}

	var held []net.Conn
	var listeners []net.Listener
	var sleepers []*exec.Cmd
	for range *nsCount {
		cs, ln, sleeper, err := namespace(*conns)
		check(err)
		held = append(held, cs...)
		listeners = append(listeners, ln)
		sleepers = append(sleepers, sleeper)
		fmt.Println(sleeper.Process.Pid)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, s := range sleepers {
		_ = s.Process.Kill()
		_ = s.Wait()
	}
	runtime.KeepAlive(held)
	runtime.KeepAlive(listeners)
}

// split runs children of this command holding per namespaces each, passes
// their PID lines on, says "ready" when all are, and stops them on a signal.
func split(total, per, conns int) {
	var kids []*exec.Cmd
	ready := make(chan struct{}, total/per+1)
	lines := make(chan string)
	for left := total; left > 0; left -= per {
		n := min(left, per)
		cmd := exec.Command(os.Args[0], "-ns", fmt.Sprint(n), "-conns", fmt.Sprint(conns))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		check(err)
		check(cmd.Start())
		kids = append(kids, cmd)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- struct{}{}
					continue
				}
				lines <- sc.Text()
			}
		}()
	}
	for waiting := len(kids); waiting > 0; {
		select {
		case l := <-lines:
			fmt.Println(l)
		case <-ready:
			waiting--
		}
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, k := range kids {
		_ = k.Process.Signal(syscall.SIGTERM)
		_ = k.Wait()
	}
}

// namespace makes one namespace on a thread of its own (never returned to
// the scheduler: the runtime drops it when the goroutine ends), opens the
// sockets there and starts the sleep from it, so the child inherits it.
func namespace(conns int) ([]net.Conn, net.Listener, *exec.Cmd, error) {
	type result struct {
		conns []net.Conn
		ln    net.Listener
		cmd   *exec.Cmd
		err   error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("unshare: %w", err)}
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			done <- result{err: fmt.Errorf("lo up: %w", err)}
			return
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			done <- result{err: err}
			return
		}
		var out []net.Conn
		for range conns {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				done <- result{err: err}
				return
			}
			s, err := ln.Accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			out = append(out, c, s)
		}
		cmd := exec.Command("sleep", "infinity")
		if err := cmd.Start(); err != nil {
			done <- result{err: err}
			return
		}
		// The listener stays open too: the namespace's server.
		done <- result{conns: out, ln: ln, cmd: cmd}
	}()
	r := <-done
	return r.conns, r.ln, r.cmd, r.err
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdnetns:", err)
		os.Exit(1)
	}
}
