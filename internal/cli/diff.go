package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/document"
	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/render"
)

func newDiffCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what changed between two dependency graphs (or snapshots)",
		Long: `Compare two graphs (or snapshots, each read as a one-host graph) and report
added and removed nodes and dependencies and changed dependency attributes
(processes, host counts, which side saw it).

By default the comparison is the dependency set, quiet for CI: byte counters
(which move between any two scans) are left out unless --bytes-change PCT
asks for them, and all external peers are compared as one node "external", so
rotating CDN or SaaS addresses are no change while a new port to the outside,
or a node newly talking outside, is; --external-changes compares them one by
one.

With --exit-code it exits like git diff --exit-code: 0 no changes, 1 changes,
2 trouble.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.diffOptions(args[0], args[1])
			if err == nil {
				err = a.runDiff(cmd.Context(), o)
			}
			if err != nil && a.v.GetBool("exit-code") {
				// Status 1 means changes: any trouble is 2.
				if _, ok := err.(exitCode); !ok {
					return codeError{ExitUsage, err}
				}
			}
			return err
		},
	}
	diffFlags(c)
	return c
}

// diffFormat is planet diff's output format (--format).
type diffFormat string

const (
	diffText     diffFormat = "text"
	diffJSON     diffFormat = "json"
	diffMarkdown diffFormat = "markdown"
)

// parseDiffFormat reads --format: text, json, markdown, or "" (chosen by
// -o FILE's extension).
func parseDiffFormat(s string) (diffFormat, error) {
	switch f := diffFormat(s); f {
	case "", diffText, diffJSON, diffMarkdown:
		return f, nil
	}
	return "", fmt.Errorf("%q: want text, json or markdown", s)
}

// diffWriters are the diff's writers, per format.
var diffWriters = map[diffFormat]func(io.Writer, *graph.Diff) error{
	diffText:     render.DiffText,
	diffJSON:     render.DiffJSON,
	diffMarkdown: render.DiffMarkdown,
}

// diffOptions is planet diff's settings, resolved from its arguments,
// flags, PLANET_* environment and the config file (see diffFlags).
type diffOptions struct {
	oldPath, newPath string // "-" standard input
	output           string // "-" standard output, else a file
	format           diffFormat
	exitCode         bool // --exit-code: status 1 for changes
	compare          graph.DiffOptions
}

// diffOptions reads planet diff's settings: see diffFlags.
func (a *app) diffOptions(oldPath, newPath string) (diffOptions, error) {
	o := diffOptions{
		oldPath: oldPath, newPath: newPath,
		output:   a.v.GetString("output"),
		exitCode: a.v.GetBool("exit-code"),
		compare:  graph.DiffOptions{BytesChangePercent: a.v.GetFloat64("bytes-change"), ExternalChanges: a.v.GetBool("external-changes")},
	}
	if o.compare.BytesChangePercent != 0 { // 0 leaves bytes out
		if err := checkPercent("bytes-change", o.compare.BytesChangePercent); err != nil {
			return diffOptions{}, err
		}
	}
	if a.v.GetBool("ignore-bytes") {
		o.compare.BytesChangePercent = 0
	}
	named, err := parseDiffFormat(a.v.GetString("format"))
	if err != nil {
		return diffOptions{}, usageError(fmt.Errorf("--format %w", err))
	}
	o.format, err = outputFormats[diffFormat]{byExt: diffExt, def: diffText, strict: true}.choose(named, o.output)
	return o, err
}

// runDiff is planet diff: read both graphs, compare, write the changes;
// with exitCode, exitCode(1) when there are any.
func (a *app) runDiff(ctx context.Context, o diffOptions) error {
	if o.oldPath == "-" || o.newPath == "-" {
		a.waitingForStdin("a graph or snapshot (JSON)", "planet diff OLD NEW")
	}
	// The old graph is held as Compare compares it (external nodes
	// collapsed, unless --external-changes), so its dependencies on
	// external addresses are freed before the new one is read. The new
	// graph is compared while it is read, never held: of its edges only
	// the added ones and what is compared of the changed ones are kept.
	in, err := document.ReadFile(ctx, o.oldPath, a.stdin)
	if err != nil {
		return err
	}
	old, err := in.AsGraph()
	if err != nil {
		return err
	}
	old = graph.TakeForCompare(old, o.compare)
	d, err := document.CompareFile(ctx, o.newPath, a.stdin, old, o.compare)
	if err != nil {
		return err
	}
	write := diffWriters[o.format]
	if err := a.writeOutput(o.output, func(w io.Writer) error { return write(w, d) }); err != nil {
		return err
	}
	if o.exitCode && !d.Empty() {
		return exitCode(1)
	}
	return nil
}

// diffFlags defines planet diff's flags on c; diffOptions reads them.
func diffFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringP("format", "f", "", "output format: text, json or markdown (a pull-request comment) (default: the one -o FILE's extension names, else text)")
	f.StringP("output", "o", "-", "write the diff to FILE (atomically); - for standard output. FILE's extension names the format: "+extList(diffExt))
	f.Bool("exit-code", false, "exit 1 when there are changes, 0 when none, 2 on error")
	f.Bool("ignore-bytes", false, "leave bandwidth out of the comparison (the default now)")
	_ = f.MarkDeprecated("ignore-bytes", "bytes are left out unless --bytes-change is given")
	f.Float64("bytes-change", 0, "also compare byte counts: report one that changed by more than this percent (0: bytes not compared)")
	f.Bool("external-changes", false, "compare external peers one by one (per address or prefix) instead of as one node")
}
