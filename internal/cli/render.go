package cli

import (
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/render"
)

func newRenderCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "render [INPUT|-]",
		Short: "Render a snapshot or a merged graph: textfile, DOT, SVG, Mermaid, JSON or a table",
		Long: `Render a snapshot (planet.snapshot/v2 or v1) or a merged graph (planet.graph/v1), told
apart by its schema, from INPUT or standard input:

  textfile  Prometheus metrics for node_exporter's textfile collector (snapshots only)
  dot       Graphviz DOT, one node per hostgroup, edges labelled proto/port
  svg       the DOT laid out by the planet-svg helper (no Graphviz install needed)
  mermaid   a Mermaid flowchart for READMEs and CI comments
  json      the graph (planet.graph/v1) after the filters below
  table     aligned columns for a terminal

Without --format, -o FILE's extension picks the format (graph.svg is svg,
graph.mmd mermaid, planet.prom textfile; see --output) and standard output
gets the table. An extension that means another format than --format, or
that no format is known for, is refused: graph.svg never holds a table.

A snapshot rendered as a graph becomes a one-host graph. --focus NODE keeps NODE,
what it depends on and what depends on it, --depth hops each way (0: no limit).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkDurations("svg-timeout"); err != nil {
				return err
			}
			ports, err := render.ParsePorts(a.v.GetStringSlice("exclude-port"))
			if err != nil {
				return usageError(err)
			}
			output := a.v.GetString("output")
			format, err := outputFormats{byExt: renderExt, def: render.FormatTable, strict: true}.choose(a.v.GetString("format"), output)
			if err != nil {
				return err
			}
			opts := render.Options{
				Format: format,
				Filter: render.Filter{
					Focus:        a.v.GetString("focus"),
					Depth:        a.v.GetInt("depth"),
					HideExternal: a.v.GetBool("hide-external"),
					ExcludePorts: ports,
				},
				Force: a.v.GetBool("force"),
				Width: terminalWidth(a.v.GetString("output"), a.stdout),
				SVG: render.SVGOptions{
					CacheDir: a.v.GetString("svg-cache-dir"),
					Timeout:  a.v.GetDuration("svg-timeout"),
					Logger:   a.log,
				},
			}
			if err := opts.Validate(); err != nil {
				return usageError(err)
			}
			if cmd.Flags().Changed("depth") && opts.Filter.Focus == "" {
				return usageError(errors.New("--depth needs --focus NODE"))
			}
			path := "-"
			if len(args) == 1 {
				path = args[0]
			}
			if path == "-" || a.v.GetString("diff") == "-" {
				a.waitingForStdin("a snapshot or graph (JSON)", "planet render FILE")
			}
			in, err := render.ReadInput(cmd.Context(), path, a.stdin)
			if err != nil {
				return err
			}
			if old := a.v.GetString("diff"); old != "" {
				if opts.DiffBase, err = render.ReadInput(cmd.Context(), old, a.stdin); err != nil {
					return err
				}
			}
			out, err := render.Render(cmd.Context(), in, opts)
			if err != nil {
				return err
			}
			return a.writeOutput(output, func(w io.Writer) error {
				_, err := w.Write(out)
				return err
			})
		},
	}
	f := c.Flags()
	f.StringP("format", "f", "", "output format: "+strings.Join(render.Formats(), ", ")+" (default: the one -o FILE's extension names, else table)")
	f.StringP("output", "o", "-", "write to FILE (atomically); - for standard output. FILE's extension names the format: "+extList(renderExt))
	f.String("focus", "", "render only NODE, what it depends on and what depends on it")
	f.Int("depth", 1, "with --focus: hops to follow each way (0: no limit)")
	f.String("diff", "", "with dot, svg or mermaid: highlight what changed since the graph OLD (added green, removed red and dashed)")
	f.Bool("hide-external", false, "leave out external nodes (peers no snapshot or inventory explains)")
	f.StringSlice("exclude-port", nil, "leave out edges on these ports, e.g. 22,9100")
	f.Bool("force", false, "render DOT, SVG and Mermaid beyond their size limits")
	f.Duration("svg-timeout", render.DefaultSVGTimeout, "kill the SVG layout after this long")
	f.String("svg-cache-dir", "", "private cache for the SVG engine's compiled code (default /var/cache/planet as root, else the user cache dir's planet/)")
	return c
}
