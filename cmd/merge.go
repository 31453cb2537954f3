package cmd

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/atomicfile"
)

func newMergeCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "merge PATH...",
		Short: "Merge many hosts' snapshots into one dependency graph",
		Long: `Merge snapshots into one directed graph (schema planet.graph/v1) of who depends on
whom: nodes are hostgroups (or hosts with --by host), edges are client -> server
dependencies per protocol and port, seen from one end or both.

A PATH is a snapshot file, a directory (walked recursively for *.json, as an
ansible fetch lays them out), or - for standard input carrying one or many
snapshots back to back. Per host the newest snapshot wins.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			in := graph.InputOptions{
				MaxAge:    a.v.GetDuration("max-age"),
				KeepGoing: a.v.GetBool("keep-going"),
				Progress:  a.progress("merge: read %d/%d snapshots"),
			}
			mo := graph.MergeOptions{By: a.v.GetString("by"), External: a.v.GetString("external")}
			if err := mo.Validate(); err != nil {
				return usageError(err)
			}
			g, notes, err := graph.MergeInputs(cmd.Context(), paths, a.stdin, in, mo)
			for _, n := range notes {
				if n.Level == graph.Warning {
					a.log.Warn(n.Msg, "input", n.Name)
				} else {
					a.log.Info(n.Msg, "input", n.Name)
				}
			}
			if err != nil {
				return err
			}
			return a.writeOutput(a.v.GetString("output"), func(w io.Writer) error { return graph.Write(w, g) })
		},
	}
	f := c.Flags()
	f.StringP("output", "o", "-", "write the graph to FILE (atomically); - for standard output")
	f.String("by", graph.ByHostgroup, "node key: hostgroup (domain, else IP, where a host has none) or host")
	f.Duration("max-age", 0, "leave out snapshots older than this (e.g. 1h); 0 keeps all")
	f.Bool("keep-going", false, "skip corrupt, truncated or wrong-version snapshots with a warning instead of failing")
	f.String("external", "ip", "peers no snapshot or inventory explains: ip (a node each), collapse (one node), cidr:N[,M] (per IPv4 /N, IPv6 /M prefix)")
	return c
}

// writeOutput writes to stdout for "-" or "", else atomically to path.
func (a *app) writeOutput(path string, write func(io.Writer) error) error {
	if path == "" || path == "-" {
		return write(a.stdout)
	}
	return atomicfile.Write(path, 0o644, write)
}

// progress returns a callback that shows "done/total" on stderr, but only
// when stderr is a terminal and the work has already taken two seconds.
func (a *app) progress(format string) func(done, total int) {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	start := time.Now()
	var mu sync.Mutex
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(start) < 2*time.Second {
			return
		}
		fmt.Fprintf(f, "\r"+format, done, total)
		if done == total {
			fmt.Fprintln(f)
		}
	}
}
