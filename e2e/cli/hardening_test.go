//go:build e2e

package cli_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

// These tests run the real planet binary (go build into a temp dir): they
// kill it, race it against itself and signal it, which a re-executed test
// binary or an in-process call could not show faithfully.

// buildPlanet builds cmd/planet into dir and returns the binary's path.
func buildPlanet(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Unavailable(t, "the go command is not in PATH: %v", err)
	}
	bin := filepath.Join(dir, "planet")
	out, err := exec.Command(goBin, "build", "-o", bin, "../../cmd/planet").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// planetEnv keeps the developer's and the host's config out of the runs.
func planetEnv(t *testing.T) []string {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "PLANET_CONFIG="+empty, "XDG_CONFIG_HOME=/nonexistent", "PLANET_STATE_DIR="+t.TempDir())
}

// bigProc writes a fixture /proc with n established upstream sockets to n
// different peers, so the snapshot (a few MB) and textfile take long enough
// to write that a random kill often lands mid-write.
func bigProc(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"sys/kernel/hostname":              "bighost\n",
		"sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
		"net/fib_trie":                     "Local:\n  +-- 10.1.0.0/24 2 0 2\n     |-- 10.1.0.5\n        /32 host LOCAL\n",
		"net/udp":                          procNetHeader,
	}
	var tcp strings.Builder
	tcp.WriteString(procNetHeader)
	fmt.Fprintf(&tcp, "%4d: %s:%04X %s:%04X 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
		0, hexAddr(netip.MustParseAddr("0.0.0.0")), 22, hexAddr(netip.MustParseAddr("0.0.0.0")), 0, 999)
	for i := range n {
		remote := netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)})
		fmt.Fprintf(&tcp, "%4d: %s:%04X %s:%04X 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 0 0 10 -1\n",
			i+1, hexAddr(netip.MustParseAddr("10.1.0.5")), 40000+i%20000, hexAddr(remote), 5432, 1000+i)
	}
	files["net/tcp"] = tcp.String()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const procNetHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// hexAddr is an IPv4 address as /proc/net/tcp prints it: the network-order
// bytes read as one native 32-bit word.
func hexAddr(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[:]))
}

// outputs is what one scan writes and how to tell a complete copy.
type outputs struct {
	snap, textfile string
	conns, lines   int // of a complete snapshot and textfile
}

// check fails t unless both files hold a complete document. It returns the
// snapshot's scan time, which tells one run's output from another's.
func (o outputs) check(t *testing.T) (time.Time, error) {
	b, err := os.ReadFile(o.snap)
	if err != nil {
		return time.Time{}, err
	}
	s, err := snapshot.Parse(b, o.snap)
	if err != nil {
		return time.Time{}, fmt.Errorf("snapshot not complete (%d bytes): %w", len(b), err)
	}
	if len(s.Connections) != o.conns {
		return time.Time{}, fmt.Errorf("snapshot has %d connections, want %d", len(s.Connections), o.conns)
	}
	tf, err := os.ReadFile(o.textfile)
	if err != nil {
		return time.Time{}, err
	}
	if err := checkTextfile(tf, o.lines); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", o.textfile, err)
	}
	return s.ScannedAt, nil
}

