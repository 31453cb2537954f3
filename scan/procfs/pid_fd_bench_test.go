package procfs

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkSocketInodes walks every process's fds of this host's /proc,
// side by side: SocketInodes on one worker and on every CPU, and
// FDSockets process after process. Hold connections open first for a
// table worth the name (go run ./internal/cmd/holdconns -n 10000).
func BenchmarkSocketInodes(b *testing.B) {
	p := FS{Root: "/proc"}
	pids, err := p.PIDs()
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprint("workers=", workers), func(b *testing.B) {
			for b.Loop() {
				p.SocketInodes(pids, workers, nil)
			}
		})
	}
	b.Run("FDSockets", func(b *testing.B) {
		buf := make([]byte, 64)
		for b.Loop() {
			for _, pid := range pids {
				_ = p.FDSockets(pid, buf, func(uint64) {})
			}
		}
	})
}
