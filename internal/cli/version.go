package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Placeholders main uses when a build was not stamped with -ldflags.
const (
	unstampedVersion = "dev"
	unstampedCommit  = "none"
	unstampedDate    = "unknown"
)

// ResolveBuild fills in what the release build's -ldflags did not stamp
// ("", or main's placeholders dev, none, unknown) from the Go toolchain's
// build info, as read by runtime/debug.ReadBuildInfo: the main module's
// version (v1.2.3 for `go install ...@v1.2.3`, a pseudo-version such as
// v0.0.0-20260102150405-abcdef012345 for a build in a git checkout) and the
// vcs.revision and vcs.time settings (RFC 3339). Stamped values win; what
// neither source knows keeps its placeholder. info may be nil.
func ResolveBuild(b BuildInfo, info *debug.BuildInfo) BuildInfo {
	unset := func(s, placeholder string) bool { return s == "" || s == placeholder }
	if info != nil {
		if v := info.Main.Version; unset(b.Version, unstampedVersion) && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && unset(b.Commit, unstampedCommit):
				b.Commit = s.Value
			case s.Key == "vcs.time" && unset(b.Date, unstampedDate):
				b.Date = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = unstampedVersion
	}
	if b.Commit == "" {
		b.Commit = unstampedCommit
	}
	if b.Date == "" {
		b.Date = unstampedDate
	}
	return b
}

// versionLine is what `planet version` and `planet --version` print.
func (b BuildInfo) versionLine() string {
	return fmt.Sprintf("planet %s (commit %s, built %s, %s %s/%s)\n",
		b.Version, b.Commit, b.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print planet's version (also: planet --version)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(a.stdout, a.build.versionLine())
			return err
		},
	}
}
