// Command planet-svg reads a DOT graph on standard input and writes it as
// SVG on standard output, with go-graphviz (no Graphviz install needed).
//
// It is planet's SVG engine, kept out of the planet binary because the
// engine initialises itself (a WebAssembly compile) in every process that
// links it. planet render -f svg runs it as a child process, one render per
// process, with a deadline and with TMPDIR set to a private cache directory;
// see render.SVG. Run by hand it uses $TMPDIR/go-graphviz as its cache.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/planetdeps/planet/render/svg"
)

// maxDOT bounds the input; planet refuses graphs far smaller than this.
const maxDOT = 256 << 20

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: planet-svg < graph.dot > graph.svg")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "planet-svg: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	dot, err := io.ReadAll(io.LimitReader(os.Stdin, maxDOT+1))
	if err != nil {
		return fmt.Errorf("read DOT: %w", err)
	}
	if len(dot) > maxDOT {
		return fmt.Errorf("DOT larger than %d bytes", maxDOT)
	}
	out, err := svg.Render(context.Background(), dot)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}
