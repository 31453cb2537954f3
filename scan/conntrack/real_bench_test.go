package conntrack_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/ctsynth"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/scan/conntrack"
	"github.com/planetdeps/planet/snapshot"
)

// TestLoadReadBack loads entries into a private network namespace's table
// through ctsynth.Load (ctnetlink, as `conntrack -I`) and reads the
// kernel's table back, through the ctnetlink dump and through the /proc
// file: both give exactly the entries loaded.
func TestLoadReadBack(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("load")
	if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
		testenv.Unavailable(t, "no connection tracking (modprobe nf_conntrack): %v", err)
	}
	const n = 2000
	var want []string
	ctsynth.Entries(n, func(e *ctsynth.Entry) error {
		want = append(want, entryString(e.Proto == unix.IPPROTO_TCP, e.OrigSrc, e.OrigDst, e.ReplySrc, e.ReplyDst, !e.Replied))
		return nil
	})
	slices.Sort(want)
	var dumped []string
	collect := func(into *[]string) func(*conntrack.Flow) error {
		return func(f *conntrack.Flow) error {
			*into = append(*into, entryString(f.Proto == "tcp", f.Orig.Src, f.Orig.Dst, f.Reply.Src, f.Reply.Dst, f.Unreplied))
			return nil
		}
	}
	err := h.Do(func() error {
		if err := ctsynth.Load(context.Background(), n); err != nil {
			return err
		}
		_, err := conntrack.Dump(context.Background(), conntrack.Limits{}, collect(&dumped))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dumped)
	if !slices.Equal(dumped, want) {
		t.Errorf("dumped %d entries, loaded %d; first dumped %q, first loaded %q", len(dumped), len(want), dumped[:min(3, len(dumped))], want[:3])
	}
	sleeper := h.Start(h.Command("sleep", "3600"))
	var read []string
	f, err := os.Open(conntrack.Path(fmt.Sprintf("/proc/%d", waitExec(t, sleeper.Cmd.Process.Pid, "sleep"))))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := conntrack.Parse(context.Background(), f, f.Name(), conntrack.Limits{}, collect(&read)); err != nil {
		t.Fatal(err)
	}
	slices.Sort(read)
	if !slices.Equal(read, want) {
		t.Errorf("/proc table: %d entries, loaded %d", len(read), len(want))
	}
}

func entryString(tcp bool, os, od, rs, rd netip.AddrPort, unreplied bool) string {
	return fmt.Sprintf("tcp=%v %s>%s %s>%s unreplied=%v", tcp, os, od, rs, rd, unreplied)
}

// waitExec waits until process pid has exec'd comm (ip netns exec becomes
// its command once it has entered the namespace) and returns pid.
func waitExec(t testing.TB, pid int, comm string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(c) == comm+"\n" {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start in the namespace", comm)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// raiseConntrackMax raises the global net.netfilter.nf_conntrack_max (and
// the hash table's buckets with it) to hold n entries and a margin, and
// puts both back when b ends.
func raiseConntrackMax(b *testing.B, n int) {
	b.Helper()
	const maxPath, bucketsPath = "/proc/sys/net/netfilter/nf_conntrack_max", "/proc/sys/net/netfilter/nf_conntrack_buckets"
	read := func(p string) int {
		raw, err := os.ReadFile(p)
		if err != nil {
			testenv.Unavailable(b, "no connection tracking (modprobe nf_conntrack): %v", err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			b.Fatalf("%s: %v", p, err)
		}
		return v
	}
	oldMax, oldBuckets := read(maxPath), read(bucketsPath)
	if oldMax >= n+n/10 {
		return
	}
	write := func(p string, v int) {
		if err := os.WriteFile(p, []byte(strconv.Itoa(v)), 0o644); err != nil {
			b.Fatalf("%s = %d: %v", p, v, err)
		}
	}
	b.Cleanup(func() {
		write(maxPath, oldMax)
		write(bucketsPath, oldBuckets)
	})
	write(bucketsPath, max(oldBuckets, (n+n/10)/4))
	write(maxPath, n+n/10)
}

// BenchmarkRealTable loads a real connection-tracking table of 1,000,000
// entries (PLANET_CT_ENTRIES to change it) into a private network
// namespace through ctsynth.Load (the mix of ctsynth.Entries: published
// ports, masqueraded, closed, sendto and forwarded flows), raising the
// global nf_conntrack_max for it and restoring it afterwards, and times,
// side by side on that table:
//
//	kernel-only: the kernel writing /proc/<pid>/net/nf_conntrack, read and thrown away
//	scan-proc:   conntrack.Scan reading that file (the unit's way, without CAP_NET_ADMIN)
//	scan-netlink: conntrack.ScanNetlink dumping it (root's way)
//	conntrack-L: `conntrack -L` (conntrack-tools) listing it to /dev/null
//
// with the CPU time of each (cpu-s/op: user and system, the kernel's work
// included; conntrack -L's as its child's) next to the wall time. The
// whole `planet scan` of such a host, with its peak memory, is
// scripts/bench-conntrack.sh real's. Needs root:
//
//	go test ./scan/conntrack -run '^$' -bench RealTable -benchtime 3x
func BenchmarkRealTable(b *testing.B) {
	lab := testnet.New(b)
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PLANET_CT_ENTRIES")); err == nil && v > 0 {
		n = v
	}
	raiseConntrackMax(b, n)
	h := lab.Host("fill")
	if err := h.Do(func() error { return ctsynth.Load(context.Background(), n) }); err != nil {
		b.Fatalf("fill the table: %v", err)
	}
	sleeper := h.Start(h.Command("sleep", "3600"))
	path := conntrack.Path(fmt.Sprintf("/proc/%d", waitExec(b, sleeper.Cmd.Process.Pid, "sleep")))
	host := conntrack.Host{Local: map[netip.Addr]bool{netip.MustParseAddr("10.1.0.5"): true}}
	b.Run("kernel-only", func(b *testing.B) {
		defer cpuMetric(b)()
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, f, make([]byte, 256<<10))
			f.Close()
			if err != nil || n == 0 {
				b.Fatal(n, err)
			}
		}
		b.ReportMetric(float64(n), "entries")
	})
	b.Run("scan-proc", func(b *testing.B) {
		benchScan(b, n, func() (*snapshot.Conntrack, error) {
			_, info, err := conntrack.Scan(context.Background(), path, host, conntrack.Limits{})
			return info, err
		})
	})
	// The dump reads the calling thread's namespace: each one runs
	// inside (benchScan's b.Fatal must not run on h.Do's thread, which
	// would never report back).
	b.Run("scan-netlink", func(b *testing.B) {
		benchScan(b, n, func() (info *snapshot.Conntrack, err error) {
			derr := h.Do(func() error {
				_, info, err = conntrack.ScanNetlink(context.Background(), host, conntrack.Limits{})
				return nil
			})
			return info, cmp.Or(derr, err)
		})
	})
	b.Run("conntrack-L", func(b *testing.B) {
		testenv.NeedCommand(b, "conntrack", "conntrack")
		var cpu float64
		for b.Loop() {
			cmd := h.Command("conntrack", "-L")
			if err := cmd.Run(); err != nil {
				b.Fatalf("conntrack -L: %v", err)
			}
			cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		}
		b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
		b.ReportMetric(float64(n), "entries")
	})
}