var (
	commentLine = regexp.MustCompile(`^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$`)
	sampleLine  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$`)
)

// checkTextfile: non-empty, ends with a newline, every line a HELP/TYPE
// comment or a sample with a number, and as many lines as a complete one.
func checkTextfile(b []byte, wantLines int) error {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return fmt.Errorf("%d bytes, not ending in a newline", len(b))
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range lines {
		if commentLine.MatchString(l) {
			continue
		}
		m := sampleLine.FindStringSubmatch(l)
		if m == nil {
			return fmt.Errorf("line %d malformed: %q", i+1, l)
		}
		if _, err := strconv.ParseFloat(m[len(m)-1], 64); err != nil {
			return fmt.Errorf("line %d: value: %w", i+1, err)
		}
	}
	if wantLines > 0 && len(lines) != wantLines {
		return fmt.Errorf("%d lines, want %d", len(lines), wantLines)
	}
	return nil
}

// temps lists the temp files atomicfile left in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.planet-tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scanSetup builds planet and a big fixture, runs one complete scan and
// returns the command line and what a complete output looks like.
func scanSetup(t *testing.T, n int) (bin string, args []string, env []string, o outputs, took time.Duration) {
	t.Helper()
	bin = buildPlanet(t, t.TempDir())
	proc := bigProc(t, n)
	dir := t.TempDir()
	o.snap = filepath.Join(dir, "snap.json")
	tfDir := filepath.Join(dir, "textfile")
	if err := os.Mkdir(tfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.textfile = filepath.Join(tfDir, "planet.prom")
	args = []string{"scan", "--proc-root", proc, "-o", o.snap, "--textfile-dir", tfDir, "--log-level", "error"}
	env = planetEnv(t)
	start := time.Now()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("first scan: %v\n%s", err, out)
	}
	took = time.Since(start)
	s, err := os.ReadFile(o.snap)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Parse(s, o.snap)
	if err != nil {
		t.Fatal(err)
	}
	o.conns = len(snap.Connections)
	if o.conns != n {
		t.Fatalf("fixture gave %d connections, want %d", o.conns, n)
	}
	tf, err := os.ReadFile(o.textfile)
	if err != nil {
		t.Fatal(err)
	}
	o.lines = strings.Count(string(tf), "\n")
	if _, err := o.check(t); err != nil {
		t.Fatal(err)
	}
	return bin, args, env, o, took
}

// TestCrashSafeWrites kills planet with SIGKILL at random moments while it
// scans and writes a snapshot (-o) and a textfile: after every kill both
// destinations hold a complete document, the previous one or the new one.
// Temp files the killed runs leave are removed by a later run once stale.
func TestCrashSafeWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("kills planet many times; not in -short")
	}
	bin, args, env, o, took := scanSetup(t, 20000)
	t.Logf("one scan takes %s", took)
	var kills, replaced, leftovers int
	start := time.Now()
	prev, _ := o.check(t)
	for i := 0; i < 50 && time.Since(start) < 20*time.Second; i++ {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(took) * 6 / 5)))
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err != nil {
			kills++
		}
		at, err := o.check(t)
		if err != nil {
			t.Fatalf("after kill %d: %v", i, err)
		}
		if at != prev {
			replaced++
			prev = at
		}
		leftovers = len(temps(t, filepath.Dir(o.snap))) + len(temps(t, filepath.Dir(o.textfile)))
	}
	t.Logf("%d runs killed, %d replaced the outputs; %d temp files left by kills mid-write", kills, replaced, leftovers)
	if kills == 0 {
		t.Error("no run was killed: the kill window missed every run")
	}

	// A later run removes stale temps: backdate the leftovers (and one
	// planted per target, so the path runs even if no kill hit a write).
	for _, p := range []string{o.snap, o.textfile} {
		planted := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".planet-tmp-planted")
		if err := os.WriteFile(planted, []byte("half a fi"), 0o644); err != nil {
			t.Fatal(err)
		}
		young := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".planet-tmp-young")
		if err := os.WriteFile(young, []byte("still being written"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-11 * time.Minute)
		for _, tmp := range temps(t, filepath.Dir(p)) {
			if tmp != young {
				if err := os.Chtimes(tmp, old, old); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clean-up run: %v\n%s", err, out)
	}
	for _, dir := range []string{filepath.Dir(o.snap), filepath.Dir(o.textfile)} {
		left := temps(t, dir)
		if len(left) != 1 || !strings.HasSuffix(left[0], "-young") {
			t.Errorf("%s: after a complete run the temps are %v, want only the young one", dir, left)
		}
	}
}

// TestConcurrentScans runs two scans at once writing the same -o file and
// textfile (cron overlap), many times, while a reader keeps reading both:
// every read sees a complete document, both runs succeed, the last rename
// wins, and no temp file is left.
func TestConcurrentScans(t *testing.T) {
	if testing.Short() {
		t.Skip("runs planet many times; not in -short")
	}
	bin, args, env, o, _ := scanSetup(t, 5000)
	start := time.Now()
	rounds, reads := 0, 0
	for ; rounds < 20 && time.Since(start) < 20*time.Second; rounds++ {
		done := make(chan struct{})
		var readErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := o.check(t); err != nil {
					readErr = err
					return
				}
				reads++
			}
		})
		cmds := make([]*exec.Cmd, 2)
		outs := make([]bytes.Buffer, 2)
		for i := range cmds {
			cmds[i] = exec.Command(bin, args...)
			cmds[i].Env = env
			cmds[i].Stderr = &outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Errorf("round %d, run %d: %v\n%s", rounds, i, err, outs[i].String())
			}
		}
		close(done)
		wg.Wait()
		if readErr != nil {
			t.Fatalf("round %d: a reader saw: %v", rounds, readErr)
		}
		if _, err := o.check(t); err != nil {
			t.Fatalf("round %d: %v", rounds, err)
		}
		for _, dir := range []string{filepath.Dir(o.snap), filepath.Dir(o.textfile)} {
			if left := temps(t, dir); len(left) > 0 {
				t.Fatalf("round %d: temp files left: %v", rounds, left)
			}
		}
	}
	t.Logf("%d rounds of two concurrent scans, %d complete reads in between", rounds, reads)
}

// stallServer answers nothing until the client goes away; got receives a
// value when a request arrives.
func stallServer(t *testing.T) (url string, got <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv.URL + "/", ch
}

// TestSignalDuringScan sends SIGINT or SIGTERM while planet waits for a
// stalled inventory or darkstat: it stops within a second, exits 130/143,
// and leaves the previous snapshot and textfile as they were.
func TestSignalDuringScan(t *testing.T) {
	bin := buildPlanet(t, t.TempDir())
	env := planetEnv(t)
	fixture, err := filepath.Abs("../../testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		source   string // flag the stalled server is given to
		sig      syscall.Signal
		wantCode int
	}{
		{"SIGINT, stalled inventory", "--inventory", syscall.SIGINT, 130},
		{"SIGTERM, stalled inventory", "--inventory", syscall.SIGTERM, 143},
		{"SIGINT, stalled darkstat", "--darkstat", syscall.SIGINT, 130},
		{"SIGTERM, stalled darkstat", "--darkstat", syscall.SIGTERM, 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, got := stallServer(t)
			dir := t.TempDir()
			out := filepath.Join(dir, "snap.json")
			prom := filepath.Join(dir, "planet.prom")
			for _, p := range []string{out, prom} {
				if err := os.WriteFile(p, []byte("previous\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "scan", "--proc-root", fixture, tt.source, url, "--timeout", "60s",
				"-o", out, "--textfile-dir", dir)
			cmd.Env = env
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case <-got:
			case err := <-waited:
				t.Fatalf("planet exited before asking the server: %v\n%s", err, stderr.String())
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatal("planet never asked the server")
			}
			// Asked, planet waits for the answer in the runtime's poller.
			if err := testenv.WaitBlocked(cmd.Process.Pid, "waiting in the poller", 10*time.Second, testenv.Polling); err != nil {
				cmd.Process.Kill()
				<-waited
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			sent := time.Now()
			cmd.Process.Signal(tt.sig)
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 5s after %s\n%s", tt.sig, stderr.String())
			}
			if d := time.Since(sent); d > time.Second {
				t.Errorf("stopped %s after %s, want within a second", d, tt.sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tt.wantCode, stderr.String())
			}
			for _, p := range []string{out, prom} {
				if b, _ := os.ReadFile(p); string(b) != "previous\n" {
					t.Errorf("%s changed after %s: %.200q", filepath.Base(p), tt.sig, b)
				}
			}
			if left := temps(t, dir); len(left) > 0 {
				t.Errorf("temp files left: %v", left)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
			}
		})
	}
}

// TestOutsideInputLimits: a FIFO, a device or an oversized file given as the
// inventory or darkstat source is refused at once with an error naming it,
// never read forever or blocked on. The inventory is required (exit 1), the
// darkstat optional (exit 0 unless --strict); the snapshot records either.
func TestOutsideInputLimits(t *testing.T) {
	bin := buildPlanet(t, t.TempDir())
	env := planetEnv(t)
	fixture, err := filepath.Abs("../../testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 40 MiB announced, nothing stored.
	if err := f.Truncate(40 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tests := []struct {
		name     string
		args     []string
		source   string // the snapshot source that must record the failure
		wantCode int
		wantMsg  string
	}{
		{"inventory fifo", []string{"--inventory", fifo}, "inventory", 1, fifo + ": not a regular file (a named pipe)"},
		{"inventory /dev/zero", []string{"--inventory", "/dev/zero"}, "inventory", 1, "/dev/zero: not a regular file"},
		{"inventory too large", []string{"--inventory", huge}, "inventory", 1, huge + ": larger than the size limit"},
		{"darkstat fifo", []string{"--darkstat", fifo}, "darkstat", 0, fifo + ": not a regular file"},
		{"darkstat too large", []string{"--darkstat", huge}, "darkstat", 0, huge + ": larger than the size limit"},
		{"darkstat /dev/zero strict", []string{"--darkstat", "/dev/zero", "--strict"}, "darkstat", 1, "/dev/zero: not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "snap.json")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, append([]string{"scan", "--proc-root", fixture, "-o", out}, tt.args...)...)
			cmd.Env = env
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stderr.String(), tt.wantMsg) {
				t.Errorf("stderr does not say %q:\n%s", tt.wantMsg, stderr.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("no snapshot written: %v", err)
			}
			s, err := snapshot.Parse(b, out)
			if err != nil {
				t.Fatal(err)
			}
			src, ok := s.Source(tt.source)
			if !ok || src.OK || !strings.Contains(src.Error, tt.wantMsg) {
				t.Errorf("snapshot source %s = %+v, want a failure saying %q", tt.source, src, tt.wantMsg)
			}
		})
	}
}

// TestScanAsNobody: as an unprivileged user planet still scans the live
// host, and counts the sockets of other users' processes it cannot
// attribute. The same scan as root attributes them. The binary sits in a
// directory only root could write, like an installed one.
func TestScanAsNobody(t *testing.T) {
	testenv.NeedRoot(t)
	// The scans look their config up as a user's would, so the
	// machine's own comes first: with one, they would write its
	// textfile-dir and output.
	if _, err := os.Stat("/etc/planet/planet.yaml"); err == nil {
		t.Skip("/etc/planet/planet.yaml exists (planet is installed here): planet scan reads it before the user config this test is about")
	}
	uid, gid := testenv.User(t, "nobody")
	// t.TempDir is 0700 under root; nobody needs to reach the binary.
	dir, err := os.MkdirTemp("", "planet-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildPlanet(t, dir)

	// Root-owned sockets: a listener and an accepted connection, held by
	// this test process.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	self := strings.TrimSpace(string(comm))
	// A home nobody cannot enter, with a config in it: as under setpriv
	// or `sudo -u nobody` from a root shell, which keep HOME=/root. The
	// config dir's file cannot be reached, so it is not nobody's: skipped.
	rootHome := t.TempDir() // 0700, root's
	if err := os.MkdirAll(filepath.Join(rootHome, ".config", "planet"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootHome, ".config", "planet", "planet.yaml"), []byte("scan:\n  output: /nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		cred        *syscall.Credential
		home        string
		wantProcess string
		wantUnowned bool
	}{
		{name: "nobody", cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, home: rootHome, wantProcess: "", wantUnowned: true},
		{name: "root", home: "/nonexistent", wantProcess: self},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "scan")
			cmd.Dir = dir
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + tt.home}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: tt.cred}
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			s, err := snapshot.Parse(stdout.Bytes(), "stdout")
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, l := range s.Listeners {
				if l.Protocol == "tcp" && l.Port == port {
					found = true
					if l.Process != tt.wantProcess {
						t.Errorf("listener %d: process %q, want %q", port, l.Process, tt.wantProcess)
					}
				}
			}
			if !found {
				t.Errorf("listener on port %d not in the snapshot", port)
			}
			if tt.wantUnowned {
				if s.UnownedSockets == 0 {
					t.Error("unowned_sockets = 0, want the root-owned sockets counted")
				}
				if !strings.Contains(stderr.String(), "run as root") {
					t.Errorf("stderr does not hint at root:\n%s", stderr.String())
				}
			}
			t.Logf("%s: %d listeners, %d connections, %d unowned sockets, sources %+v",
				tt.name, len(s.Listeners), len(s.Connections), s.UnownedSockets, s.Sources)
		})
	}
}
