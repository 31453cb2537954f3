package scan

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// loadgenMode is helperEnv's value for the load generator child process.
const loadgenMode = "loadgen"

// loadgen runs in a child process so that the benchmark's own CPU time is
// the window's alone. It serves and makes short loopback connections (100
// bytes each way, the server closing first so client ports are free at
// once) at PLANET_LOADGEN_RATE a second for PLANET_LOADGEN_SECONDS, starting
// when its stdin gives a line, and prints how many it made, in how many
// seconds, and the CPU seconds (user and system) it used doing so.
func loadgen() {
	rate, _ := strconv.Atoi(os.Getenv("PLANET_LOADGEN_RATE"))
	secs, _ := strconv.ParseFloat(os.Getenv("PLANET_LOADGEN_SECONDS"), 64)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 100)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write(buf)
				}
				c.Close()
			}()
		}
	}()
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	cpu0 := selfCPU()
	total := int(float64(rate) * secs)
	if total == 0 {
		time.Sleep(time.Duration(secs * float64(time.Second)))
		fmt.Println(0, secs, (selfCPU() - cpu0).Seconds())
		return
	}
	tokens := make(chan struct{}, total)
	var made atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for range tokens {
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					continue
				}
				c.Write(buf)
				io.Copy(io.Discard, c)
				c.Close()
				made.Add(1)
			}
		}()
	}
	start := time.Now()
	end := start.Add(time.Duration(secs * float64(time.Second)))
	for i := range total {
		// Pace: token i is due at start + i/rate. A machine too busy to
		// keep up stops at the end all the same (conn/s says what it
		// reached), so that the load always ends well within the window.
		due := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if time.Now().After(end) {
			break
		}
		tokens <- struct{}{}
	}
	close(tokens)
	wg.Wait()
	fmt.Println(made.Load(), time.Since(start).Seconds(), (selfCPU() - cpu0).Seconds())
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWindowOverhead measures what a window costs on a busy host: the
// CPU time (user and system) of a planet scan --window 5s process, as a
// share of one core over its run, while loopback connections open and
// close for 3 s at 1,000 and 10,000 a second (as far as the machine can:
// conn/s reports the rate reached) in a separate load process; the 0 case
// is the window's fixed cost on an idle host. %core_window is the planet
// process's CPU (all its threads, from /proc/PID/stat) while the load runs,
// %core_run its whole run's (start-up, both dumps, the end's instant scan
// and the snapshot) over the window's length, and %core_load, side by side,
// the load generator's own CPU over the same time: what the connections the
// window watches cost to make. The kernel's work of building each destroy
// event runs in kernel worker threads and is in neither. closed counts the
// sockets the window saw end (two a connection, both ends being here),
// records the snapshot's dependency records (other programs' connections
// on the machine add theirs), maxRSS the planet process's peak memory.
// Run it with
//
//	go test ./scan -run '^$' -bench WindowOverhead -benchtime 1x
func BenchmarkWindowOverhead(b *testing.B) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Skip("skipped: no go command to build planet")
	}
	planet := filepath.Join(b.TempDir(), "planet")
	if out, err := exec.Command(goBin, "build", "-o", planet, "../cmd/planet").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, rate := range []int{0, 1000, 10_000} {
		b.Run(strconv.Itoa(rate)+"conn/s", func(b *testing.B) {
			for range b.N {
				benchWindow(b, planet, rate, 3, 5*time.Second)
			}
		})
	}
}

func benchWindow(b *testing.B, planet string, rate int, loadSecs float64, window time.Duration) {
	gen := exec.Command(os.Args[0], "-test.run=^$")
	gen.Env = append(os.Environ(), helperEnv+"="+loadgenMode,
		"PLANET_LOADGEN_RATE="+strconv.Itoa(rate), "PLANET_LOADGEN_SECONDS="+strconv.FormatFloat(loadSecs, 'f', -1, 64))
	stdin, _ := gen.StdinPipe()
	stdout, _ := gen.StdoutPipe()
	if err := gen.Start(); err != nil {
		b.Fatal(err)
	}
	defer gen.Process.Kill()
	out := bufio.NewScanner(stdout)
	if !out.Scan() || out.Text() != "ready" {
		b.Fatalf("load generator: %q", out.Text())
	}
	snapPath := filepath.Join(b.TempDir(), "snap.json")
	scan := exec.Command(planet, "--config", "", "--log-level", "debug", "scan", "--window", window.String(), "-o", snapPath)
	scan.Env = append(os.Environ(), "XDG_CONFIG_HOME=/nonexistent")
	var stderr strings.Builder
	logs, _ := scan.StderrPipe()
	if err := scan.Start(); err != nil {
		b.Fatal(err)
	}
	// The window has begun (its start dump and /proc pass done) when
	// planet logs so.
	lines := bufio.NewScanner(logs)
	for lines.Scan() && !strings.Contains(lines.Text(), "window begun") {
		stderr.WriteString(lines.Text() + "\n")
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for lines.Scan() {
			stderr.WriteString(lines.Text() + "\n")
		}
	}()
	cpu0, wall0 := procCPU(b, scan.Process.Pid), time.Now()
	fmt.Fprintln(stdin, "go")
	if !out.Scan() {
		b.Fatal("load generator ended without a count")
	}
	var made int
	var took, loadCPU float64
	fmt.Sscan(out.Text(), &made, &took, &loadCPU)
	// Still inside the window (it ends 5 s after the start, the load 3 s).
	inWindow := (procCPU(b, scan.Process.Pid) - cpu0).Seconds() / time.Since(wall0).Seconds()
	<-logged // the pipe ends with the process
	if err := scan.Wait(); err != nil {
		b.Fatalf("planet scan: %v\n%s", err, stderr.String())
	}
	st := scan.ProcessState
	cpu := st.UserTime() + st.SystemTime()
	ru := st.SysUsage().(*syscall.Rusage)
	f, err := os.Open(snapPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	snap, err := snapshot.Read(f, snapPath)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(made)/took, "conn/s")
	b.ReportMetric(100*inWindow, "%core_window")
	b.ReportMetric(100*loadCPU/took, "%core_load")
	b.ReportMetric(100*cpu.Seconds()/snap.Window.Seconds, "%core_run")
	b.ReportMetric(float64(snap.Window.Closed), "closed")
	b.ReportMetric(float64(len(snap.Connections)), "records")
	b.ReportMetric(float64(snap.Window.EventOverruns), "overruns")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxRSS_MiB")
}

// procCPU reads a process's user and system CPU time from /proc/PID/stat
// (clock ticks of 1/100 s).
func procCPU(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stt) * 10 * time.Millisecond
}
