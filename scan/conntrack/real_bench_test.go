package conntrack_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/scan/conntrack"
	"github.com/planetdeps/planet/snapshot"
)

// BenchmarkRealTable fills the conntrack table of a private network
// namespace through ctnetlink (what `conntrack -I` does, without a process
// per entry) and times Scan reading it back from the kernel's
// /proc/<pid>/net/nf_conntrack. A namespace's table stops at the global
// net.netfilter.nf_conntrack_max (262,144 here), so the entry count is that
// less a margin: the million-entry figure is BenchmarkScanMillion's.
// Needs root:
//
//	go test ./scan/conntrack -run '^$' -bench RealTable -benchtime 3x
func BenchmarkRealTable(b *testing.B) {
	lab := testnet.New(b)
	h := lab.Host("fill")
	raw, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		b.Skipf("no conntrack: %v", err)
	}
	max, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	n := min(250_000, max-1000)
	if v, err := strconv.Atoi(os.Getenv("PLANET_CT_ENTRIES")); err == nil && v > 0 {
		n = min(v, n) // e.g. to see how the kernel's time grows
	}
	err = h.Do(func() error {
		nh, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		defer nh.Close()
		for i := range n {
			cl := net.IPv4(10, 200, byte(i>>16), byte(i>>8)).To4()
			port := uint16(1024 + i%60000)
			f := &netlink.ConntrackFlow{
				FamilyType: unix.AF_INET,
				Forward:    netlink.IPTuple{SrcIP: cl, DstIP: net.IPv4(10, 1, 0, 5).To4(), Protocol: unix.IPPROTO_TCP, SrcPort: port, DstPort: 8443},
				Reverse:    netlink.IPTuple{SrcIP: net.IPv4(172, 17, 0, byte(2+i%200)).To4(), DstIP: cl, Protocol: unix.IPPROTO_TCP, SrcPort: 443, DstPort: port},
				TimeOut:    3600,
				ProtoInfo:  &netlink.ProtoInfoTCP{State: 3}, // ESTABLISHED
			}
			if err := nh.ConntrackCreate(netlink.ConntrackTable, netlink.InetFamily(unix.AF_INET), f); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("fill the table: %v", err)
	}
	sleeper := h.Start(h.Command("sleep", "3600"))
	pid := sleeper.Cmd.Process.Pid
	// ip netns exec becomes sleep once it has entered the namespace.
	for i := 0; ; i++ {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "sleep\n" {
			break
		}
		if i == 500 {
			b.Fatal("sleep did not start in the namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	path := conntrack.Path(fmt.Sprintf("/proc/%d", pid))
	host := conntrack.Host{Local: map[netip.Addr]bool{netip.MustParseAddr("10.1.0.5"): true}}
	// The floor: the kernel writing the file, read and thrown away.
	for _, size := range []int{256 << 10, 4 << 20} {
		b.Run(fmt.Sprintf("kernel-only/read=%dKiB", size>>10), func(b *testing.B) {
			defer cpuMetric(b)()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, f, make([]byte, size))
				f.Close()
				if err != nil || n == 0 {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(n), "entries")
		})
	}
	b.Run("scan-proc", func(b *testing.B) {
		benchScan(b, n, func() (*snapshot.Conntrack, error) {
			_, info, err := conntrack.Scan(context.Background(), path, host, conntrack.Limits{})
			return info, err
		})
	})
	// The dump reads the calling thread's namespace: run it inside.
	b.Run("scan-netlink", func(b *testing.B) {
		err := h.Do(func() error {
			benchScan(b, n, func() (*snapshot.Conntrack, error) {
				_, info, err := conntrack.ScanNetlink(context.Background(), host, conntrack.Limits{})
				return info, err
			})
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
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
		// Entries made by ctnetlink have seen no reply: all unanswered.
		if info.Entries != n || info.FlowsAdded+info.Unanswered != n {
			b.Fatalf("read %+v; want %d flows added or unanswered", info, n)
		}
	}
	b.ReportMetric(float64(n), "entries")
}
