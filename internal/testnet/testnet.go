// Package testnet builds throwaway hosts for tests that need a real network:
// each host is a network namespace, joined to others by a veth pair or by a
// bridge, with addresses from private ranges that exist only inside the
// test's namespaces (10.250.N.0/24 and fd00:250:N::/64, one N per link or
// switch). Nothing is added to the caller's own namespace, so tests never
// touch the machine's real interfaces or any outside address.
//
// Everything a Lab creates is removed by t.Cleanup, even when the test
// fails: processes started with Host.Start are stopped by PID first, then
// the namespaces are deleted, which deletes their veths and bridges.
// Namespace names carry the creating process's PID, so New also removes
// namespaces left behind by a test binary that died (e.g. a -timeout panic).
//
// The Go side of a test can act inside a namespace without helper binaries:
// Host.Listen, Host.DialContext and Host.HTTPClient create their sockets on
// a thread switched into the namespace (setns), so an in-process server or
// client lives on that host's network.
//
// Lab needs root and the ip command (iproute2); New skips the test
// otherwise, or fails it under PLANET_TEST_STRICT=1 (see internal/testenv).
package testnet

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testenv"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "planet-t-"

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

// staleName matches our namespace names and captures the creator's PID.
var staleName = regexp.MustCompile(`^` + regexp.QuoteMeta(Prefix) + `[0-9a-f]{6}-p([0-9]+)-`)

// Lab hands out hosts and subnets for one test.
type Lab struct {
	t  testing.TB
	id string // random, shared by all namespace names of this lab

	mu    sync.Mutex
	hosts int
	nets  int // subnets handed out; subnet N is 10.250.N.0/24
}

// New returns an empty lab. It skips t unless it runs as root with ip
// installed, and removes namespaces left by dead test processes.
func New(t testing.TB) *Lab {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	sweepStale(t)
	return &Lab{t: t, id: fmt.Sprintf("%06x", rand.Uint32()&0xffffff)}
}

// Host is one network namespace.
type Host struct {
	lab   *Lab
	Name  string // namespace name, for `ip netns exec`
	Label string // what the test called it

	mu     sync.Mutex
	ifaces int
}

// Port is one end of a link: an interface in Host with its addresses.
type Port struct {
	Host *Host
	Dev  string       // interface name inside Host's namespace
	IPv4 netip.Prefix // e.g. 10.250.1.1/24
	IPv6 netip.Prefix // e.g. fd00:250:1::1/64
}

// Host creates a namespace with lo up. label is for humans (letters,
// digits, dashes) and becomes the end of the namespace name.
func (l *Lab) Host(label string) *Host {
	l.t.Helper()
	l.mu.Lock()
	l.hosts++
	n := l.hosts
	l.mu.Unlock()
	if label == "" {
		label = "h" + strconv.Itoa(n)
	}
	name := fmt.Sprintf("%s%s-p%d-%s", Prefix, l.id, os.Getpid(), label)
	l.ip("netns", "add", name)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("testnet: delete namespace %s: %v: %s", name, err, bytes.TrimSpace(out))
		}
	})
	h := &Host{lab: l, Name: name, Label: label}
	l.ip("-n", name, "link", "set", "lo", "up")
	return h
}

// Link joins a and b with a veth pair on a fresh subnet; a gets host
// address .1 (::1), b gets .2 (::2).
func (l *Lab) Link(a, b *Host) (Port, Port) {
	l.t.Helper()
	n := l.subnet()
	pa := Port{Host: a, Dev: a.nextDev(), IPv4: addr4(n, 1), IPv6: addr6(n, 1)}
	pb := Port{Host: b, Dev: b.nextDev(), IPv4: addr4(n, 2), IPv6: addr6(n, 2)}
	// Both ends are created directly inside their namespaces: no name ever
	// exists in the caller's namespace, so parallel tests cannot collide.
	l.ip("link", "add", pa.Dev, "netns", a.Name, "type", "veth", "peer", "name", pb.Dev, "netns", b.Name)
	l.configure(pa)
	l.configure(pb)
	return pa, pb
}

