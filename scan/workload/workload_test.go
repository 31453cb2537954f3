package workload

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var (
	dockerID = strings.Repeat("d0", 32)
	podmanID = strings.Repeat("b1", 32)
	criID    = strings.Repeat("c2", 32)
	podUIDs  = "0f3e5a7c-1b2d-4e6f-8a9b-0c1d2e3f4a5b"
)

func TestCgroupPath(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"v2", "0::/system.slice/nginx.service\n", "/system.slice/nginx.service"},
		{"hybrid, v2 at root", "9:name=systemd:/system.slice/cron.service\n4:memory:/x\n0::/\n", "/system.slice/cron.service"},
		{"hybrid, v2 set", "9:name=systemd:/a.service\n0::/system.slice/b.service\n", "/system.slice/b.service"},
		{"v1 only", "4:memory:/docker/abc\n3:cpu:/\n", "/docker/abc"},
		{"root everywhere", "0::/\n1:cpu:/\n", ""},
		{"garbage", "no colons here\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CgroupPath([]byte(tc.content)); got != tc.want {
				t.Errorf("CgroupPath = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromCgroupPath(t *testing.T) {
	uidU := strings.ReplaceAll(podUIDs, "-", "_")
	for _, tc := range []struct {
		path string
		want Workload
		name string
	}{
		{"/system.slice/nginx.service", Workload{Unit: "nginx.service"}, "nginx.service"},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope", Workload{Unit: "user@1000.service"}, "user@1000.service"},
		{"/system.slice/docker-" + dockerID + ".scope", Workload{Runtime: Docker, ContainerID: dockerID}, "docker/d0d0d0d0d0d0"},
		{"/docker/" + dockerID, Workload{Runtime: Docker, ContainerID: dockerID}, "docker/d0d0d0d0d0d0"},
		{"/machine.slice/libpod-" + podmanID + ".scope/container", Workload{Runtime: Podman, ContainerID: podmanID}, "podman/b1b1b1b1b1b1"},
		{"/machine.slice/libpod-conmon-" + podmanID + ".scope", Workload{}, ""},
		{"/libpod_parent/libpod-" + podmanID, Workload{Runtime: Podman, ContainerID: podmanID}, "podman/b1b1b1b1b1b1"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + criID + ".scope",
			Workload{Runtime: Containerd, ContainerID: criID, PodUID: podUIDs}, "k8s/pod-" + podUIDs},
		{"/kubepods.slice/kubepods-pod" + uidU + ".slice/crio-" + criID + ".scope",
			Workload{Runtime: CRIO, ContainerID: criID, PodUID: podUIDs}, "k8s/pod-" + podUIDs},
		{"/kubepods/besteffort/pod" + podUIDs + "/" + criID,
			Workload{Runtime: CRI, ContainerID: criID, PodUID: podUIDs}, "k8s/pod-" + podUIDs},
		{"/system.slice/docker-" + dockerID[:63] + ".scope", Workload{}, ""},
		{"/system.slice/docker-" + strings.ToUpper(dockerID) + ".scope", Workload{}, ""},
		{"/init.scope", Workload{}, ""},
		{"/.service", Workload{}, ""},
		{"", Workload{}, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got := FromCgroupPath(tc.path)
			if got != tc.want {
				t.Errorf("FromCgroupPath = %+v, want %+v", got, tc.want)
			}
			if got.Name() != tc.name {
				t.Errorf("Name = %q, want %q", got.Name(), tc.name)
			}
		})
	}
}

func fixtureResolver(t *testing.T) *Resolver {
	t.Helper()
	st, err := filepath.Abs("testdata/state")
	if err != nil {
		t.Fatal(err)
	}
	return &Resolver{
		ProcRoot:   t.TempDir(),
		DockerRoot: filepath.Join(st, "docker"),
		PodmanRoot: filepath.Join(st, "podman"),
		PodLogRoot: filepath.Join(st, "pods"),
		CtrLogRoot: filepath.Join(st, "containers"),
	}
}

