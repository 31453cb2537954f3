//go:build e2e

package promsrc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a loopback address that was free a moment ago. Another
// process could take it in between; starts that die are retried.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess runs bin with args, stops it by its own PID at cleanup
// (SIGTERM, then SIGKILL), and waits until ready(addr) says yes. The port is
// picked fresh for each of up to three attempts.
func startProcess(t testing.TB, name, bin string, args func(addr string) []string, ready func(addr string) bool) string {
	t.Helper()
	var last string
	for range 3 {
		addr := freeAddr(t)
		var output bytes.Buffer
		cmd := exec.Command(bin, args(addr)...)
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		ok := false
	wait:
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			select {
			case <-exited:
				break wait
			default:
			}
			if ready(addr) {
				ok = true
				break
			}
		}
		if ok {
			t.Cleanup(stop)
			return addr
		}
		stop()
		last = fmt.Sprintf("%s on %s did not start (%v):\n%s", name, addr, cmd.ProcessState, output.String())
		t.Log(last)
	}
	t.Fatal(last)
	return ""
}

func httpOK(u string, user, pass string) bool {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startNodeExporter serves dir's textfiles with only the textfile collector,
// as metrics/nodeexporter_test.go does; it returns host:port.
func startNodeExporter(t testing.TB, bin, dir string) string {
	return startProcess(t, "node_exporter", bin, func(addr string) []string {
		return []string{
			"--web.listen-address=" + addr,
			"--collector.disable-defaults",
			"--collector.textfile",
			"--collector.textfile.directory=" + dir,
			"--web.disable-exporter-metrics",
		}
	}, func(addr string) bool { return httpOK("http://"+addr+"/metrics", "", "") })
}

// target is one scrape target: an exporter address and the instance label
// it gets.
type target struct {
	job, addr, instance string
}

// Test credentials for Prometheus' --web.config.file: the hash is bcrypt
// (cost 4) of testPassword.
const (
	testUser     = "planet"
	testPassword = "planet-test"
	testHash     = "$2a$04$aFacUScfAIvc.itxFZDavuHeiX7KuW7CGaVSyNdHZ4/A71AKCKwpG"
)

// startPrometheus runs Prometheus on loopback with a fresh TSDB in a temp
// dir, basic auth on, scraping targets every second (or no targets, over
// an existing tsdb with extra flags). It returns the base URL without
// credentials.
func startPrometheus(t testing.TB, bin string, targets []target, tsdb string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	if tsdb == "" {
		tsdb = filepath.Join(dir, "data")
	}
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1m\nscrape_configs:\n")
	jobs := map[string][]target{}
	var order []string
	for _, tg := range targets {
		if jobs[tg.job] == nil {
			order = append(order, tg.job)
		}
		jobs[tg.job] = append(jobs[tg.job], tg)
	}
	for _, job := range order {
		fmt.Fprintf(&cfg, "  - job_name: %q\n    static_configs:\n", job)
		for _, tg := range jobs[job] {
			fmt.Fprintf(&cfg, "      - targets: [%q]\n        labels: {instance: %q}\n", tg.addr, tg.instance)
		}
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := write("prometheus.yml", cfg.String())
	web := write("web.yml", fmt.Sprintf("basic_auth_users:\n  %s: %q\n", testUser, testHash))
	addr := startProcess(t, "prometheus", bin, func(addr string) []string {
		return append([]string{
			"--config.file=" + config,
			"--web.config.file=" + web,
			"--storage.tsdb.path=" + tsdb,
			"--web.listen-address=" + addr,
		}, extra...)
	}, func(addr string) bool { return httpOK("http://"+addr+"/-/ready", testUser, testPassword) })
	return "http://" + addr
}

// authURL is base with the test credentials in it.
func authURL(base string) string {
	u, _ := url.Parse(base)
	u.User = url.UserPassword(testUser, testPassword)
	return u.String()
}

// instantValue runs expr and returns the single value ("" when empty).
func instantValue(t testing.TB, base, expr string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	req.SetBasicAuth(testUser, testPassword)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			Result []series `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if len(env.Data.Result) == 0 {
		return ""
	}
	var v string
	_ = json.Unmarshal(env.Data.Result[0].Value[1], &v)
	return v
}

// waitFor polls expr until it returns want.
func waitFor(t testing.TB, base, expr, want string, within time.Duration) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = instantValue(t, base, expr); got == want {
			return
		}
	}
	t.Fatalf("%s = %q after %s, want %q", expr, got, within, want)
}
