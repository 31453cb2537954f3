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
// (unless GOMEMLIMIT says otherwise): what merge, render and diff keep
// alive on the largest inputs the limits accept (snapshot.MaxSize,
// graph.MaxSize, graph.MaxEntries) stays below it, and so their peak RSS
// stays under 512 MiB instead of growing to twice the live heap.
const softMemoryLimit = 256 << 20

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
