package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/promsrc"
	"github.com/planetdeps/planet/render"
	"github.com/planetdeps/planet/scan"
)

// The libraries name what is wrong in their own terms (an option, a
// limit); the flags that set or get past it are named here, the only
// place that knows them.

// narrowRender is the advice for a graph too large to draw.
const narrowRender = "narrow the graph with --focus NODE --depth N, --hide-external or --exclude-port P"

// renderAdvice rewrites render's option and limit errors in terms of
// planet render's flags; other errors pass unchanged.
func renderAdvice(err error) error {
	var focus *render.FocusError
	var limit *render.LimitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, render.ErrDepth):
		return fmt.Errorf("--%w", err) // "depth N: ..."
	case errors.Is(err, render.ErrDiffFormat):
		return errors.New("--diff highlights changes in a picture (dot, svg, mermaid); for a list of the changes (text, json, markdown) use planet diff")
	case errors.Is(err, render.ErrFilterFormat):
		return errors.New("--focus, --hide-external and --exclude-port apply to graph formats (dot, svg, mermaid, json, table), not to the textfile")
	case errors.Is(err, render.ErrSVGTimeout):
		return fmt.Errorf("%w; %s, or raise --svg-timeout", err, narrowRender)
	case errors.As(err, &limit):
		return fmt.Errorf("%s; %s, or pass --force", limit.Msg, narrowRender)
	case errors.As(err, &focus):
		return focusAdvice(focus)
	}
	return err
}

// focusAdvice is a --focus NODE that names no single node, in terms of
// the flags.
func focusAdvice(e *render.FocusError) error {
	quoted := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	switch e.Problem {
	case render.FocusAmbiguous:
		return fmt.Errorf("--focus %q is ambiguous: name one of %s", e.Name, strings.Join(quoted, ", "))
	case render.FocusHidden:
		return fmt.Errorf("--focus %q: the node is hidden by --hide-external or --exclude-port", e.Name)
	}
	if len(quoted) > 0 {
		return fmt.Errorf("--focus %q: no such node in the graph; did you mean %s?", e.Name, strings.Join(quoted, ", "))
	}
	return fmt.Errorf("--focus %q: no such node in the graph (it has %d nodes; planet render -f table lists them)", e.Name, e.Nodes)
}

// promsrcFlags are the merge --prometheus flags that set promsrc's
// settings, which its errors name through promsrc.Options.Names.
var promsrcFlags = map[promsrc.Setting]string{
	promsrc.SettingURL:             "--prometheus",
	promsrc.SettingSelector:        "--selector",
	promsrc.SettingBearerTokenFile: "--bearer-token-file",
	promsrc.SettingTimeout:         "--prometheus-timeout",
	promsrc.SettingMaxSeries:       "--prometheus-max-series",
	promsrc.SettingMaxQueries:      "--prometheus-max-queries",
	promsrc.SettingDeadline:        "--prometheus-deadline",
}

// promsrcFlag names a promsrc setting by its flag.
func promsrcFlag(s promsrc.Setting) string {
	if f, ok := promsrcFlags[s]; ok {
		return f
	}
	return string(s)
}

// scanAdvice adds planet scan's flags to the scan's errors: an
// observation window needs the netlink socket source on the live /proc.
func scanAdvice(err error) error {
	if errors.Is(err, scan.ErrWindowSource) {
		return fmt.Errorf("%w: use --socket-source auto or netlink on the live /proc", err)
	}
	return err
}

// graphAdvice adds planet merge's flags to a graph too large to write or
// read (graph.ErrTooLarge), whichever command met it: graph says what
// would make it smaller in the merge's terms.
func graphAdvice(err error) error {
	if errors.Is(err, graph.ErrTooLarge) {
		return fmt.Errorf("%w (planet merge --by hostgroup, --external collapse or cidr:N)", err)
	}
	return err
}