// Switch joins hosts through a bridge that lives in a namespace of its own,
// on a fresh subnet; hosts[i] gets host address i+1. It returns the hosts'
// ports in the order given.
func (l *Lab) Switch(hosts ...*Host) []Port {
	l.t.Helper()
	if len(hosts) > 250 {
		l.t.Fatalf("testnet: switch with %d hosts: at most 250", len(hosts))
	}
	n := l.subnet()
	sw := l.Host("sw" + strconv.Itoa(n))
	l.ip("-n", sw.Name, "link", "add", "br0", "type", "bridge")
	l.ip("-n", sw.Name, "link", "set", "br0", "up")
	ports := make([]Port, len(hosts))
	for i, h := range hosts {
		p := Port{Host: h, Dev: h.nextDev(), IPv4: addr4(n, i+1), IPv6: addr6(n, i+1)}
		swDev := sw.nextDev()
		l.ip("link", "add", p.Dev, "netns", h.Name, "type", "veth", "peer", "name", swDev, "netns", sw.Name)
		l.ip("-n", sw.Name, "link", "set", swDev, "master", "br0")
		l.ip("-n", sw.Name, "link", "set", swDev, "up")
		l.configure(p)
		ports[i] = p
	}
	return ports
}

func (l *Lab) subnet() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nets == 255 {
		l.t.Fatalf("testnet: out of subnets (255 per lab)")
	}
	l.nets++
	return l.nets
}

// configure assigns p's addresses and brings it up. nodad: without it an
// IPv6 address stays "tentative" for about a second and cannot be bound.
func (l *Lab) configure(p Port) {
	l.t.Helper()
	l.ip("-n", p.Host.Name, "addr", "add", p.IPv4.String(), "dev", p.Dev)
	l.ip("-n", p.Host.Name, "addr", "add", p.IPv6.String(), "dev", p.Dev, "nodad")
	l.ip("-n", p.Host.Name, "link", "set", p.Dev, "up")
}

func (l *Lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("testnet: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

func addr4(net, host int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 250, byte(net), byte(host)}), 24)
}

func addr6(net, host int) netip.Prefix {
	a := [16]byte{0: 0xfd, 2: 0x02, 3: 0x50, 5: byte(net), 15: byte(host)}
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

func (h *Host) nextDev() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := "eth" + strconv.Itoa(h.ifaces)
	h.ifaces++
	return d
}

// IP runs `ip -n NAME arg...` (ip's own commands inside h, e.g. link
// settings) and fails the test if it fails.
func (h *Host) IP(arg ...string) {
	h.lab.t.Helper()
	h.lab.ip(append([]string{"-n", h.Name}, arg...)...)
}

// Command returns `ip netns exec NAME name arg...`, not started. ip execs
// the command in place, so once started the Cmd's PID is the command's own.
func (h *Host) Command(name string, arg ...string) *exec.Cmd {
	// No Pdeathsig: it fires when the forking OS thread exits, and Do
	// ends threads on purpose. A crashed test's leftovers go in sweepStale.
	return exec.Command("ip", append([]string{"netns", "exec", h.Name, name}, arg...)...)
}

// Proc is a process started by Host.Start.
type Proc struct {
	Cmd  *exec.Cmd
	out  *syncBuffer // nil when the caller set Stdout/Stderr
	done chan struct{}
	err  error // from Wait, valid once done is closed
	once sync.Once
}

// Start starts cmd (usually from Host.Command) and registers its stop with
// t.Cleanup. Unless the caller set them, stdout and stderr are kept and
// logged if the test fails.
func (h *Host) Start(cmd *exec.Cmd) *Proc {
	t := h.lab.t
	t.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil && cmd.Stderr == nil {
		p.out = &syncBuffer{}
		cmd.Stdout, cmd.Stderr = p.out, p.out
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testnet: start %s in %s: %v", describe(cmd), h.Label, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() && p.out != nil {
			t.Logf("output of %s (pid %d) in %s:\n%s", describe(cmd), cmd.Process.Pid, h.Label, p.out.String())
		}
	})
	return p
}

// Stop ends the process by its PID: SIGTERM, then SIGKILL after 3s. It
// waits for the exit and may be called more than once.
func (p *Proc) Stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
	})
}

