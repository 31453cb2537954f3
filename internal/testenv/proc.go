package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
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

// Writing matches a thread blocked in write(2) on file descriptor fd: a
// process writing to a pipe whose reader does not read.
func Writing(fd int) func(Syscall) bool {
	return func(s Syscall) bool { return s.Nr == unix.SYS_WRITE && s.Args[0] == uint64(fd) }
}

// WaitOpen polls process pid every 5 ms until it has path open, or a file
// below path when that is a directory (one of its /proc/PID/fd links
// points there): e.g. a FIFO opened without blocking, or one of the files
// of a directory the process reads. The error names path and the process's
// open files once within has passed or the process has ended.
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
			if target == path || strings.HasPrefix(target, strings.TrimSuffix(path, "/")+"/") {
				return true, nil
			}
			open = append(open, fd.Name()+" -> "+target)
		}
		return false, nil
	}, func() string { return "open files: " + strings.Join(open, ", ") })
}

// WaitChild polls process pid every 5 ms until one of its children runs
// the program comm (its /proc/PID/comm, at most 15 bytes: the child has
// executed it), and returns that child's PID. Children are read from the
// threads' children files (/proc/PID/task/*/children: a Go program starts
// processes from any of its threads). The error lists the children once
// within has passed, or says the process has ended.
func WaitChild(pid int, comm string, within time.Duration) (int, error) {
	var child int
	var seen []string
	err := poll(pid, "running "+comm, within, func() (bool, error) {
		seen = seen[:0]
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false, err
		}
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
			if err != nil {
				continue // the thread ended
			}
			for _, c := range strings.Fields(string(b)) {
				name, _ := os.ReadFile("/proc/" + c + "/comm")
				seen = append(seen, c+" "+strings.TrimSpace(string(name)))
				if strings.TrimSpace(string(name)) == comm {
					child, err = strconv.Atoi(c)
					return err == nil, err
				}
			}
		}
		return false, nil
	}, func() string { return "children: " + strings.Join(seen, ", ") })
	return child, err
}

// WaitDelivered polls process pid every 5 ms until sig, sent to it, is no
// longer pending (the ShdPnd mask of /proc/PID/status): the kernel has
// handed it to the process's handler. kill(2) marks a signal pending before
// it returns, so a caller that has sent sig can rely on the wait.
func WaitDelivered(pid int, sig syscall.Signal, within time.Duration) error {
	var mask string
	return poll(pid, sig.String()+" delivered", within, func() (bool, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return false, err
		}
		for line := range strings.Lines(string(b)) {
			if m, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
				mask = strings.TrimSpace(m)
				bits, err := strconv.ParseUint(mask, 16, 64)
				if err != nil {
					return false, fmt.Errorf("ShdPnd %q: %w", mask, err)
				}
				return bits&(1<<(uint(sig)-1)) == 0, nil
			}
		}
		return false, errors.New("no ShdPnd line in its status")
	}, func() string { return "pending signals (ShdPnd): " + mask })
}

// WaitIdle polls process pid every 5 ms until two scans in a row find
// every thread asleep (state S in /proc/PID/task/*/stat): the process has
// run all it had to run, e.g. a Go program has passed a delivered signal to
// the goroutine that waits for it (the runtime folds a second SIGINT into
// one not yet taken). The error lists the threads' states once within has
// passed, or says the process has ended.
func WaitIdle(pid int, within time.Duration) error {
	var states []string
	quiet := 0
	return poll(pid, "idle", within, func() (bool, error) {
		states = states[:0]
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false, err
		}
		asleep := true
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread ended
			}
			st := taskState(stat)
			states = append(states, task.Name()+" "+st)
			asleep = asleep && st == "S"
		}
		if !asleep {
			quiet = 0
			return false, nil
		}
		quiet++
		return quiet == 2, nil
	}, func() string { return "threads (tid state): " + strings.Join(states, ", ") })
}

// WaitParked polls this process's goroutines (runtime.Stack) every
// millisecond until one is parked in the runtime's poller ("IO wait") with
// fn on its stack, e.g. "os.(*File).Read" for a read blocked on an empty
// pipe: the in-process counterpart of WaitBlocked. The error says none was
// once within has passed.
func WaitParked(fn string, within time.Duration) error {
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, " [IO wait") && strings.Contains(g, fn+"(") {
				return nil
			}
		}
	}
	return fmt.Errorf("no goroutine parked in the poller in %s after %s", fn, within)
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
// waited for).
func zombie(stat []byte) bool { return taskState(stat) == "Z" }

// taskState is the state letter of a /proc/PID/stat line (R running, S
// sleeping, ...). It follows the command name, which is in parentheses and
// may itself contain ") ".
func taskState(stat []byte) string {
	s := string(stat)
	i := strings.LastIndex(s, ") ")
	if i < 0 || len(s) < i+3 {
		return ""
	}
	return s[i+2 : i+3]
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
