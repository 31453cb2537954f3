package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/planetdeps/planet/internal/atomicfile"
	"github.com/planetdeps/planet/render"
)

// renderExt maps an output file's extension to the render format it means.
var renderExt = map[string]render.Format{
	".svg":     render.FormatSVG,
	".dot":     render.FormatDOT,
	".gv":      render.FormatDOT,
	".mmd":     render.FormatMermaid,
	".mermaid": render.FormatMermaid,
	".json":    render.FormatJSON,
	".prom":    render.FormatTextfile,
	".txt":     render.FormatTable,
}

// diffExt maps an output file's extension to the planet diff format it means.
var diffExt = map[string]diffFormat{
	".txt":      diffText,
	".json":     diffJSON,
	".md":       diffMarkdown,
	".markdown": diffMarkdown,
}

// outputFormats says how a command picks its format (F, a typed choice)
// from -o FILE.
type outputFormats[F ~string] struct {
	byExt map[string]F // extension (".svg", lower case) -> format
	def   F            // standard output, or a file without an extension
	// strict refuses an extension byExt does not know when no format is
	// named; otherwise such a file gets def.
	strict bool
	// elsewhere names, for extensions another command writes, the command
	// to use instead (merge -o graph.svg: "planet render -o graph.svg").
	elsewhere map[string]string
}

// isStdout reports whether -o names standard output.
func isStdout(output string) bool {
	return output == "" || output == "-" || output == "/dev/stdout"
}

// choose returns the format for writing to output when named (--format,
// PLANET_FORMAT or the config file; "" when none) was asked for: named, if
// the file's extension does not mean another format; else the extension's
// format; else f.def. A file whose extension means another format than
// named, or (strict) one no format is known for, is a usage error naming
// both, so that -o graph.svg never holds a text table.
func (f outputFormats[F]) choose(named F, output string) (F, error) {
	if isStdout(output) {
		if named == "" {
			return f.def, nil
		}
		return named, nil
	}
	ext := strings.ToLower(filepath.Ext(output))
	if ext == "" {
		if named == "" {
			return f.def, nil
		}
		return named, nil
	}
	if instead, ok := f.elsewhere[ext]; ok {
		if _, own := f.byExt[ext]; !own {
			return "", usageError(fmt.Errorf("-o %s: this command does not write %s files; %s", output, ext, instead))
		}
	}
	byExt, known := f.byExt[ext]
	switch {
	case named != "" && known && byExt != named:
		return "", usageError(fmt.Errorf("-o %s: the extension %s means --format %s, not %s: rename the file or change --format", output, ext, byExt, named))
	case named != "":
		return named, nil
	case known:
		return byExt, nil
	case f.strict:
		return "", usageError(fmt.Errorf("-o %s: no format is known for the extension %s (%s); name one with --format", output, ext, extList(f.byExt)))
	}
	return f.def, nil
}

// extList describes byExt for an error message: ".dot, .gv: dot; ...".
func extList[F ~string](byExt map[string]F) string {
	exts := map[string][]string{}
	var formats []string
	for ext, f := range byExt {
		format := string(f)
		if _, ok := exts[format]; !ok {
			formats = append(formats, format)
		}
		exts[format] = append(exts[format], ext)
	}
	slices.Sort(formats)
	parts := make([]string, len(formats))
	for i, format := range formats {
		slices.Sort(exts[format])
		parts[i] = strings.Join(exts[format], ", ") + " " + format
	}
	return strings.Join(parts, "; ")
}

// renderElsewhere tells merge and scan users which command writes a
// picture or a textfile.
func renderElsewhere[F ~string](own map[string]F) map[string]string {
	m := map[string]string{}
	for ext, format := range renderExt {
		if _, ok := own[ext]; ok {
			continue
		}
		m[ext] = fmt.Sprintf("planet render -f %s -o FILE makes one from this command's JSON", format)
	}
	return m
}

// isTerminal reports whether w is a terminal (a person is watching).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// waitingForStdin tells a person at a terminal what a command reading
// standard input waits for; a pipe or a file gets no message. what is the
// document expected, usage the command's way to name files instead.
func (a *app) waitingForStdin(what, usage string) {
	if !isTerminal(a.stdin) {
		return
	}
	fmt.Fprintf(a.stderr, "planet: waiting for %s on standard input: end it with Ctrl-D, stop with Ctrl-C.\n"+
		"planet: to read files instead: %s\n", what, usage)
}

// writeOutput is every command's -o: standard output for "-", "" or
// "/dev/stdout" (the name, not whatever a link there points to), else
// atomicfile.Write, which replaces a file or link at path by rename and
// refuses anything else (a FIFO, a device outside root-only directories).
func (a *app) writeOutput(path string, write func(io.Writer) error) error {
	if path == "" || path == "-" || path == "/dev/stdout" {
		return write(a.stdout)
	}
	return atomicfile.Write(path, 0o644, write)
}

// progress returns a callback that shows "done/total" on stderr, but only
// when stderr is a terminal (never in logs or pipes).
func (a *app) progress(format string) func(done, total int) {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressLine(f, format, 2*time.Second, time.Now)
}

// progressLine writes "\r"+format on w for each call once quiet has passed
// since it was made, so short merges print nothing, and ends the line when
// done reaches total.
func progressLine(w io.Writer, format string, quiet time.Duration, now func() time.Time) func(done, total int) {
	start := now()
	var mu sync.Mutex
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if now().Sub(start) < quiet {
			return
		}
		fmt.Fprintf(w, "\r"+format, done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
