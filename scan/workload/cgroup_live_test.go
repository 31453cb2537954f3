package workload

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// cgroup2Mount finds where cgroup v2 is mounted (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on a hybrid host).
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if fs := strings.Fields(pre); len(fs) >= 5 {
			return fs[4]
		}
	}
	testenv.Unavailable(t, "cgroup2 is not mounted")
	return ""
}

// placeInCgroup starts `sleep` in a new cgroup at rel under a test-owned
// cgroup2 directory and returns its PID; the process is killed and the
// cgroups removed when t ends.
func placeInCgroup(t *testing.T, base, rel string) int {
	t.Helper()
	dir := filepath.Join(base, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move %d into %s: %v", cmd.Process.Pid, dir, err)
	}
	return cmd.Process.Pid
}

// TestLiveCgroups places real processes in real cgroups shaped like a
// systemd service, a Docker container and a containerd pod container, and
// reads their workloads back from /proc/<pid>/cgroup.
func TestLiveCgroups(t *testing.T) {
	testenv.NeedRoot(t)
	base := filepath.Join(cgroup2Mount(t), "planet-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(base, 0o755); err != nil {
		testenv.Unavailable(t, "cannot create a cgroup: %v", err)
	}
	// Registered first, so it runs after the processes are killed.
	t.Cleanup(func() { testenv.RemoveCgroups(t, base) })

	uidU := strings.ReplaceAll(podUIDs, "-", "_")
	r := fixtureResolver(t)
	r.ProcRoot = "/proc"
	for _, tc := range []struct{ rel, want string }{
		{"system.slice/x.service", "x.service"},
		{"system.slice/docker-" + dockerID + ".scope", "docker/web"},
		{"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + criID + ".scope", "k8s/shop/web-7d9f/nginx"},
		{"kubepods/burstable/pod" + podUIDs + "/" + strings.Repeat("a7", 32), "k8s/shop/web-7d9f"},
	} {
		pid := placeInCgroup(t, base, tc.rel)
		if got := r.Of(pid).Name(); got != tc.want {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
			t.Errorf("%s: workload %q, want %q (cgroup file:\n%s)", tc.rel, got, tc.want, b)
		}
		if got := r.Command(pid); got != "sleep 60" {
			t.Errorf("Command = %q", got)
		}
	}
	if w := r.Of(1 << 30); !w.IsZero() {
		t.Errorf("a PID that does not exist has workload %+v", w)
	}
}
