package conntrack

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/planetdeps/planet/internal/ctsynth"
	"github.com/planetdeps/planet/snapshot"
)

func synthHost() Host {
	return Host{
		Local:       map[netip.Addr]bool{netip.MustParseAddr("10.1.0.5"): true, netip.MustParseAddr("172.17.0.1"): true},
		Listeners:   []snapshot.Listener{{Protocol: "tcp", Address: netip.IPv4Unspecified(), Port: 22, Process: "sshd"}},
		Unconnected: []Socket{{Proto: "udp", Local: netip.MustParseAddrPort("0.0.0.0:41000"), Process: "statsc"}},
	}
}

// BenchmarkScanMillion reads a synthetic 1,000,000-entry table from a file
// through Scan (open, parse, fold into records), the conntrack part of
// `planet scan` on a host whose table holds a million flows. It reports the
// process's peak resident memory (maxrss-MiB), which includes the test
// binary itself, and the CPU time of one read (cpu-s/op):
//
//	go test ./scan/conntrack -run '^$' -bench ScanMillion -benchtime 3x
func BenchmarkScanMillion(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "nf_conntrack")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := ctsynth.Write(f, n); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	runtime.GC()
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		conns, info, err := Scan(context.Background(), path, synthHost(), Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if info.Entries != n || info.Foreign != n*3/20 || len(conns) == 0 {
			b.Fatalf("entries %d, foreign %d, records %d", info.Entries, info.Foreign, len(conns))
		}
	}
	b.StopTimer()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB") // Maxrss is in KiB on Linux
		// CPU time (user+system) per read: on a shared machine the wall
		// time (ns/op) also counts the waits for a core.
		cpu := func(r syscall.Rusage) float64 {
			return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
		}
		b.ReportMetric((cpu(ru)-cpu(before))/float64(b.N), "cpu-s/op")
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "table-MiB")
}
