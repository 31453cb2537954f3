// Package cmd is planet's command line: cobra commands that parse flags and
// configuration into options, call one package function, and write the
// result. Logic lives in the scan, graph, render and inventory packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Exit codes, in one table.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitUsage    = 2
	ExitSIGINT   = 130
	ExitSIGTERM  = 143
	envPrefix    = "PLANET"
	systemConfig = "/etc/planet/planet.yaml"
)

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
	pf.String("log-format", "text", "stderr log format: text or json")
	root.AddCommand(newScanCmd(a), newMergeCmd(a), newDiffCmd(a), newRenderCmd(a), newVersionCmd(a))
	return root
}

// init resolves configuration once: flag > PLANET_* environment > config
// file > default. Commands then copy what they need into plain values.
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
	hopts := &slog.HandlerOptions{Level: level}
	switch f := a.v.GetString("log-format"); f {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.stderr, hopts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.stderr, hopts))
	default:
		return usageError(fmt.Errorf("--log-format %q: want text or json", f))
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

// exitCode ends planet with that status and no message (diff --exit-code).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// codeError ends planet with a message and a chosen status.
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string { return e.err.Error() }
func (e codeError) Unwrap() error { return e.err }

type usageErr struct{ error }

func (e usageErr) Unwrap() error { return e.error }

func usageError(err error) error { return usageErr{err} }

// Main runs planet and returns the process exit code.
func Main(ctx context.Context, build BuildInfo, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args, err := legacyArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "planet: %v\n", err)
		return ExitUsage
	}
	root := NewRoot(build, stdin, stdout, stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	err = root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		var sig interface{ ExitCode() int }
		fmt.Fprintf(stderr, "planet: interrupted: %v\n", cause)
		if errors.As(cause, &sig) {
			return sig.ExitCode()
		}
		return ExitSIGINT
	}
	var quiet exitCode
	if errors.As(err, &quiet) {
		return int(quiet)
	}
	fmt.Fprintf(stderr, "planet: %v\n", err)
	var ce codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	var u usageErr
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") {
		return ExitUsage
	}
	return ExitError
}
