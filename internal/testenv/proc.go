package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Syscall is the system call a thread is blocked in, as
// /proc/PID/task/TID/syscall shows it (proc(5)): the number, one of
// golang.org/x/sys/unix's SYS_* for this architecture, and the first six
// arguments.
type Syscall struct {
	Nr   int64
	Args [6]uint64
}

// Reading matches a thread blocked in read(2) on file descriptor fd: a
// process reading a pipe or terminal that has nothing to give (the Go
// runtime reads a blocking descriptor, such as an inherited standard input,
// on a thread of its own).
func Reading(fd int) func(Syscall) bool {
	return func(s Syscall) bool { return s.Nr == unix.SYS_READ && s.Args[0] == uint64(fd) }
}

// Polling matches a thread blocked in epoll_pwait(2) or epoll_pwait2(2):
// in a Go program, the runtime's poller waiting for a socket, pipe or FIFO
// some goroutine waits on, or for the next timer.
func Polling(s Syscall) bool {
	return s.Nr == unix.SYS_EPOLL_PWAIT || s.Nr == unix.SYS_EPOLL_PWAIT2
}

// WaitBlocked polls process pid every 5 ms until one of its threads is
// blocked in a system call that match accepts: the observable state of a
// program waiting for input, for a test to act on instead of sleeping. It
// returns an error naming what (e.g. "reading standard input") and every
// thread's last state once within has passed or the process has ended.
// Reading another process's syscall file needs the right to ptrace it: the
// same user, or root.
func WaitBlocked(pid int, what string, within time.Duration, match func(Syscall) bool) error {
	var states []string
	return poll(pid, what, within, func() (bool, error) {
		states = states[:0]
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false, err
		}
		for _, task := range tasks {
			path := fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // the thread ended
				}
				return false, err
			}
			line := strings.TrimSpace(string(b))
			states = append(states, task.Name()+": "+line)
			s, ok, err := parseSyscall(line)
			if err != nil {
				return false, fmt.Errorf("%s: %w", path, err)
			}
			if ok && match(s) {
				return true, nil
			}
		}
		return false, nil
	}, func() string { return "threads (tid: syscall line): " + strings.Join(states, "; ") })
}

// WaitOpen polls process pid every 5 ms until it has path open (one of
// its /proc/PID/fd links points to it), e.g. a FIFO opened without
// blocking. The error names path and the process's open files once within
// has passed or the process has ended.
func WaitOpen(pid int, path string, within time.Duration) error {
	var open []string
	return poll(pid, "holding "+path+" open", within, func() (bool, error) {
		open = open[:0]
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			return false, err
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err != nil {
				continue // closed since the listing
			}
			if target == path {
				return true, nil
			}
			open = append(open, fd.Name()+" -> "+target)
		}
		return false, nil
	}, func() string { return "open files: " + strings.Join(open, ", ") })
}

// poll calls cond every 5 ms until it holds, the process ends (it is gone
// or a zombie) or within passes.
func poll(pid int, what string, within time.Duration, cond func() (bool, error), state func() string) error {
	deadline := time.Now().Add(within)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || zombie(stat) {
			return fmt.Errorf("process %d ended before %s", pid, what)
		}
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("process %d, waiting for it to be %s: %w", pid, what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not %s after %s; %s", pid, what, within, state())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// zombie reports whether a /proc/PID/stat line has state Z (ended, not yet
// waited for). The state follows the command name, which is in
// parentheses and may itself contain ") ".
func zombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndex(s, ") ")
	return i >= 0 && strings.HasPrefix(s[i+2:], "Z")
}

// parseSyscall reads a syscall file's line: "running", "-1 SP PC" (blocked
// outside a system call) or "NR ARG1 ... ARG6 SP PC" with the arguments in
// hexadecimal. ok is false unless the thread is in a system call.
func parseSyscall(line string) (s Syscall, ok bool, err error) {
	f := strings.Fields(line)
	if len(f) < 1+len(s.Args) {
		return s, false, nil // "running" or "-1 SP PC"
	}
	if s.Nr, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return s, false, fmt.Errorf("system call number %q: %w", f[0], err)
	}
	for i := range s.Args {
		if s.Args[i], err = strconv.ParseUint(strings.TrimPrefix(f[1+i], "0x"), 16, 64); err != nil {
			return s, false, fmt.Errorf("argument %d %q: %w", i+1, f[1+i], err)
		}
	}
	return s, true, nil
}
