package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWaitBlocked: cat with an open, empty pipe as standard input is found
// blocked reading descriptor 0, not 5; once it has exited, the wait says
// so instead of polling until the deadline.
func TestWaitBlocked(t *testing.T) {
	cat := NeedCommand(t, "cat", "coreutils")
	cmd := exec.Command(cat)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	defer func() { cmd.Process.Kill(); <-waited }()
	pid := cmd.Process.Pid
	if err := WaitBlocked(pid, "reading standard input", 10*time.Second, Reading(0)); err != nil {
		t.Fatal(err)
	}
	err = WaitBlocked(pid, "reading descriptor 5", 50*time.Millisecond, Reading(5))
	if err == nil || !strings.Contains(err.Error(), "not reading descriptor 5 after 50ms") || !strings.Contains(err.Error(), " 0x0 ") {
		t.Errorf("err = %v, want one naming the wait and the threads' system calls", err)
	}
	stdin.Close()
	<-waited
	err = WaitBlocked(pid, "reading standard input", 10*time.Second, Reading(0))
	if err == nil || !strings.Contains(err.Error(), "ended before reading standard input") {
		t.Errorf("after exit: err = %v, want one saying the process ended", err)
	}
}

// TestWaitWritingChildDelivered: sh writing into a pipe nobody reads is
// found blocked in write(2) on descriptor 1, with its child sleep; a
// SIGTERM sent to it is seen delivered to its trap.
func TestWaitWritingChildDelivered(t *testing.T) {
	sh := NeedCommand(t, "sh", "dash")
	cmd := exec.Command(sh, "-c", "trap : TERM; sleep 60 & while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done")
	stdout, err := cmd.StdoutPipe() // never read
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	pid := cmd.Process.Pid
	defer func() { cmd.Process.Kill(); <-waited }()
	if err := WaitBlocked(pid, "writing standard output", 10*time.Second, Writing(1)); err != nil {
		t.Fatal(err)
	}
	child, err := WaitChild(pid, "sleep", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(child, syscall.SIGKILL)
	if c, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/comm"); string(c) != "sleep\n" {
		t.Errorf("child %d is %q, want sleep", child, c)
	}
	if _, err := WaitChild(pid, "cat", 20*time.Millisecond); err == nil || !strings.Contains(err.Error(), "not running cat") || !strings.Contains(err.Error(), " sleep") {
		t.Errorf("no cat: err = %v, want one listing the children", err)
	}
	if err := WaitIdle(child, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := WaitDelivered(pid, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestWaitOpen: this process holds a file it opened, not one it did not.
func TestWaitOpen(t *testing.T) {
	dir := t.TempDir()
	held, other := filepath.Join(dir, "held"), filepath.Join(dir, "other")
	f, err := os.Create(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range []string{held, dir, dir + "/"} {
		if err := WaitOpen(os.Getpid(), p, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	err = WaitOpen(os.Getpid(), other, 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not holding "+other+" open") || !strings.Contains(err.Error(), held) {
		t.Errorf("err = %v, want one naming the file and those open", err)
	}
}

// TestWaitParked: a goroutine reading an empty pipe is found parked in
// os.(*File).Read, and nothing is parked in a function never called.
func TestWaitParked(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go r.Read(make([]byte, 1))
	if err := WaitParked("os.(*File).Read", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := WaitParked("testenv.nowhere", 20*time.Millisecond); err == nil || !strings.Contains(err.Error(), "testenv.nowhere after 20ms") {
		t.Errorf("err = %v, want one naming the function", err)
	}
	w.Close()
}

func TestParseSyscall(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want Syscall
		err  bool
	}{
		{line: "running"},
		{line: "-1 0x7ffd5a0c8f28 0x45c2e3"},
		{line: "0 0x0 0xc000180000 0x200 0x0 0x0 0x0 0x7ffd5a0c8f28 0x45c2e3", ok: true,
			want: Syscall{Nr: 0, Args: [6]uint64{0, 0xc000180000, 0x200}}},
		{line: "281 0x6 0x7ffd 0x80 0xffffffffffffffff 0x0 0x8 0x1 0x2", ok: true,
			want: Syscall{Nr: 281, Args: [6]uint64{6, 0x7ffd, 0x80, 1<<64 - 1, 0, 8}}},
		{line: "x 0x0 0x0 0x0 0x0 0x0 0x0 0x1 0x2", err: true},
		{line: "0 0x0 0xzz 0x0 0x0 0x0 0x0 0x1 0x2", err: true},
	}
	for _, tt := range tests {
		got, ok, err := parseSyscall(tt.line)
		if (err != nil) != tt.err || ok != tt.ok || got != tt.want {
			t.Errorf("parseSyscall(%q) = %+v, %v, %v; want %+v, %v, error %v", tt.line, got, ok, err, tt.want, tt.ok, tt.err)
		}
	}
}

func TestZombie(t *testing.T) {
	for stat, want := range map[string]bool{
		"42 (cat) S 1 42":          false,
		"42 (cat) Z 1 42":          true,
		"42 (a) Z (b) R 1 42":      false,
		"42 (odd) name) Z 1 42 ok": true,
	} {
		if got := zombie([]byte(stat)); got != want {
			t.Errorf("zombie(%q) = %v, want %v", stat, got, want)
		}
	}
}
