package scan

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkScan scans this host while a helper process holds N loopback
// connections (2N sockets). scripts/bench-scan.sh runs the same setup against
// ss -tanp with hyperfine; this one is for profiling:
//
//	go test ./scan -run '^$' -bench Scan -cpuprofile cpu.out
func BenchmarkScan(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "holdconns")
	if out, err := exec.Command("go", "build", "-o", bin, "../internal/cmd/holdconns").CombinedOutput(); err != nil {
		b.Fatalf("build holdconns: %v\n%s", err, out)
	}
	for _, n := range []int{1000, 10000} {
		for _, source := range []SourceKind{SourceNetlink, SourceProc} {
			b.Run(fmt.Sprintf("conns=%d/source=%s", n, source), func(b *testing.B) {
				hold := exec.Command(bin, "-n", fmt.Sprint(n))
				hold.Stderr = os.Stderr
				out, err := hold.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				if err := hold.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() { hold.Process.Signal(os.Interrupt); hold.Wait() }()
				line, err := bufio.NewReader(out).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "ready") {
					b.Fatalf("holdconns: %q %v", line, err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := Run(context.Background(), Options{SocketSource: source}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
