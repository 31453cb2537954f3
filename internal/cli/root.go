// Package cli is planet's command line: a thin root (root.go) and one file
// per command (scan.go, merge.go, diff.go, render.go, version.go), each an
// options struct read from flags, PLANET_* environment and the config file,
// and a run function that calls one library function and writes its result.
// Logic lives in the scan, graph, render, promsrc and inventory packages;
// this package alone knows the flags, and adds them to the libraries'
// errors (flagadvice.go). The mains are cmd/planet and cmd/planet-svg.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

const envPrefix = "PLANET"

// systemConfig is the config file planet looks for first. A variable only
// so that tests of the lookup run away from the machine's own (an
// installed package's, which another test may put there meanwhile).
var systemConfig = "/etc/planet/planet.yaml"

// BuildInfo is stamped into the binary at release time.
type BuildInfo struct {
	Version, Commit, Date string
}

// app is what every command shares: one viper instance, the logger and the
// output streams. There are no package-level globals.
type app struct {
	v      *viper.Viper
	build  BuildInfo
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// NewRoot builds the command tree.
func NewRoot(build BuildInfo, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{v: viper.New(), build: build, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "planet",
		Short: "Who depends on whom, on which port, through which process, with how much traffic",
		Long: `planet maps the dependencies between the servers of a fleet.

  planet scan    this host's listeners, upstream and downstream connections -> snapshot JSON
  planet merge   many hosts' snapshots -> one dependency graph keyed by hostgroup
  planet render  a snapshot or graph -> Prometheus textfile, DOT, SVG, Mermaid, JSON, table`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init(cmd)
		},
	}
	// --version: cobra prints the template instead of running a command.
	root.Version = build.Version
	root.SetVersionTemplate(strings.ReplaceAll(build.versionLine(), "{{", "{{`{{`}}"))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.String("config", "", "config file (default "+systemConfig+", then the user config dir's planet/planet.yaml)")
	pf.String("log-level", "info", "stderr log level: debug, info, warn, error")
	pf.String("log-format", string(logText), "stderr log format: text or json")
	root.AddCommand(newScanCmd(a), newMergeCmd(a), newDiffCmd(a), newRenderCmd(a), newVersionCmd(a))
	return root
}

// logFormat is --log-format: how the stderr log is written.
type logFormat string

const (
	logText logFormat = "text"
	logJSON logFormat = "json"
)

// parseLogFormat reads --log-format.
func parseLogFormat(s string) (logFormat, error) {
	switch f := logFormat(s); f {
	case logText, logJSON:
		return f, nil
	}
	return "", fmt.Errorf("%q: want text or json", s)
}

// init resolves configuration once: flag > PLANET_* environment > config
// file > default. Commands then copy what they need into their options.
func (a *app) init(cmd *cobra.Command) error {
	a.v.SetEnvPrefix(envPrefix)
	a.v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	a.v.AutomaticEnv()
	if err := a.v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := a.readConfig(ctx, cmd); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.v.GetString("log-level"))); err != nil {
		return usageError(fmt.Errorf("--log-level: %w", err))
	}
	format, err := parseLogFormat(a.v.GetString("log-format"))
	if err != nil {
		return usageError(fmt.Errorf("--log-format %w", err))
	}
	hopts := &slog.HandlerOptions{Level: level}
	if format == logJSON {
		a.log = slog.New(slog.NewJSONHandler(a.stderr, hopts))
	} else {
		a.log = slog.New(slog.NewTextHandler(a.stderr, hopts))
	}
	return nil
}

// aliases keeps the old exporter's flag names working.
func aliases(names map[string]string) func(*pflag.FlagSet, string) pflag.NormalizedName {
	return func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := names[name]; ok {
			name = to
		}
		return pflag.NormalizedName(name)
	}
}

// findCommand returns a usage error when args name no command. cobra
// reports that (an unknown command) with an error told apart only by its
// text; its Find, which makes it, fails for nothing else, so it is asked
// first, with the commands cobra adds on its own (help, completion, and
// the shell-completion requests) in place.
func findCommand(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	if _, _, err := root.Find(args); err != nil {
		return usageError(err)
	}
	return nil
}

// Main runs planet and returns the process exit code (see exit.go).
func Main(ctx context.Context, build BuildInfo, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args, err := legacyArgs(args, stderr)
	if err == nil {
		root := NewRoot(build, stdin, stdout, stderr)
		root.SetArgs(args)
		root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
		if err = findCommand(root, args); err == nil {
			err = graphAdvice(root.ExecuteContext(ctx))
		}
	}
	code, msg := exitStatus(ctx, err)
	if msg != "" {
		fmt.Fprintf(stderr, "planet: %s\n", msg)
	}
	return code
}
