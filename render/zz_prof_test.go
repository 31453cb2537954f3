package render

import (
	"context"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

func TestZZProf(t *testing.T) {
	path := os.Getenv("PROF_GRAPH")
	if path == "" {
		t.Skip()
	}
	in, err := ReadInput(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("after read: heap %d MiB", ms.HeapAlloc>>20)
	f, _ := os.Create("/tmp/speed/heap-read.out")
	pprof.WriteHeapProfile(f)
	f.Close()
	out, err := Render(context.Background(), in, Options{Format: FormatTable})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	t.Logf("after render: heap %d MiB, out %d MiB, total alloc %d MiB", ms.HeapAlloc>>20, len(out)>>20, ms.TotalAlloc>>20)
	io.Discard.Write(out)
}