// Exited reports whether the process has ended, and its Wait error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output is what the process wrote so far, when Start captured it.
func (p *Proc) Output() string {
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// init keeps the main goroutine on the process's main thread, so that no
// Do goroutine runs there: Do's thread stays in h's namespace after f, and
// the runtime can discard any thread but the main one, whose namespace is
// what /proc/self/net shows (a test reading /proc/net would then see h's).
func init() { runtime.LockOSThread() }

// Do runs f on an OS thread that has entered h's namespace. Sockets f
// creates belong to that namespace for their whole life. f must do its
// network work itself, not in goroutines it starts, and must not resolve
// names (the resolver may run elsewhere): use IP literals.
func (h *Host) Do(f func() error) error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine ends, the runtime discards
		// the thread rather than reuse one left in another namespace.
		runtime.LockOSThread()
		fd, err := unix.Open(netnsDir+"/"+h.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("testnet: open namespace %s: %w", h.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("testnet: enter namespace %s: %w", h.Name, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// DialContext dials address (an IP literal and port) from inside h.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen listens on address (an IP literal and port) inside h.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// HTTPClient returns a client whose connections start inside h, with no
// proxy and no redirects, e.g. to reach a server bound to 127.0.0.1 there.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// WaitTCP polls until a TCP connect from inside h to address succeeds, or
// ctx ends; the error then carries the last connect error.
func (h *Host) WaitTCP(ctx context.Context, address string) error {
	for {
		c, err := h.DialContext(ctx, "tcp", address)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: %s in %s does not answer: %w", address, h.Label, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sweepStale deletes namespaces named by this package whose creating
// process is gone, stopping (by PID) what still runs in them.
func sweepStale(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no namespaces at all
	}
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // creator alive (or unknown): not ours to touch
		}
		out, _ := exec.Command("ip", "netns", "pids", e.Name()).Output()
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil && p > 1 {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("testnet: remove stale namespace %s: %v: %s", e.Name(), err, bytes.TrimSpace(out))
		} else {
			t.Logf("testnet: removed stale namespace %s (creator pid %d is gone)", e.Name(), pid)
		}
	}
}

// describe names cmd without the `ip netns exec NAME` in front.
func describe(cmd *exec.Cmd) string {
	args := cmd.Args
	if len(args) > 4 && args[0] == "ip" && args[1] == "netns" && args[2] == "exec" {
		args = args[4:]
	}
	return strings.Join(args, " ")
}

// syncBuffer is a bytes.Buffer safe for a process's two output streams
// and a concurrent reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Machine is a PID namespace of its own (with its own /proc mount and
// hostname) whose init sleeps in a host's network namespace: a machine as
// planet sees it, whose processes, and its containers', are the only ones
// its /proc shows. Killing the init, at clean-up, kills everything in it.
type Machine struct {
	Init int // the init's PID as the test sees it
	once sync.Once
	stop func()
}

// Stop kills the machine's init, and with it every process in the PID
// namespace, and waits for unshare. It may be called more than once.
func (m *Machine) Stop() { m.once.Do(m.stop) }

// Machine starts the init of a new PID namespace in h, named hostname.
// Its clean-up (Stop) is registered now, so it would run after the
// clean-ups of the processes started in it later; but a process started
// through nsenter leaves its child holding the output pipe, and
// Proc.Stop waits for that: the caller registers Stop again once those
// processes are started (t.Cleanup(m.Stop)), to run first.
func (h *Host) Machine(hostname string) *Machine {
	t := h.lab.t
	t.Helper()
	testenv.NeedCommand(t, "unshare", "util-linux")
	testenv.NeedCommand(t, "nsenter", "util-linux")
	cmd := h.Command("unshare", "--pid", "--fork", "--mount-proc", "--uts", "--kill-child",
		"sh", "-c", "hostname "+hostname+" && exec sleep 3600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("testnet: start a PID namespace in %s: %v", h.Label, err)
	}
	m := &Machine{}
	m.stop = func() {
		if m.Init != 0 {
			_ = syscall.Kill(m.Init, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Cleanup(m.Stop)
	// unshare --fork: the init is unshare's child; wait for its exec of
	// sleep, so that the hostname is set.
	children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(children)
		if f := strings.Fields(string(b)); len(f) > 0 {
			if c, _ := os.ReadFile("/proc/" + f[0] + "/comm"); string(c) == "sleep\n" {
				m.Init, _ = strconv.Atoi(f[0])
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("testnet: the PID namespace's init in %s did not start", h.Label)
	return nil
}

// Command returns a command, not started, that runs name in the machine's
// PID, mount and UTS namespaces and in netns's network namespace (the
// machine's own host, or one of its containers).
func (m *Machine) Command(netns *Host, name string, arg ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(m.Init), "-p", "-m", "-u",
		"--net=" + netnsDir + "/" + netns.Name, "--", name}, arg...)...)
}
