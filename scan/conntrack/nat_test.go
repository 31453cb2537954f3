package conntrack_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/scan/conntrack"
	"github.com/planetdeps/planet/snapshot"
)

// The test binary doubles as the fleet's programs: PLANET_CT_HELPER=MODE,
// arguments NAME ADDR. NAME becomes the process's comm, so the snapshot
// names it.
const helperEnv = "PLANET_CT_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1], os.Args[2]))
	}
	os.Exit(m.Run())
}

// helper modes:
//
//	serve-tcp: accept; per connection read "hi\n", answer "ok\n", hold it
//	close-tcp: accept; per connection write "bye\n" and close first
//	serve-udp: read datagrams forever, printing "got" for each
//	dial-tcp:  connect, say "hi\n", read "ok\n", hold the connection
//	once-tcp:  connect, read to the end, close, exit
//	sendto:    one 100-byte datagram from an unconnected socket, then wait
//
// Each prints "ready" once its part is done.
func helper(mode, name, addr string) int {
	if err := os.WriteFile("/proc/self/comm", []byte(name), 0); err != nil {
		fmt.Println("comm:", err)
		return 1
	}
	fail := func(err error) int { fmt.Println(mode, "error:", err); return 1 }
	switch mode {
	case "serve-tcp", "close-tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		for {
			c, err := ln.Accept()
			if err != nil {
				return fail(err)
			}
			if mode == "close-tcp" {
				c.Write([]byte("bye\n"))
				c.Close()
				continue
			}
			go func() {
				r := bufio.NewReader(c)
				if _, err := r.ReadString('\n'); err == nil {
					c.Write([]byte("ok\n"))
				}
				io.Copy(io.Discard, r)
			}()
		}
	case "serve-udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return fail(err)
			}
			fmt.Println("got")
		}
	case "dial-tcp":
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fail(err)
		}
		c.Write([]byte("hi\n"))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		select {}
	case "once-tcp":
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fail(err)
		}
		io.Copy(io.Discard, c)
		c.Close()
		fmt.Println("ready")
		return 0
	case "sendto":
		to, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return fail(err)
		}
		pc, err := net.ListenUDP("udp", nil) // unconnected: sendto()
		if err != nil {
			return fail(err)
		}
		if _, err := pc.WriteToUDP(make([]byte, 100), to); err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		select {}
	}
	return fail(fmt.Errorf("unknown mode"))
}

type lab struct {
	t      *testing.T
	planet string
	config string
	state  string // the docker machine's runtime state (--runtime-root)
	cg     *testenv.Cgroups
}

// start starts a helper through cmd (a Command of a testnet.Host or a
// Machine) in the cgroup rel and waits for its "ready".
func (l *lab) start(h *testnet.Host, cmd *exec.Cmd, rel, mode string) *testnet.Proc {
	l.t.Helper()
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	l.cg.Into(cmd, rel)
	p := h.Start(cmd)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "ready") {
		if done, _ := p.Exited(); done || time.Now().After(deadline) {
			l.t.Fatalf("%s %s in %s: not ready: %s", mode, cmd.Args, h.Label, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// waitOutput waits until p has printed s n times.
func (l *lab) waitOutput(p *testnet.Proc, s string, n int) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.Output(), s) < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: %q printed fewer than %d times: %s", p.Cmd.Args, s, n, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// svc runs a helper in h as the systemd service NAME.service of the
// machine h is.
func (l *lab) svc(h *testnet.Host, mode, name, addr string) *testnet.Proc {
	l.t.Helper()
	return l.start(h, h.Command(os.Args[0], name, addr), h.Label+"/system.slice/"+name+".service", mode)
}

func sh(t *testing.T, h *testnet.Host, args ...string) {
	t.Helper()
	if out, err := h.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), h.Label, err, out)
	}
}

