// Command holdconns opens N loopback TCP connections and holds them until it
// is killed, so scan benchmarks can compare planet with ss on a known table.
// The server side and the client side live in two processes (this one and a
// re-executed child) so that each needs only N file descriptors. It prints
// "ready" once every connection is established.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	n := flag.Int("n", 1000, "connections to open")
	dial := flag.String("dial", "", "internal: run as the client side, dialing this address")
	flag.Parse()
	raiseNoFile(uint64(*n) + 64)
	if *dial != "" {
		client(*dial, *n)
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	check(err)
	child := exec.Command(os.Args[0], "-n", fmt.Sprint(*n), "-dial", ln.Addr().String())
	child.Stderr = os.Stderr
	check(child.Start())
	conns := make([]net.Conn, 0, *n)
	for len(conns) < *n {
		c, err := ln.Accept()
		check(err)
		conns = append(conns, c)
	}
	fmt.Println("ready", ln.Addr())
	waitSignal()
	child.Process.Signal(syscall.SIGTERM)
	child.Wait()
}

func client(addr string, n int) {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp4", addr)
		check(err)
		conns = append(conns, c)
	}
	waitSignal()
	// Unreachable conns would be closed by their finalizers mid-wait.
	runtime.KeepAlive(conns)
}

func waitSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

func raiseNoFile(want uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < want {
		lim.Cur = min(lim.Max, want)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdconns:", err)
		os.Exit(1)
	}
}
