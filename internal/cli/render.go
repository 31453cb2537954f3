package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/document"
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
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "-"
			if len(args) == 1 {
				path = args[0]
			}
			o, err := a.renderOptions(path, cmd.Flags().Changed("depth"))
			if err != nil {
				return err
			}
			return a.runRender(cmd.Context(), o)
		},
	}
	renderFlags(c)
	return c
}

// renderOptions is planet render's settings, resolved from its argument,
// flags, PLANET_* environment and the config file (see renderFlags).
type renderOptions struct {
	path     string // the snapshot or graph; "-" standard input
	diffBase string // --diff OLD: "" none, "-" standard input
	output   string // "-" standard output, else a file
	render   render.Options
}

// renderOptions reads planet render's settings: see renderFlags. depthSet
// says --depth was given on the command line.
func (a *app) renderOptions(path string, depthSet bool) (renderOptions, error) {
	if err := a.checkDurations("svg-timeout"); err != nil {
		return renderOptions{}, err
	}
	ports, err := render.ParsePorts(a.v.GetStringSlice("exclude-port"))
	if err != nil {
		return renderOptions{}, usageError(fmt.Errorf("--exclude-port %w", err))
	}
	o := renderOptions{path: path, diffBase: a.v.GetString("diff"), output: a.v.GetString("output")}
	var named render.Format
	if s := a.v.GetString("format"); s != "" {
		if named, err = render.ParseFormat(s); err != nil {
			return renderOptions{}, usageError(fmt.Errorf("--format %w", err))
		}
	}
	format, err := outputFormats[render.Format]{byExt: renderExt, def: render.FormatTable, strict: true}.choose(named, o.output)
	if err != nil {
		return renderOptions{}, err
	}
	o.render = render.Options{
		Format: format,
		Filter: render.Filter{
			Focus:        a.v.GetString("focus"),
			Depth:        a.v.GetInt("depth"),
			HideExternal: a.v.GetBool("hide-external"),
			ExcludePorts: ports,
		},
		Force: a.v.GetBool("force"),
		Width: terminalWidth(o.output, a.stdout),
		SVG: render.SVGOptions{
			CacheDir: a.v.GetString("svg-cache-dir"),
			Timeout:  a.v.GetDuration("svg-timeout"),
			Logger:   a.log,
		},
	}
	// Validated with a stand-in for the --diff base, which is read later,
	// so that every option combination is refused before any input is.
	check := o.render
	if o.diffBase != "" {
		check.DiffBase = &render.Input{}
	}
	if err := check.Validate(); err != nil {
		return renderOptions{}, usageError(renderAdvice(err))
	}
	if depthSet && o.render.Filter.Focus == "" {
		return renderOptions{}, usageError(errors.New("--depth needs --focus NODE"))
	}
	return o, nil
}

// runRender is planet render: read the input (and the --diff base), render
// it and write it.
func (a *app) runRender(ctx context.Context, o renderOptions) error {
	if o.path == "-" || o.diffBase == "-" {
		a.waitingForStdin("a snapshot or graph (JSON)", "planet render FILE")
	}
	in, err := document.ReadFile(ctx, o.path, a.stdin)
	if err != nil {
		return err
	}
	if o.diffBase != "" {
		if !o.render.Filter.IsZero() {
			// Only the input's filtered part is kept while the base is
			// read: two whole graphs of a fleet by host would be held
			// together. RenderTo applies the filter again, which keeps
			// all of a graph it made (Filter.Apply is idempotent).
			if in, err = filteredInput(in, o.render.Filter); err != nil {
				return renderAdvice(err)
			}
		}
		// Read beside the input, sharing what the two have in common,
		// unless the input alone is already too large to draw.
		g, err := in.AsGraph()
		if err != nil {
			return err
		}
		if err := render.CheckPicture(g, o.render.Format, o.render.Force); err != nil {
			return renderAdvice(err)
		}
		in = &document.Document{Name: in.Name, Graph: g} // a snapshot merged once
		if o.render.DiffBase, err = document.ReadFileBeside(ctx, o.diffBase, a.stdin, g); err != nil {
			return renderAdvice(err)
		}
	}
	// The table and JSON of a graph are written as they are made (an
	// output file replaced only once whole); every refusal comes before
	// the first byte.
	var renderErr error
	err = a.writeOutput(o.output, func(w io.Writer) error {
		renderErr = render.RenderTo(ctx, w, in, o.render)
		return renderErr
	})
	if renderErr != nil {
		return renderAdvice(renderErr)
	}
	return err
}

// filteredInput is the graph of in (a snapshot merged alone) that f keeps,
// as a document of the same name. Errors are AsGraph's and f.Apply's.
func filteredInput(in *document.Document, f render.Filter) (*document.Document, error) {
	g, err := in.AsGraph()
	if err != nil {
		return nil, err
	}
	if g, err = f.Apply(g); err != nil {
		return nil, err
	}
	return &document.Document{Name: in.Name, Graph: g}, nil
}

// renderFlags defines planet render's flags on c; renderOptions reads them.
func renderFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringP("format", "f", "", "output format: "+strings.Join(formatNames(render.Formats()), ", ")+" (default: the one -o FILE's extension names, else table)")
	f.StringP("output", "o", "-", "write to FILE (atomically); - for standard output. FILE's extension names the format: "+extList(renderExt))
	f.String("focus", "", "render only NODE, what it depends on and what depends on it")
	f.Int("depth", 1, "with --focus: hops to follow each way (0: no limit)")
	f.String("diff", "", "with dot, svg or mermaid: highlight what changed since the graph OLD (added green, removed red and dashed)")
	f.Bool("hide-external", false, "leave out external nodes (peers no snapshot or inventory explains)")
	f.StringSlice("exclude-port", nil, "leave out edges on these ports, e.g. 22,9100")
	f.Bool("force", false, "render DOT, SVG and Mermaid beyond their size limits")
	f.Duration("svg-timeout", render.DefaultSVGTimeout, "kill the SVG layout after this long")
	f.String("svg-cache-dir", "", "private cache for the SVG engine's compiled code (default /var/cache/planet as root, else the user cache dir's planet/)")
}

// formatNames is formats as strings, for help and messages.
func formatNames[F ~string](formats []F) []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return names
}