// scan runs planet scan through cmd (h.Command or a Machine's Command:
// what comes before planet's own arguments, e.g. setpriv's) and parses
// the snapshot; label names the host in errors.
func (l *lab) scan(label string, command func(args ...string) *exec.Cmd, args ...string) *snapshot.Snapshot {
	l.t.Helper()
	cmd := command(append([]string{l.planet, "scan", "--config", l.config, "-o", "-"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		l.t.Fatalf("planet scan in %s: %v\n%s", label, err, stderr.String())
	}
	s, err := snapshot.Parse(out, label)
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

func addr(p testnet.Port, port int) string {
	return fmt.Sprintf("%s:%d", p.IPv4.Addr(), port)
}

// TestNAT builds, with real iptables rules in network namespaces, a
// docker-like machine "docker" (a PID namespace of its own, whose
// container "shop" is a network namespace and a cgroup shaped as Docker
// makes them, named by Docker's state) and plain hosts whose programs run
// as systemd services (real cgroups):
//
//	user (not scanned) --> docker:8080, DNAT to shop:80 ("web")
//	shop ("worker")   --> server:5432 ("db"), masqueraded by docker
//	shop ("shopstats") --sendto--> server:8125/udp ("collector"), masqueraded
//	shop ("shoponce") --> server:8001 ("closer"), masqueraded, closed before the scan
//	app ("fetcher")   --> router:8081, DNAT to backend:80 ("web")
//	app ("caller")    --> VIP 10.250.99.1:80, DNAT on app itself to server:8000 ("api")
//	app ("oneshot")   --> server:8001 ("closer"), closed before the scan
//	app ("statsc")    --sendto--> server:8125/udp ("collector")
//	app ("syslogc")   --sendto--> server:514/udp over IPv6 ("syslogd")
//
// and scans docker (every namespace of its machine: its own and shop's),
// server, app, router and backend (not user). The snapshots and the merged
// graph must hold exactly these dependencies, with the workloads on both
// ends.
func TestNAT(t *testing.T) {
	n := testnet.New(t)
	testenv.NeedCommand(t, "iptables", "iptables")
	dir := t.TempDir()
	l := &lab{t: t, planet: filepath.Join(dir, "planet"), config: filepath.Join(dir, "planet.yaml"), state: filepath.Join(dir, "root")}
	if out, err := exec.Command("go", "build", "-o", l.planet, "github.com/planetdeps/planet/cmd/planet").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.WriteFile(l.config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The unprivileged scans below run the binary as nobody: open the
	// test's directory (TMP/TestNATn/001) to it, and Docker's state as
	// the runtime keeps it (root's, world-readable).
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shopID := strings.Repeat("5b", 32)
	ctrState := filepath.Join(l.state, "var/lib/docker/containers", shopID)
	if err := os.MkdirAll(ctrState, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctrState, "config.v2.json"), []byte(`{"ID":"`+shopID+`","Name":"/shop"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l.cg = testenv.NewCgroups(t)

	user, app, docker, server, router := n.Host("user"), n.Host("app"), n.Host("docker"), n.Host("server"), n.Host("router")
	shop, backend := n.Host("shop"), n.Host("backend")
	lan := n.Switch(user, app, docker, server, router)
	pUser, pApp, pDocker, pServer, pRouter := lan[0], lan[1], lan[2], lan[3], lan[4]
	dockerBr, pShop := n.Link(docker, shop)
	routerIn, pBackend := n.Link(router, backend)

	sh(t, shop, "ip", "route", "add", "default", "via", dockerBr.IPv4.Addr().String())
	sh(t, backend, "ip", "route", "add", "default", "via", routerIn.IPv4.Addr().String())
	sh(t, app, "ip", "route", "add", "default", "via", pRouter.IPv4.Addr().String())
	for _, h := range []*testnet.Host{docker, router} {
		sh(t, h, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	// docker: the published port and the containers' masquerade.
	sh(t, docker, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", pDocker.IPv4.Addr().String(), "-p", "tcp", "--dport", "8080",
		"-j", "DNAT", "--to-destination", addr(pShop, 80))
	sh(t, docker, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", pShop.IPv4.Masked().String(), "!", "-o", dockerBr.Dev, "-j", "MASQUERADE")
	// router: a port forwarded to the backend behind it.
	sh(t, router, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", pRouter.IPv4.Addr().String(), "-p", "tcp", "--dport", "8081",
		"-j", "DNAT", "--to-destination", addr(pBackend, 80))
	// app: a service VIP resolved on the host itself (kube-proxy style),
	// and byte counters on.
	sh(t, app, "iptables", "-t", "nat", "-A", "OUTPUT", "-d", "10.250.99.1", "-p", "tcp", "--dport", "80",
		"-j", "DNAT", "--to-destination", addr(pServer, 8000))
	sh(t, app, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1")
	// server: a stateful firewall, which is what turns tracking on, for
	// IPv4 and IPv6; app tracks IPv6 too.
	sh(t, server, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	sh(t, server, "ip6tables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	sh(t, app, "ip6tables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")

	// The docker machine; its container's processes run in the container's
	// network namespace and cgroup.
	machine := docker.Machine("docker")
	inShop := func(mode, name, addr string) *testnet.Proc {
		return l.start(shop, machine.Command(shop, os.Args[0], name, addr), "docker/system.slice/docker-"+shopID+".scope", mode)
	}

	inShop("serve-tcp", "web", ":80")
	l.svc(backend, "serve-tcp", "web", ":80")
	l.svc(server, "serve-tcp", "db", ":5432")
	l.svc(server, "serve-tcp", "api", ":8000")
	l.svc(server, "close-tcp", "closer", ":8001")
	collector := l.svc(server, "serve-udp", "collector", ":8125")
	syslogd := l.svc(server, "serve-udp", "syslogd", "[::]:514")

	l.svc(user, "dial-tcp", "curl", addr(pDocker, 8080))
	inShop("dial-tcp", "worker", addr(pServer, 5432))
	inShop("sendto", "shopstats", addr(pServer, 8125))
	inShop("once-tcp", "shoponce", addr(pServer, 8001)).Stop()
	l.svc(app, "dial-tcp", "fetcher", addr(pRouter, 8081))
	l.svc(app, "dial-tcp", "caller", "10.250.99.1:80")
	l.svc(app, "once-tcp", "oneshot", addr(pServer, 8001)).Stop()
	l.svc(app, "sendto", "statsc", addr(pServer, 8125))
	l.svc(app, "sendto", "syslogc", fmt.Sprintf("[%s]:514", pServer.IPv6.Addr()))
	// Registered after the processes' clean-ups, so it runs before them:
	// with the machine's init gone, nsenter's children are too.
	t.Cleanup(machine.Stop)
	// The datagrams have landed (the TCP clients were ready once answered).
	l.waitOutput(collector, "got\n", 2)
	l.waitOutput(syslogd, "got\n", 1)

	snaps := map[string]*snapshot.Snapshot{}
	for _, h := range []*testnet.Host{server, app, router, backend} {
		// Each of these namespaces is a host of its own: a scan covers
		// its own namespace only, whatever --netns auto would make of
		// this machine's PID 1.
		snaps[h.Label] = l.scan(h.Label, func(a ...string) *exec.Cmd { return h.Command(a[0], a[1:]...) }, "--netns", "own")
	}
	inDocker := func(pre ...string) func(a ...string) *exec.Cmd {
		return func(a ...string) *exec.Cmd {
			all := append(slices.Clone(pre), a...)
			return machine.Command(docker, all[0], all[1:]...)
		}
	}
	// docker's scan, inside its machine, with the defaults: every network
	// namespace there is (its own and shop's).
	snaps["docker"] = l.scan("docker", inDocker(), "--runtime-root", l.state)

	// The records, host by host: conntrack's and the sockets'.
	ip := func(p testnet.Port) string { return p.IPv4.Addr().String() }
	wantRecords := map[string][]string{
		"docker": {
			"downstream tcp 8080 " + ip(pUser) + " process=web workload=docker/shop sockets=1 flows=0 ended=0 backend=" + addr(pShop, 80),
			"upstream tcp 5432 " + ip(pServer) + " process=worker workload=docker/shop sockets=1 flows=0 ended=0",
			"upstream tcp 8001 " + ip(pServer) + " process= workload=docker/shop sockets=0 flows=1 ended=1 origin=" + ip(pShop),
			"upstream udp 8125 " + ip(pServer) + " process=shopstats workload=docker/shop sockets=0 flows=1 ended=0 origin=" + ip(pShop),
		},
		"router": {
			"downstream tcp 8081 " + ip(pApp) + " process= workload= sockets=0 flows=1 ended=0 backend=" + addr(pBackend, 80),
		},
		"app": {
			"upstream tcp 8000 " + ip(pServer) + " process=caller workload=caller.service sockets=1 flows=0 ended=0 dialled=10.250.99.1:80",
			"upstream tcp 8001 " + ip(pServer) + " process= workload= sockets=0 flows=1 ended=1",
			"upstream tcp 8081 " + ip(pRouter) + " process=fetcher workload=fetcher.service sockets=1 flows=0 ended=0",
			"upstream udp 514 " + pServer.IPv6.Addr().String() + " process=syslogc workload=syslogc.service sockets=0 flows=1 ended=0 bytes_sent=148",
			"upstream udp 8125 " + ip(pServer) + " process=statsc workload=statsc.service sockets=0 flows=1 ended=0 bytes_sent=128",
		},
		"server": {
			"downstream tcp 5432 " + ip(pDocker) + " process=db workload=db.service sockets=1 flows=0 ended=0",
			"downstream tcp 8000 " + ip(pApp) + " process=api workload=api.service sockets=1 flows=0 ended=0",
			"downstream tcp 8001 " + ip(pApp) + " process=closer workload=closer.service sockets=1 flows=0 ended=0",
			"downstream tcp 8001 " + ip(pDocker) + " process=closer workload=closer.service sockets=1 flows=0 ended=0",
			"downstream udp 514 " + pApp.IPv6.Addr().String() + " process=syslogd workload=syslogd.service sockets=0 flows=1 ended=0",
			"downstream udp 8125 " + ip(pApp) + " process=collector workload=collector.service sockets=0 flows=1 ended=0",
			"downstream udp 8125 " + ip(pDocker) + " process=collector workload=collector.service sockets=0 flows=1 ended=0",
		},
		"backend": {
			"downstream tcp 80 " + ip(pApp) + " process=web workload=web.service sockets=1 flows=0 ended=0",
		},
	}
	for host, want := range wantRecords {
		s := snaps[host]
		src, _ := s.Source(snapshot.SourceConntrack)
		var got []string
		for _, c := range s.Connections {
			got = append(got, record(c))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: connections\n got: %s\nwant: %s\n(conntrack source: %+v)", host, strings.Join(got, "\n      "), strings.Join(want, "\n      "), src)
		}
		if host != "backend" && (s.Conntrack == nil || !src.OK) {
			t.Errorf("%s: conntrack not read: %+v", host, src)
		}
	}
	if c := snaps["docker"].Conntrack; c != nil && (c.FlowsAdded != 2 || c.EndedFlows != 1 || c.SocketsRedirected != 1) {
		t.Errorf("docker: conntrack summary %+v: want 2 flows added, 1 ended, 1 socket redirected (to the published port)", c)
	}
	if c := snaps["app"].Conntrack; c != nil && (c.SocketsRedirected != 1 || c.EndedFlows != 1 || !c.ByteCounters) {
		t.Errorf("app: conntrack summary %+v: want 1 socket redirected, 1 ended flow, byte counters", c)
	}

	// The shipped unit's privileges: user planet (here nobody) with
	// CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE read the table as root does;
	// without them the table is unreadable, and that is a recorded source
	// failure, not a failed scan.
	caps := "+dac_read_search,+sys_ptrace"
	unit := l.scan("docker", inDocker("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps="+caps, "--ambient-caps="+caps),
		"--runtime-root", l.state)
	if !slices.EqualFunc(unit.Connections, snaps["docker"].Connections, func(a, b snapshot.Connection) bool { return record(a) == record(b) }) {
		t.Errorf("docker scanned with the unit's privileges: %v, want the root scan's %v", unit.Connections, snaps["docker"].Connections)
	}
	// Root dumps the table through ctnetlink; the unit, without
	// CAP_NET_ADMIN, reads the /proc file: both see the same flows.
	if got := snaps["docker"].Conntrack.Source; got != conntrack.NetlinkSource {
		t.Errorf("root scan read the table from %q, want %q", got, conntrack.NetlinkSource)
	}
	if got := unit.Conntrack; got == nil || got.Source != "/proc/net/nf_conntrack" {
		t.Errorf("unit scan's conntrack summary %+v, want the /proc file read", got)
	}
	bare := l.scan("docker", inDocker("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"), "--runtime-root", l.state)
	if src, _ := bare.Source(snapshot.SourceConntrack); src.OK || !strings.Contains(src.Error, "permission denied") || bare.Conntrack != nil {
		t.Errorf("docker scanned without privileges: conntrack source %+v, summary %+v: want a recorded permission failure", src, bare.Conntrack)
	}

	all := make([]*snapshot.Snapshot, 0, len(snaps))
	for _, s := range snaps {
		all = append(all, s)
	}
	label := func(h string) string { return snaps[h].Host.Label() }
	for _, tc := range []struct {
		by   graph.By
		want []string
	}{
		{graph.ByHost, []string{
			ip(pUser) + " -> " + label("docker") + " tcp/8080 seen=server [ -> web] [ -> docker/shop] sockets=1",
			label("docker") + " -> " + label("server") + " tcp/5432 seen=both [worker -> db] [docker/shop -> db.service] sockets=1",
			label("docker") + " -> " + label("server") + " tcp/8001 seen=both [ -> closer] [docker/shop -> closer.service] sockets=1",
			label("docker") + " -> " + label("server") + " udp/8125 seen=both [shopstats -> collector] [docker/shop -> collector.service] sockets=1",
			label("app") + " -> " + label("backend") + " tcp/80 seen=both [fetcher -> web] [fetcher.service -> web.service] sockets=1 dialled=" + addr(pRouter, 8081),
			label("app") + " -> " + label("server") + " tcp/8000 seen=both [caller -> api] [caller.service -> api.service] sockets=1 dialled=10.250.99.1:80",
			label("app") + " -> " + label("server") + " tcp/8001 seen=both [ -> closer] [ -> closer.service] sockets=1",
			label("app") + " -> " + label("server") + " udp/8125 seen=both [statsc -> collector] [statsc.service -> collector.service] sockets=1",
			label("app") + " -> " + label("server") + " udp/514 seen=both [syslogc -> syslogd] [syslogc.service -> syslogd.service] sockets=1",
		}},
		{graph.ByWorkload, []string{
			ip(pUser) + " -> " + label("docker") + "/docker/shop tcp/8080 seen=server [ -> web] [ -> docker/shop] sockets=1",
			label("docker") + "/docker/shop -> " + label("server") + "/db.service tcp/5432 seen=both [worker -> db] [docker/shop -> db.service] sockets=1",
			label("docker") + "/docker/shop -> " + label("server") + "/closer.service tcp/8001 seen=both [ -> closer] [docker/shop -> closer.service] sockets=1",
			label("docker") + "/docker/shop -> " + label("server") + "/collector.service udp/8125 seen=both [shopstats -> collector] [docker/shop -> collector.service] sockets=1",
			label("app") + "/fetcher.service -> " + label("backend") + "/web.service tcp/80 seen=both [fetcher -> web] [fetcher.service -> web.service] sockets=1 dialled=" + addr(pRouter, 8081),
			label("app") + "/caller.service -> " + label("server") + "/api.service tcp/8000 seen=both [caller -> api] [caller.service -> api.service] sockets=1 dialled=10.250.99.1:80",
			label("app") + " -> " + label("server") + "/closer.service tcp/8001 seen=both [ -> closer] [ -> closer.service] sockets=1",
			label("app") + "/statsc.service -> " + label("server") + "/collector.service udp/8125 seen=both [statsc -> collector] [statsc.service -> collector.service] sockets=1",
			label("app") + "/syslogc.service -> " + label("server") + "/syslogd.service udp/514 seen=both [syslogc -> syslogd] [syslogc.service -> syslogd.service] sockets=1",
		}},
	} {
		t.Run("merge by "+string(tc.by), func(t *testing.T) {
			g, err := graph.Merge(all, graph.MergeOptions{By: tc.by})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range g.Edges {
				line := fmt.Sprintf("%s -> %s %s/%d seen=%s [%s -> %s] [%s -> %s] sockets=%d",
					e.From, e.To, e.Protocol, e.Port, e.SeenFrom, strings.Join(e.Names().ClientProcesses, ","), strings.Join(e.Names().ServerProcesses, ","),
					strings.Join(e.Names().ClientWorkloads, ","), strings.Join(e.Names().ServerWorkloads, ","), e.Sockets)
				if len(e.Names().Dialled) > 0 {
					line += " dialled=" + strings.Join(e.Names().Dialled, ",")
				}
				got = append(got, line)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("merged edges\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}

// record prints a connection record; bytes only for UDP flows, whose
// count is exact (one 100-byte datagram: 128 IP bytes).
func record(c snapshot.Connection) string {
	s := fmt.Sprintf("%s %s %d %s process=%s workload=%s sockets=%d flows=%d ended=%d", c.Direction, c.Protocol, c.Port, c.RemoteIP,
		c.Process, c.Workload, c.Sockets, c.Flows, c.EndedFlows)
	if c.DialledIP.IsValid() {
		s += fmt.Sprintf(" dialled=%s:%d", c.DialledIP, c.DialledPort)
	}
	if c.BackendIP.IsValid() {
		s += fmt.Sprintf(" backend=%s:%d", c.BackendIP, c.BackendPort)
	}
	if c.OriginIP.IsValid() {
		s += " origin=" + c.OriginIP.String()
	}
	if c.Protocol == "udp" && c.BytesSent > 0 {
		s += fmt.Sprintf(" bytes_sent=%d", c.BytesSent)
	}
	return s
}