// cpuMetric reports the CPU time (user and system: the kernel's work of
// writing the table counts) per iteration, since on a shared machine the
// wall time also counts waits for a core. Call its result when done.
func cpuMetric(b *testing.B) func() {
	cpu := func() float64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	start := cpu()
	return func() { b.ReportMetric((cpu()-start)/float64(b.N), "cpu-s/op") }
}

func benchScan(b *testing.B, n int, scan func() (*snapshot.Conntrack, error)) {
	defer cpuMetric(b)()
	for b.Loop() {
		info, err := scan()
		if err != nil {
			b.Fatal(err)
		}
		// ctsynth.Entries: 3 in 20 foreign, the rest added.
		if info.Entries != n || info.Foreign != n/20*3 || info.FlowsAdded != n-n/20*3 {
			b.Fatalf("read %+v; want %d flows, %d foreign, the rest added", info, n, n/20*3)
		}
	}
	b.ReportMetric(float64(n), "entries")
}

// TestScanNetlinkCountedEmpty: in a private network namespace, a table the
// kernel counts empty is read as empty without a dump, the host's records
// as they were; once entries are loaded, they are dumped and counted.
func TestScanNetlinkCountedEmpty(t *testing.T) {
	lab := testnet.New(t)
	h := lab.Host("empty")
	if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
		testenv.Unavailable(t, "no connection tracking (modprobe nf_conntrack): %v", err)
	}
	host := conntrack.Host{Connections: []snapshot.Connection{{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443,
		RemoteIP: netip.MustParseAddr("192.0.2.1"), Process: "curl", Sockets: 1}}}
	const n = 20
	var empty, loaded *snapshot.Conntrack
	var conns []snapshot.Connection
	err := h.Do(func() error {
		var err error
		if conns, empty, err = conntrack.ScanNetlink(context.Background(), host, conntrack.Limits{}); err != nil {
			return err
		}
		if err := ctsynth.Load(context.Background(), n); err != nil {
			return err
		}
		_, loaded, err = conntrack.ScanNetlink(context.Background(), host, conntrack.Limits{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Entries != 0 || empty.Source != conntrack.NetlinkSource || !slices.EqualFunc(conns, host.Connections, func(a, b snapshot.Connection) bool {
		return fmt.Sprint(a) == fmt.Sprint(b)
	}) {
		t.Errorf("empty table: %+v, records %+v; want no entries from %q and the records unchanged", empty, conns, conntrack.NetlinkSource)
	}
	if loaded.Entries != n {
		t.Errorf("loaded table: %d entries, want %d", loaded.Entries, n)
	}
}
