// Command synthconntrack writes a synthetic /proc/net/nf_conntrack of N
// entries (package ctsynth says which) to standard output, or with -load
// puts N such entries into the kernel's connection-tracking table of the
// network namespace it runs in (through ctnetlink: root), for
// scripts/bench-conntrack.sh.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/planetdeps/planet/internal/ctsynth"
)

func main() {
	n := flag.Int("n", 1_000_000, "entries")
	load := flag.Bool("load", false, "load the entries into this network namespace's table instead of printing a table")
	flag.Parse()
	var err error
	if *load {
		err = ctsynth.Load(context.Background(), *n)
	} else {
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		if err = ctsynth.Write(w, *n); err == nil {
			err = w.Flush()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthconntrack:", err)
		os.Exit(1)
	}
}
