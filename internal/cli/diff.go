package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

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
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := a.runDiff(cmd.Context(), args[0], args[1])
			if err != nil && a.v.GetBool("exit-code") {
				if _, ok := err.(exitCode); !ok {
					return codeError{ExitUsage, err}
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringP("format", "f", "", "output format: text, json or markdown (a pull-request comment) (default: the one -o FILE's extension names, else text)")
	f.StringP("output", "o", "-", "write the diff to FILE (atomically); - for standard output. FILE's extension names the format: "+extList(diffExt))
	f.Bool("exit-code", false, "exit 1 when there are changes, 0 when none, 2 on error")
	f.Bool("ignore-bytes", false, "leave bandwidth out of the comparison (the default now)")
	_ = f.MarkDeprecated("ignore-bytes", "bytes are left out unless --bytes-change is given")
	f.Float64("bytes-change", 0, "also compare byte counts: report one that changed by more than this percent (0: bytes not compared)")
	f.Bool("external-changes", false, "compare external peers one by one (per address or prefix) instead of as one node")
	return c
}

func (a *app) runDiff(ctx context.Context, oldPath, newPath string) error {
	opts := graph.DiffOptions{BytesChangePercent: a.v.GetFloat64("bytes-change"), ExternalChanges: a.v.GetBool("external-changes")}
	if opts.BytesChangePercent != 0 { // 0 leaves bytes out
		if err := checkPercent("bytes-change", opts.BytesChangePercent); err != nil {
			return err
		}
	}
	if a.v.GetBool("ignore-bytes") {
		opts.BytesChangePercent = 0
	}
	output := a.v.GetString("output")
	format, err := outputFormats{byExt: diffExt, def: "text", strict: true}.choose(a.v.GetString("format"), output)
	if err != nil {
		return err
	}
	var write func(io.Writer, *graph.Diff) error
	switch f := format; f {
	case "text":
		write = render.DiffText
	case "json":
		write = render.DiffJSON
	case "markdown":
		write = render.DiffMarkdown
	default:
		return usageError(fmt.Errorf("--format %q: want text, json or markdown", f))
	}
	if oldPath == "-" || newPath == "-" {
		a.waitingForStdin("a graph or snapshot (JSON)", "planet diff OLD NEW")
	}
	var graphs [2]*graph.Graph
	for i, path := range []string{oldPath, newPath} {
		in, err := render.ReadInput(ctx, path, a.stdin)
		if err != nil {
			return err
		}
		if graphs[i], err = in.AsGraph(); err != nil {
			return err
		}
	}
	d := graph.Compare(graphs[0], graphs[1], opts)
	if err := a.writeOutput(output, func(w io.Writer) error { return write(w, d) }); err != nil {
		return err
	}
	if a.v.GetBool("exit-code") && !d.Empty() {
		return exitCode(1)
	}
	return nil
}
