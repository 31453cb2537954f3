// Command fleetgen generates a synthetic fleet of snapshots and measures
// merging it, so peak memory can be checked outside a benchmark:
//
//	fleetgen gen -n 10000 -dir /tmp/fleet
//	/usr/bin/time -v fleetgen merge -o /tmp/graph.json /tmp/fleet
//	/usr/bin/time -v fleetgen decode /tmp/fleet
//
// merge runs fleet.MergeInputs as `planet merge` does; decode is the
// baseline: a plain encoding/json decode of every file into a Snapshot.
// Each prints its wall time and the process's peak RSS on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/planetdeps/planet/fleet"
	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/atomicfile"
	"github.com/planetdeps/planet/internal/fleetgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: fleetgen gen|merge|decode [flags]")
	}
	if p := os.Getenv("FLEETGEN_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	var err error
	switch args[0] {
	case "gen":
		err = gen(args[1:])
	case "merge":
		err = merge(args[1:])
	case "decode":
		err = decode(args[1:])
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		return err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "%s: %v, peak RSS %.1f MiB\n", args[0], time.Since(start).Round(time.Millisecond), float64(ru.Maxrss)/1024)
	return nil
}

func gen(args []string) error {
	fl := flag.NewFlagSet("gen", flag.ContinueOnError)
	n := fl.Int("n", 1000, "hosts (snapshot files)")
	records := fl.Int("records", 200, "connection records per snapshot")
	seed := fl.Uint64("seed", 1, "random seed")
	dir := fl.String("dir", "", "output directory (required)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("gen: -dir is required")
	}
	paths, err := fleetgen.Generate(*dir, fleetgen.Options{Hosts: *n, Records: *records, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d snapshots under %s\n", len(paths), *dir)
	return nil
}

func merge(args []string) error {
	fl := flag.NewFlagSet("merge", flag.ContinueOnError)
	out := fl.String("o", "", "write the graph here (default: discard)")
	by := fl.String("by", "", "hostgroup or host")
	external := fl.String("external", "", "ip, collapse or cidr:N")
	if err := fl.Parse(args); err != nil {
		return err
	}
	mo, err := mergeOptions(*by, *external)
	if err != nil {
		return err
	}
	start := time.Now()
	progress := func(done, total int) {
		if done == 1 || done == total {
			fmt.Fprintf(os.Stderr, "read %d/%d after %v\n", done, total, time.Since(start).Round(time.Millisecond))
		}
	}
	g, notes, err := fleet.MergeInputs(context.Background(), fl.Args(), os.Stdin, fleet.InputOptions{Progress: progress}, mo)
	for _, n := range notes {
		fmt.Fprintln(os.Stderr, n)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "merged %d snapshots: %d nodes, %d edges\n", g.Snapshots, len(g.Nodes), len(g.Edges))
	if *out == "" {
		return graph.Write(io.Discard, g)
	}
	return atomicfile.Write(*out, 0o644, func(w io.Writer) error { return graph.Write(w, g) })
}

func decode(args []string) error {
	n := 0
	for _, root := range args {
		got, err := fleetgen.DecodeAll(root)
		if err != nil {
			return err
		}
		n += got
	}
	fmt.Fprintf(os.Stderr, "decoded %d snapshots\n", n)
	return nil
}

// mergeOptions reads -by and -external.
func mergeOptions(by, external string) (graph.MergeOptions, error) {
	b, err := graph.ParseBy(by)
	if err != nil {
		return graph.MergeOptions{}, fmt.Errorf("-by: %w", err)
	}
	ext, err := graph.ParseExternal(external)
	if err != nil {
		return graph.MergeOptions{}, fmt.Errorf("-external: %w", err)
	}
	return graph.MergeOptions{By: b, External: ext}, nil
}
