//go:build e2e

package cli_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

// TestScanWindowSignal: SIGINT or SIGTERM during scan --window ends the
// window early; planet still writes a valid snapshot, marked cut short, and
// exits 128+signal. A bad --window is a usage error, and the proc socket
// source is refused naming the way out; neither writes anything.
func TestScanWindowSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds planet")
	}
	goBin := testenv.NeedCommand(t, "go", "golang-go")
	planet := filepath.Join(t.TempDir(), "planet")
	if out, err := exec.Command(goBin, "build", "-o", planet, "../../cmd/planet").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "snap.json")
			// The signal goes once planet logs (at debug level) that the
			// window has begun: its handlers are in place by then.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(planet, "--log-level", "debug", "scan", "--window", "1h", "-o", out)
			cmd.Env, cmd.Stderr = planetEnv(t), w
			err = cmd.Start()
			w.Close()
			if err != nil {
				r.Close()
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			begun, read := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(read)
				defer r.Close()
				seen := false
				lines := bufio.NewScanner(r)
				for lines.Scan() {
					stderr.Write(append(lines.Bytes(), '\n'))
					if !seen && strings.Contains(lines.Text(), `msg="window begun"`) {
						seen = true
						close(begun)
					}
				}
			}()
			done := make(chan error, 1)
			go func() {
				<-read // every log line read before Wait
				done <- cmd.Wait()
			}()
			select {
			case <-begun:
			case err := <-done:
				t.Fatalf("planet ended before its window began: %v\n%s", err, stderr.String())
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("no \"window begun\" log line within 30 s")
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tt.want {
					t.Fatalf("exit %v, want %d\n%s", err, tt.want, stderr.String())
				}
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the window did not end on the signal")
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatalf("no snapshot written: %v\n%s", err, stderr.String())
			}
			defer f.Close()
			snap, err := snapshot.Read(f, out)
			if err != nil {
				t.Fatal(err)
			}
			if w := snap.Window; w == nil || !w.CutShort || w.Seconds > 10 {
				t.Errorf("window %+v, want cut short", w)
			}
		})
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--window", "-5s"}, 2, "--window -5s"},
		{[]string{"--window", "1s", "--socket-source", "proc"}, 1, "--socket-source auto or netlink"},
	} {
		out := filepath.Join(t.TempDir(), "snap.json")
		var stderr bytes.Buffer
		cmd := exec.Command(planet, append(append([]string{"scan"}, tt.args...), "-o", out)...)
		cmd.Env, cmd.Stderr = planetEnv(t), &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tt.code || !strings.Contains(stderr.String(), tt.msg) {
			t.Errorf("%v: exit %v, stderr %q; want %d naming %q", tt.args, err, stderr.String(), tt.code, tt.msg)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: wrote %s", tt.args, out)
		}
	}
}
