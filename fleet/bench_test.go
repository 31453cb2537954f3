package fleet

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fleetgen"
	"github.com/planetdeps/planet/snapshot"
)

// BenchmarkFleet merges synthetic fleets of 1,000 and 10,000 snapshots of
// 200 connection records each, and, side by side, reads the same files
// without decoding them (cat's work) and decodes them with plain
// encoding/json; merge-by-host writes the by-host graph (millions of edges
// at 10,000 hosts) as planet merge does. One op is the whole fleet:
//
//	go test ./fleet -run '^$' -bench Fleet -benchtime 1x -benchmem -timeout 30m
//
// graph-heap-MiB is the live heap after the merge (the graph and nothing
// else), which grows with the graph, not with the number of files. Peak RSS
// is measured outside the benchmark with internal/cmd/fleetgen.
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if _, err := fleetgen.Generate(dir, fleetgen.Options{Hosts: n, Records: 200, Seed: 1}); err != nil {
				b.Fatal(err)
			}
			size := treeSize(b, dir)
			b.Run("cat", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					if got := readAll(b, dir); got != size {
						b.Fatalf("read %d bytes of %d", got, size)
					}
				}
			})
			b.Run("decode", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					if got := plainDecode(b, dir); got != n {
						b.Fatalf("decoded %d files", got)
					}
				}
			})
			// merger-heap-MiB is the live heap when every snapshot is in
			// (the host pairs kept for Graph, the edges, the declared
			// hosts): planet merge's peak RSS follows it.
			b.Run("merge", func(b *testing.B) {
				b.SetBytes(size)
				var (
					g    *graph.Graph
					heap float64
				)
				for b.Loop() {
					m, _, err := mergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{})
					if err != nil {
						b.Fatal(err)
					}
					heap = liveHeap()
					if g, err = m.Finish(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(heap, "merger-heap-MiB")
				b.ReportMetric(liveHeap(), "graph-heap-MiB")
				b.ReportMetric(float64(len(g.Edges)), "edges")
				runtime.KeepAlive(g)
			})
			// merger-heap-MiB is the live heap when every snapshot is in
			// (the by-host merge's edge aggregates): planet merge --by
			// host's peak RSS follows it.
			b.Run("merge-by-host", func(b *testing.B) {
				b.SetBytes(size)
				var heap float64
				for b.Loop() {
					m, _, err := mergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{By: graph.ByHost})
					if err != nil {
						b.Fatal(err)
					}
					heap = liveHeap()
					r, err := m.FinishMerged()
					if err != nil {
						b.Fatal(err)
					}
					if err := r.Write(io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(heap, "merger-heap-MiB")
			})
		})
	}
}

// liveHeap is the heap in use after a collection, in MiB.
func liveHeap() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// readAll reads every file under dir, as cat would, and returns the bytes.
func readAll(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		doc, err := os.ReadFile(p)
		n += int64(len(doc))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func treeSize(b *testing.B, dir string) int64 {
	var size int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		size += info.Size()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return size
}

// plainDecode is the baseline: fleetgen.DecodeAll, which reads each file
// and json.Unmarshals it into a snapshot.Snapshot, keeping nothing.
func plainDecode(b *testing.B, dir string) int {
	n, err := fleetgen.DecodeAll(dir)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkMergeStages splits planet merge of a 2,000-host fleet (200
// connection records per host, ~140 MB, as scripts/bench-merge.sh
// generates) into its stages, each over the same files, side by side with
// reading them (cat): the first pass's header reads (header), the second
// pass's decoding without the merge (parse, one snapshot.Decoder set as
// each worker's), the Merger's part alone, one snapshot at a time as the
// workers hand them over (add: Declare and Add of snapshots decoded
// beforehand, then Finish), and the whole merge (merge). A CPU profile of
// merge shows where its time goes:
//
//	go test ./fleet -run '^$' -bench MergeStages -benchtime 3x -cpuprofile cpu.out
//	go tool pprof -top -cum fleet.test cpu.out
func BenchmarkMergeStages(b *testing.B) {
	dir := b.TempDir()
	if _, err := fleetgen.Generate(dir, fleetgen.Options{Hosts: 2000, Records: 200, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	size := treeSize(b, dir)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cat", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if got := readAll(b, dir); got != size {
				b.Fatalf("read %d bytes of %d", got, size)
			}
		}
	})
	b.Run("header", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			for _, p := range files {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				h, err := snapshot.ReadHeader(f)
				f.Close()
				if err != nil || !h.Complete() {
					b.Fatalf("%s: header %+v, %v", p, h, err)
				}
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(size)
		dec := snapshot.Decoder{DropStates: true}
		for b.Loop() {
			for _, p := range files {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				s, err := dec.Read(f, 0, p)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				dec.Recycle(s)
			}
		}
	})
	b.Run("add", func(b *testing.B) {
		snaps := make([]*snapshot.Snapshot, len(files))
		dec := snapshot.Decoder{DropStates: true}
		for i, p := range files {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			snaps[i], err = dec.Read(f, 0, p)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(size)
		for b.Loop() {
			m, err := graph.NewMerger(graph.MergeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range snaps {
				m.Declare(s.Host)
			}
			for _, s := range snaps {
				if err := m.Add(s); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := m.Finish(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("merge", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, _, err := MergeInputs(context.Background(), []string{dir}, nil, InputOptions{}, graph.MergeOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
