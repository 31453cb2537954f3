package cli

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// terminalWidth is the width in columns of the terminal output goes to, so
// that a table fits it: 0 (no limit) unless output is standard output and
// that is a terminal; then $COLUMNS when it holds a width (the shell's
// idea, kept up to date on resize), else the terminal's own size.
func terminalWidth(output string, stdout io.Writer) int {
	f, ok := stdout.(*os.File)
	if output != "-" || !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
		return w
	}
	return 0
}
