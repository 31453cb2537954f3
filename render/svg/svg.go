// Package svg lays out a DOT graph and draws it as SVG with go-graphviz:
// Graphviz compiled to WebAssembly and run by wazero, so no Graphviz
// install is needed.
//
// Linking this package has costs every process of the binary pays, which
// is why only cmd/planet-svg imports it and planet runs that as a child:
//
//   - go-graphviz compiles its WebAssembly in a package init: 0.1 s (warm
//     cache) to 0.9 s (cold) of CPU and ~50 MB at start-up;
//   - it caches native code in $TMPDIR/go-graphviz, creating it only if
//     absent, and trusts what it finds there: the parent sets TMPDIR to a
//     private, verified directory;
//   - its engine is one per process and ignores contexts: Render takes a
//     lock, and the parent kills the child at its deadline.
package svg

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/goccy/go-graphviz"
)

// mu serialises renders: the WebAssembly module is shared by the process.
var mu sync.Mutex

// Render lays out dot with Graphviz's dot layout and returns the SVG.
func Render(ctx context.Context, dot []byte) (_ []byte, err error) {
	mu.Lock()
	defer mu.Unlock()
	gv, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("graphviz: %w", err)
	}
	defer gv.Close()
	g, err := graphviz.ParseBytes(dot)
	if err != nil {
		return nil, fmt.Errorf("parse DOT: %w", err)
	}
	defer func() {
		if cerr := g.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	var buf bytes.Buffer
	if err := gv.Render(ctx, g, graphviz.SVG, &buf); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return buf.Bytes(), nil
}
