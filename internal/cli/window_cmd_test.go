package cli

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// TestScanWindowCounters: scan --window --textfile-dir --state-dir, run
// twice, writes window counters that grow by each window's bytes (loopback
// transfers made throughout, as the snapshot of the same run counts them), keeps their state private in the
// state directory (made when missing; the second run finds it the way
// planet.service does, through $STATE_DIRECTORY: the one --state-dir of the
// inventory's last good copy), and leaves the instant families in the
// textfile. With --state-dir none there are no counters, and the gauges
// stay.
func TestScanWindowCounters(t *testing.T) {
	if testing.Short() {
		t.Skip("two 1.5 s windows")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	tf, state := t.TempDir(), filepath.Join(t.TempDir(), "state")
	series := regexp.MustCompile(`(?m)^planet_traffic_window_bytes_total\{dependency="downstream",direction="ingress",[^}]*port="` + port + `"[^}]*\} (\S+)$`)
	var last float64
	for i := range 2 {
		// A loopback transfer every 100 ms until the scan returns: some
		// land in the window, whenever it starts. What the window saw is in
		// the snapshot; the counter grows by exactly that.
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				c.Write(make([]byte, 100_000))
				c.Close()
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		snapPath := filepath.Join(t.TempDir(), "s.json")
		args := []string{"--config", "", "scan", "--window", "1500ms", "--textfile-dir", tf, "-o", snapPath}
		if i == 0 {
			args = append(args, "--state-dir", state)
		} else {
			t.Setenv("STATE_DIRECTORY", state+":"+t.TempDir())
		}
		code, _, stderr := run(t, args...)
		close(stop)
		<-done
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr)
		}
		doc, err := os.ReadFile(snapPath)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := snapshot.Parse(doc, snapPath)
		if err != nil {
			t.Fatal(err)
		}
		var inWindow uint64
		for _, c := range snap.Connections {
			if c.Direction == snapshot.Downstream && strconv.Itoa(int(c.Port)) == port && c.Window != nil {
				inWindow += c.Window.BytesReceived
			}
		}
		if inWindow < 100_000 {
			t.Fatalf("run %d: the window saw %d bytes to port %s, want at least one 100,000-byte transfer", i, inWindow, port)
		}
		prom, err := os.ReadFile(filepath.Join(tf, "planet.prom"))
		if err != nil {
			t.Fatal(err)
		}
		m := series.FindSubmatch(prom)
		if m == nil {
			t.Fatalf("run %d: no window bytes counter for port %s:\n%s", i, port, prom)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		if v != last+float64(inWindow) {
			t.Errorf("run %d: counter %v, want %v + the window's %d bytes", i, v, last, inWindow)
		}
		last = v
		for _, fam := range []string{"# TYPE planet_downstream gauge", "# TYPE planet_scan_window_seconds gauge", "# TYPE planet_traffic_window_bytes_total counter"} {
			if !strings.Contains(string(prom), fam) {
				t.Errorf("run %d: textfile lacks %q", i, fam)
			}
		}
	}
	st, err := os.Stat(filepath.Join(state, "window-counters.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("counter state mode %v, want a private file (0600)", st.Mode())
	}
	code, _, stderr := run(t, "--config", "", "scan", "--window", "200ms", "--textfile-dir", tf, "--state-dir", "none", "-o", filepath.Join(t.TempDir(), "s.json"))
	if code != 0 {
		t.Fatalf("--state-dir none: exit %d: %s", code, stderr)
	}
	prom, err := os.ReadFile(filepath.Join(tf, "planet.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(prom), "planet_traffic_window_bytes_total") || !strings.Contains(string(prom), "# TYPE planet_scan_window_seconds gauge") {
		t.Errorf("--state-dir none: want the window gauges and no counters:\n%s", prom)
	}
}
