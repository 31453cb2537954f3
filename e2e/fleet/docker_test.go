//go:build e2e

package fleet_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// A docker-like host, as issue 17 scripts it: docker-1 runs two containers
// on a bridge (web: nginx on :80, app: python3) and a systemd service
// (app.service: java) in its own namespace. app.service calls web, app
// calls web, and app calls postgres on db-1, a plain host, through
// docker-1's masquerade. docker-1 is its own machine as far as planet can
// tell: its processes (and its containers') live in a PID namespace of
// their own, so a scan there sees exactly that host's namespaces; the
// containers and units are real cgroups shaped as Docker and systemd make
// them, and Docker's state names the containers.
//
// One scan of docker-1 and one of db-1 must give every dependency with the
// workloads at both ends.
func TestDockerHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a docker-like host of namespaces and cgroups and runs planet on it")
	}
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "nsenter", "util-linux")
	testenv.NeedCommand(t, "unshare", "util-linux")
	testenv.NeedCommand(t, "iptables", "iptables")
	lab := testnet.New(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	planet := buildPlanet(t, tmp)
	config := filepath.Join(tmp, "planet.yaml")
	if err := os.WriteFile(config, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	docker, web, app, db := lab.Host("docker-1"), lab.Host("web"), lab.Host("app"), lab.Host("db-1")
	bridge := lab.Switch(docker, web, app) // docker0: docker-1 .1, web .2, app .3
	uplink, dbPort := lab.Link(docker, db)
	for _, c := range []*testnet.Host{web, app} {
		c.IP("route", "add", "default", "via", bridge[0].IPv4.Addr().String())
	}
	run(t, docker.Command("sysctl", "-qw", "net.ipv4.ip_forward=1"))
	run(t, docker.Command("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", bridge[0].IPv4.Masked().String(),
		"-o", uplink.Dev, "-j", "MASQUERADE"))

	// Cgroups as systemd and Docker lay them out, and Docker's state.
	webID, appID := strings.Repeat("7e", 32), strings.Repeat("a9", 32)
	cg := newCgroups(t)
	state := filepath.Join(tmp, "root")
	for id, name := range map[string]string{webID: "web", appID: "app"} {
		dir := filepath.Join(state, "var/lib/docker/containers", id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.v2.json"), []byte(`{"ID":"`+id+`","Name":"/`+name+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// docker-1's PID namespace: its init holds it, and everything of the
	// host is started inside with nsenter.
	holder := startHolder(t, docker, "docker-1")
	inHost := func(netns string, args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(holder), "-p", "-m", "-u", "--net=" + netns, "--"}, args...)...)
	}
	svc := func(cmd *exec.Cmd, cgroup string) {
		t.Helper()
		cmd.Env = append(cleanEnv(), helperEnv+"="+modeService)
		startReady(t, cmd, cg.dir(cgroup))
	}
	nsPath := func(h *testnet.Host) string { return "/run/netns/" + h.Name }
	dbAddr := dbPort.IPv4.Addr().String()
	webAddr := bridge[1].IPv4.Addr().String()

	postgres := exec.Command("ip", "netns", "exec", db.Name, self, "-comm", "postgres", "-greet", "300", "-listen", "0.0.0.0:5432")
	svc(postgres, "db-1/system.slice/postgresql.service")
	svc(inHost(nsPath(web), self, "-comm", "nginx", "-greet", "200", "-listen", "0.0.0.0:80"),
		"docker-1/system.slice/docker-"+webID+".scope")
	svc(inHost(nsPath(app), self, "-comm", "python3",
		"-dial", webAddr+":80,10,200", "-dial", dbAddr+":5432,20,300"),
		"docker-1/system.slice/docker-"+appID+".scope")
	svc(inHost(nsPath(docker), self, "-comm", "java", "-dial", webAddr+":80,30,200"),
		"docker-1/system.slice/app.service")

	// Registered last, so it runs first: the PID namespace's init takes
	// everything in it along, nsenter's children included.
	t.Cleanup(func() { _ = syscall.Kill(holder, syscall.SIGKILL) })

	dir := filepath.Join(tmp, "snapshots")
	for _, d := range []string{"docker-1", "db-1"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// One scan of docker-1, inside it, with its defaults: every namespace.
	dockerSnap := filepath.Join(dir, "docker-1", "snapshot.json")
	scan := inHost(nsPath(docker), planet, "scan", "--config", config, "--runtime-root", state, "-o", dockerSnap)
	scan.Env = cleanEnv()
	run(t, scan)
	// db-1 is a namespace of the test's PID namespace, where every other
	// test host is visible too, and PID 1 is in another: by default
	// (--netns auto) its scan covers its own namespace only.
	dbScan := db.Command(self, "db-1", planet, "scan", "--config", config, "-o", filepath.Join(dir, "db-1", "snapshot.json"))
	dbScan.Env = append(cleanEnv(), helperEnv+"="+modeAsHost)
	run(t, dbScan)

	s, err := snapshot.Read(mustOpen(t, dockerSnap), dockerSnap)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("snapshot", func(t *testing.T) {
		if len(s.Namespaces) != 3 {
			t.Errorf("%d namespaces, want docker-1's, web's and app's: %+v", len(s.Namespaces), s.Namespaces)
		}
		names := map[string]snapshot.Workload{}
		for _, w := range s.Workloads {
			names[w.Name] = w
		}
		for _, want := range []string{"app.service", "docker/app", "docker/web"} {
			if _, ok := names[want]; !ok {
				t.Errorf("workload %s missing; have %+v", want, s.Workloads)
			}
		}
		if w := names["docker/web"]; w.ContainerID != webID || w.Runtime != "docker" || len(w.Processes) != 1 || w.Processes[0].Name != "nginx" ||
			!strings.Contains(w.Processes[0].Command, "-listen 0.0.0.0:80") {
			t.Errorf("docker/web = %+v", w)
		}
		if src, ok := s.Source(snapshot.SourceNamespaces); !ok || !src.OK {
			t.Errorf("namespaces source %+v", src)
		}
		for _, p := range s.PrivateAddresses() {
			if p.String() == webAddr {
				return
			}
		}
		t.Errorf("web's %s is not among the private addresses %v", webAddr, s.PrivateAddresses())
	})

	dockerNode, dbNode := s.Host.Label(), dbAddr
	for _, tc := range []struct {
		by   string
		want []string
	}{
		{graph.ByHost, []string{
			dockerNode + " -> " + dbNode + " tcp/5432 both [python3 -> postgres] [docker/app -> postgresql.service]",
			dockerNode + " -> " + dockerNode + " tcp/80 both [java,python3 -> nginx] [app.service,docker/app -> docker/web]",
		}},
		{graph.ByWorkload, []string{
			dockerNode + "/app.service -> " + dockerNode + "/docker/web tcp/80 both [java -> nginx] [app.service -> docker/web]",
			dockerNode + "/docker/app -> " + dbNode + "/postgresql.service tcp/5432 both [python3 -> postgres] [docker/app -> postgresql.service]",
			dockerNode + "/docker/app -> " + dockerNode + "/docker/web tcp/80 both [python3 -> nginx] [docker/app -> docker/web]",
		}},
	} {
		t.Run("merge by "+tc.by, func(t *testing.T) {
			out := filepath.Join(tmp, "graph-"+tc.by+".json")
			merge := exec.Command(planet, "--config", config, "merge", dir, "--by", tc.by, "-o", out)
			merge.Env = cleanEnv()
			run(t, merge)
			g, err := graph.Parse(mustRead(t, out), out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range g.Edges {
				got = append(got, e.From+" -> "+e.To+" "+e.Protocol+"/"+strconv.Itoa(int(e.Port))+" "+e.SeenFrom.String()+
					" ["+strings.Join(e.Names().ClientProcesses, ",")+" -> "+strings.Join(e.Names().ServerProcesses, ",")+"]"+
					" ["+strings.Join(e.Names().ClientWorkloads, ",")+" -> "+strings.Join(e.Names().ServerWorkloads, ",")+"]")
			}
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				b, _ := json.MarshalIndent(g.Edges, "", "  ")
				t.Errorf("edges:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), b)
			}
		})
	}
}

func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
}

// startHolder starts the init of a new PID namespace (with its own /proc
// and hostname) in h's network namespace and returns its PID as this test
// sees it. Killing it, at cleanup, kills everything started in the PID
// namespace.
func startHolder(t *testing.T, h *testnet.Host, hostname string) int {
	t.Helper()
	cmd := h.Command("unshare", "--pid", "--fork", "--mount-proc", "--uts", "--kill-child",
		"sh", "-c", "hostname "+hostname+" && exec sleep 3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	children := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "task", strconv.Itoa(cmd.Process.Pid), "children")
	for range 200 {
		b, _ := os.ReadFile(children)
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatal(err)
			}
			// Wait for the exec of sleep, so the hostname is set.
			for range 200 {
				if c, _ := os.ReadFile("/proc/" + f[0] + "/comm"); string(c) == "sleep\n" {
					t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
					return pid
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the PID namespace's init did not start")
	return 0
}

// startReady starts cmd in the cgroup dir (clone3 CLONE_INTO_CGROUP, so
// it and its children are there from the start) and waits for the
// service's "ready" line.
func startReady(t *testing.T, cmd *exec.Cmd, cgroupDir string) {
	t.Helper()
	fd, err := syscall.Open(cgroupDir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s did not start: %s", strings.Join(cmd.Args, " "), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30s", strings.Join(cmd.Args, " "))
	}
}

// cgroups is a test-owned subtree of the cgroup v2 hierarchy, removed
// (deepest first, once its processes are gone) when the test ends.
type cgroups struct {
	t    *testing.T
	base string
}

func newCgroups(t *testing.T) *cgroups {
	t.Helper()
	mount := ""
	for _, line := range strings.Split(string(mustRead(t, "/proc/self/mountinfo")), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
			mount = f[4]
			break
		}
	}
	if mount == "" {
		testenv.Unavailable(t, "cgroup2 is not mounted")
	}
	c := &cgroups{t: t, base: filepath.Join(mount, "planet-test-"+strconv.Itoa(os.Getpid()))}
	if err := os.Mkdir(c.base, 0o755); err != nil {
		testenv.Unavailable(t, "cannot create a cgroup: %v", err)
	}
	t.Cleanup(c.remove)
	return c
}

func (c *cgroups) dir(rel string) string {
	d := filepath.Join(c.base, rel)
	if err := os.MkdirAll(d, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return d
}

func (c *cgroups) remove() { testenv.RemoveCgroups(c.t, c.base) }
