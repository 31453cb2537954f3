package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/fleet"
	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/promsrc"
)

func newMergeCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "merge PATH... | merge --prometheus URL",
		Short: "Merge many hosts' snapshots into one dependency graph",
		Long: `Merge snapshots into one directed graph (schema planet.graph/v1) of who depends on
whom: nodes are hostgroups (or hosts with --by host, or each hostgroup's
workloads with --by workload), edges are client -> server dependencies per
protocol and port, seen from one end or both. A host's container addresses
are private to it: they resolve to the host only in its own snapshot.

A PATH is a snapshot file, a directory (walked recursively for *.json, as an
ansible fetch lays them out), or - for standard input carrying one or many
snapshots back to back. Per host the newest snapshot wins. A walk never
leaves the directory: symbolic links to directories are not followed (a
link to a *.json file is read), and FIFOs, devices and sockets found in it
are skipped. A FIFO named as a PATH (<(ssh host planet scan)) is read as a
stream; SIGINT or SIGTERM stops the wait for its writer.

With --prometheus URL there are no PATHs: the planet series every host's
node_exporter exports are read from the Prometheus HTTP API instead, over
--lookback before --time, and merged the same way (see docs/prometheus.md
for what metrics cannot carry).`,
		// Whether PATHs are needed depends on --prometheus, which may come
		// from the environment or config: checked once those are resolved.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, paths []string) error {
			o, err := a.mergeOptions(paths)
			if err != nil {
				return err
			}
			return a.runMerge(cmd.Context(), o)
		},
	}
	mergeFlags(c)
	return c
}

// mergeOptions is planet merge's settings, resolved from its arguments,
// flags, PLANET_* environment and the config file (see mergeFlags).
type mergeOptions struct {
	paths  []string // snapshot files and directories, "-" standard input
	output string   // "-" standard output, else a file
	input  fleet.InputOptions
	merge  graph.MergeOptions
	// prometheus, when set, reads the fleet from Prometheus instead of
	// paths (--prometheus URL).
	prometheus *promsrc.Options
}

// mergeOptions reads planet merge's settings: see mergeFlags. A value out
// of range, or PATHs with --prometheus (or neither), is a usage error.
func (a *app) mergeOptions(paths []string) (mergeOptions, error) {
	if err := a.checkDurations("max-age", "lookback", "prometheus-timeout"); err != nil {
		return mergeOptions{}, err
	}
	o := mergeOptions{paths: paths, output: a.v.GetString("output")}
	var err error
	if o.merge.By, err = graph.ParseBy(a.v.GetString("by")); err != nil {
		return mergeOptions{}, usageError(fmt.Errorf("--by: %w", err))
	}
	if o.merge.External, err = graph.ParseExternal(a.v.GetString("external")); err != nil {
		return mergeOptions{}, usageError(fmt.Errorf("--external: %w", err))
	}
	if url := a.v.GetString("prometheus"); url != "" {
		if len(paths) > 0 {
			return mergeOptions{}, usageError(fmt.Errorf("--prometheus takes no PATH arguments (got %q)", paths[0]))
		}
		if a.v.GetBool("keep-going") {
			return mergeOptions{}, usageError(fmt.Errorf("--keep-going applies to snapshot files, not --prometheus"))
		}
		at, err := parseTime(a.v.GetString("time"))
		if err != nil {
			return mergeOptions{}, usageError(fmt.Errorf("--time: %w", err))
		}
		o.prometheus = &promsrc.Options{
			URL:             url,
			Selector:        a.v.GetString("selector"),
			Time:            at,
			Lookback:        a.v.GetDuration("lookback"),
			MaxAge:          a.v.GetDuration("max-age"),
			BearerTokenFile: a.v.GetString("bearer-token-file"),
			Timeout:         a.v.GetDuration("prometheus-timeout"),
			MaxSeries:       a.v.GetInt("prometheus-max-series"),
			MaxQueries:      a.v.GetInt("prometheus-max-queries"),
			Parallel:        a.v.GetInt("prometheus-parallel"),
			Deadline:        a.v.GetDuration("prometheus-deadline"),
			Names:           promsrcFlag,
		}
		return o, checkGraphOutput(o.output)
	}
	if err := checkGraphOutput(o.output); err != nil {
		return mergeOptions{}, err
	}
	if len(paths) == 0 {
		return mergeOptions{}, usageError(fmt.Errorf("requires at least 1 arg(s), only received 0: snapshot files or directories, - for standard input, or --prometheus URL"))
	}
	o.input = fleet.InputOptions{
		MaxAge:    a.v.GetDuration("max-age"),
		KeepGoing: a.v.GetBool("keep-going"),
		Progress:  a.progress("merge: read %d/%d snapshots"),
	}
	return o, nil
}

