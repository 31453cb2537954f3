//go:build e2e

package fleet_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

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
	cg := testenv.NewCgroups(t)
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
	machine := docker.Machine("docker-1")
	svc := func(h *testnet.Host, cmd *exec.Cmd, cgroup string) {
		t.Helper()
		cg.Into(cmd, cgroup)
		startService(t, h, cmd, strings.Join(cmd.Args, " "))
	}
	dbAddr := dbPort.IPv4.Addr().String()
	webAddr := bridge[1].IPv4.Addr().String()

	svc(db, db.Command(self, "-comm", "postgres", "-greet", "300", "-listen", "0.0.0.0:5432"),
		"db-1/system.slice/postgresql.service")
	svc(docker, machine.Command(web, self, "-comm", "nginx", "-greet", "200", "-listen", "0.0.0.0:80"),
		"docker-1/system.slice/docker-"+webID+".scope")
	svc(docker, machine.Command(app, self, "-comm", "python3",
		"-dial", webAddr+":80,10,200", "-dial", dbAddr+":5432,20,300"),
		"docker-1/system.slice/docker-"+appID+".scope")
	svc(docker, machine.Command(docker, self, "-comm", "java", "-dial", webAddr+":80,30,200"),
		"docker-1/system.slice/app.service")

	// Registered last, so it runs first: the PID namespace's init takes
	// everything in it along, nsenter's children included.
	t.Cleanup(machine.Stop)

	dir := filepath.Join(tmp, "snapshots")
	for _, d := range []string{"docker-1", "db-1"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// One scan of docker-1, inside it, with its defaults: every namespace.
	dockerSnap := filepath.Join(dir, "docker-1", "snapshot.json")
	scan := machine.Command(docker, planet, "scan", "--config", config, "--runtime-root", state, "-o", dockerSnap)
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
