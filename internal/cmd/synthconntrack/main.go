// Command synthconntrack writes a synthetic /proc/net/nf_conntrack of N
// entries (package ctsynth says which) to standard output, for
// scripts/bench-conntrack.sh.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/planetdeps/planet/scan/conntrack/ctsynth"
)

func main() {
	n := flag.Int("n", 1_000_000, "entries")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	err := ctsynth.Write(w, *n)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthconntrack:", err)
		os.Exit(1)
	}
}