func TestResolverNames(t *testing.T) {
	uidU := strings.ReplaceAll(podUIDs, "-", "_")
	other := strings.Repeat("e4", 32)
	for _, tc := range []struct{ path, want string }{
		{"/system.slice/docker-" + dockerID + ".scope", "docker/web"},
		{"/system.slice/docker-" + other + ".scope", "docker/e4e4e4e4e4e4"},
		{"/machine.slice/libpod-" + podmanID + ".scope", "podman/db"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + criID + ".scope", "k8s/shop/web-7d9f/nginx"},
		{"/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + other + ".scope", "k8s/shop/web-7d9f"},
		{"/system.slice/sshd.service", "sshd.service"},
	} {
		r := fixtureResolver(t)
		if got := r.OfPath(tc.path).Name(); got != tc.want {
			t.Errorf("OfPath(%s).Name() = %q, want %q", tc.path, got, tc.want)
		}
		if p := r.Problems(); len(p) > 0 {
			t.Errorf("problems: %q", p)
		}
	}
}

// TestResolverHostileState: state files another user (or a compromised
// container) could plant are refused without following or blocking, and
// said so; the workload keeps its ID.
func TestResolverHostileState(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(outside, []byte(`{"Name":"/leaked"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		plant   func(dir string) error
		problem string
	}{
		{"symlink out of the root", func(dir string) error { return os.Symlink(outside, filepath.Join(dir, "config.v2.json")) }, "not followed"},
		{"FIFO", func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "config.v2.json"), 0o600) }, "not a regular file"},
		{"oversized", func(dir string) error {
			f, err := os.Create(filepath.Join(dir, "config.v2.json"))
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(MaxStateFile + 1)
		}, "more than"},
		{"bad JSON", func(dir string) error { return os.WriteFile(filepath.Join(dir, "config.v2.json"), []byte("{"), 0o600) }, "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "containers", dockerID)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(dir); err != nil {
				t.Fatal(err)
			}
			r := &Resolver{ProcRoot: t.TempDir(), DockerRoot: root, PodmanRoot: "-", PodLogRoot: "-", CtrLogRoot: "-"}
			w := r.OfPath("/system.slice/docker-" + dockerID + ".scope")
			if w.Name() != "docker/d0d0d0d0d0d0" {
				t.Errorf("Name = %q, want the ID only", w.Name())
			}
			p := r.Problems()
			if len(p) != 1 || !strings.Contains(p[0], tc.problem) {
				t.Errorf("problems = %q, want one saying %q", p, tc.problem)
			}
		})
	}
	t.Run("directory link", func(t *testing.T) {
		root := t.TempDir()
		real := filepath.Join(t.TempDir(), dockerID)
		if err := os.MkdirAll(real, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(real, "config.v2.json"), []byte(`{"Name":"/leaked"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "containers"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, filepath.Join(root, "containers", dockerID)); err != nil {
			t.Fatal(err)
		}
		r := &Resolver{ProcRoot: t.TempDir(), DockerRoot: root, PodmanRoot: "-", PodLogRoot: "-", CtrLogRoot: "-"}
		if n := r.OfPath("/docker/" + dockerID).ContainerName; n != "" {
			t.Errorf("read %q through a link", n)
		}
	})
}

func TestFormatCommand(t *testing.T) {
	long := strings.Repeat("a", MaxCommand-1) + "é" // é straddles the cut
	for _, tc := range []struct{ in, want string }{
		{"java\x00-jar\x00/srv/app.jar\x00", "java -jar /srv/app.jar"},
		{"", ""},
		{"nginx: worker process\x00\x00", "nginx: worker process"},
		{long, strings.Repeat("a", MaxCommand-1) + "…"},
	} {
		if got := formatCommand([]byte(tc.in)); got != tc.want {
			t.Errorf("formatCommand(%.20q) = %.40q, want %.40q", tc.in, got, tc.want)
		}
	}
}
