// Command planet maps a fleet's dependencies. The commands are in
// internal/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/planetdeps/planet/internal/cli"
)

// Stamped by the release build (-ldflags "-X main.version=..."); a build
// without them (go install, go build) reports the module's build info
// instead: see cli.ResolveBuild.
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// signalError is the cancellation cause when a signal stops planet.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "received " + e.sig.String() }

// ExitCode follows the shell convention: 128 + signal number.
func (e signalError) ExitCode() int { return 128 + int(e.sig) }

// softMemoryLimit is where the garbage collector starts working harder
// (unless GOMEMLIMIT says otherwise), so that peak RSS does not grow to
// twice the live heap. A graph of millions of edges (graph.MaxEntries)
// keeps more than this alive whatever the collector does; below 512 MiB
// it then runs back to back, doubling the CPU time of render and diff
// without lowering their peak (measured: 256 MiB gave the same 1.09 GB
// peak for a 2-million-edge render, in 74 s against 34 s). Since edges
// take 96 bytes, the largest graph render reads (2.2 million edges) keeps
// about 320 MB alive: 448 MiB leaves the collector room and keeps the
// peak RSS, heap and runtime together, under 512 MiB.
const softMemoryLimit = 448 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	os.Exit(run())
}

func run() int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(signalError{s.(syscall.Signal)})
		// A second signal means "now".
		s = <-sigs
		fmt.Fprintln(os.Stderr, "planet: second signal, exiting")
		os.Exit(signalError{s.(syscall.Signal)}.ExitCode())
	}()
	info, _ := debug.ReadBuildInfo()
	build := cli.ResolveBuild(cli.BuildInfo{Version: version, Commit: commit, Date: date}, info)
	return cli.Main(ctx, build, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
