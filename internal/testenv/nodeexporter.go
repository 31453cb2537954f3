package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartNodeExporter runs node_exporter with only the textfile collector on a
// free loopback port and returns its base URL once it answers. The port is
// picked by binding :0 and closing; another process could take it in
// between, so a start that dies is retried on a new port.
func StartNodeExporter(t testing.TB, bin, dir string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		base, err := tryNodeExporter(t, bin, dir)
		if err == nil {
			return base
		}
		if attempt == 3 {
			t.Fatal(err)
		}
		t.Log(err)
	}
}

func tryNodeExporter(t testing.TB, bin, dir string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var output bytes.Buffer
	cmd := exec.Command(bin,
		"--web.listen-address="+addr,
		"--collector.disable-defaults",
		"--collector.textfile",
		"--collector.textfile.directory="+dir,
		"--web.disable-exporter-metrics",
	)
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	// Stopped by its own PID, never by name: other node_exporters may run.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	base := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return "", fmt.Errorf("node_exporter on %s exited (%v):\n%s", addr, cmd.ProcessState, output.String())
		default:
		}
		if resp, err := client.Get(base + "/metrics"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, nil
			}
		}
	}
	return "", fmt.Errorf("node_exporter on %s did not answer within 10s:\n%s", addr, output.String())
}

// HTTPGet fetches url (a test's own server on loopback) within 10 seconds
// and returns the body, failing t on any error or a status other than 200.
func HTTPGet(t testing.TB, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}