// runMerge is planet merge: read the fleet (snapshot files, or
// Prometheus), merge it and write the graph.
func (a *app) runMerge(ctx context.Context, o mergeOptions) error {
	if o.prometheus != nil {
		g, notes, err := promsrc.Merge(ctx, *o.prometheus, o.merge)
		a.logNotes(notes)
		if err != nil {
			return err
		}
		a.logNotes(g.IncompleteNotes())
		return a.writeOutput(o.output, func(w io.Writer) error { return graph.Write(w, g) })
	}
	if slices.Contains(o.paths, "-") {
		a.waitingForStdin("snapshots (JSON, one or many back to back)", "planet merge FILE|DIR...")
	}
	// MergeFleet writes the graph from the merge's own aggregates, one
	// edge at a time, rather than building every edge first.
	m, notes, err := fleet.MergeFleet(ctx, o.paths, a.stdin, o.input, o.merge)
	a.logNotes(notes)
	if err != nil {
		return err
	}
	a.logNotes(m.IncompleteNotes())
	return a.writeOutput(o.output, m.Write)
}

// mergeFlags defines planet merge's flags on c; mergeOptions reads them.
func mergeFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringP("output", "o", "-", "write the graph to FILE (atomically); - for standard output")
	f.String("by", graph.ByHostgroup, "node key: hostgroup (domain, else IP, where a host has none), host, or workload (hostgroup + systemd unit, container or pod: a service-level map)")
	f.Duration("max-age", 0, "leave out snapshots older than this (e.g. 1h); 0 keeps all")
	f.Bool("keep-going", false, "skip corrupt, truncated or wrong-version snapshots with a warning instead of failing")
	f.String("external", "ip", "peers no snapshot or inventory explains: ip (a node each), collapse (one node), cidr:N[,M] (per IPv4 /N, IPv6 /M prefix)")
	f.String("prometheus", "", "read the fleet from this Prometheus server's HTTP API instead of snapshot files")
	f.String("selector", "", `with --prometheus: label matchers every query gets, e.g. '{job="node"}'`)
	f.String("time", "", "with --prometheus: evaluation time, RFC 3339 or Unix seconds (default now)")
	f.Duration("lookback", promsrc.DefaultLookback, "with --prometheus: window a dependency counts in (max_over_time)")
	f.String("bearer-token-file", "", "with --prometheus: send the token in this file as Authorization: Bearer")
	f.Duration("prometheus-timeout", promsrc.DefaultTimeout, "with --prometheus: limit for each request")
	f.Int("prometheus-max-series", promsrc.DefaultMaxSeries, "with --prometheus: split queries so none returns more series than this")
	f.Int("prometheus-max-queries", promsrc.DefaultMaxQueries, "with --prometheus: most queries one merge sends")
	f.Int("prometheus-parallel", promsrc.DefaultParallel, "with --prometheus: most queries in flight at once (each holds one answer in memory)")
	f.Duration("prometheus-deadline", promsrc.DefaultDeadline, "with --prometheus: limit for the whole merge, every query included")
}

// checkGraphOutput refuses -o graph.svg and the like: merge writes JSON.
func checkGraphOutput(output string) error {
	own := map[string]string{".json": "json"}
	_, err := outputFormats[string]{byExt: own, def: "json", elsewhere: renderElsewhere(own)}.choose("", output)
	return err
}

// logNotes tells the user, on stderr, what a merge noticed about its inputs.
func (a *app) logNotes(notes []graph.Note) {
	for _, n := range notes {
		if n.Level == graph.Warning {
			a.log.Warn(n.Msg, "input", n.Name)
		} else {
			a.log.Info(n.Msg, "input", n.Name)
		}
	}
}

// parseTime reads --time: RFC 3339 or Unix seconds; empty is now (zero).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= 1e11) { // NaN is neither
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-01-02T15:04:05Z) or Unix seconds", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
