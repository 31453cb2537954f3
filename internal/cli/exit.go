package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// Exit statuses: the one table of what planet's exit code means.
const (
	// ExitOK: done; for diff --exit-code, no changes.
	ExitOK = 0
	// ExitError: a failure (an input, a source, a write); for diff
	// --exit-code, changes.
	ExitError = 1
	// ExitUsage: the command line or the config file asks for something
	// planet cannot do (an unknown command, flag or key, a wrong number of
	// arguments, a value out of range), found before any work; for diff
	// --exit-code, any trouble.
	ExitUsage = 2
	// ExitSIGINT and ExitSIGTERM: stopped by that signal (128 + its
	// number): the signal's cause names the status (see cmd/planet).
	ExitSIGINT  = 130
	ExitSIGTERM = 143
)

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

// usageErr marks a usage error: ExitUsage.
type usageErr struct{ error }

func (e usageErr) Unwrap() error { return e.error }

func usageError(err error) error { return usageErr{err} }

// usageArgs makes a cobra argument check's complaint a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}

// exitStatus maps what a command returned to the exit status and the
// message for stderr ("" for none), by the error's type, never its text:
// nil is ExitOK; an interrupted context is the signal's status (the cause's
// ExitCode, else ExitSIGINT); exitCode is its status, quietly; codeError
// its code; usageErr ExitUsage; anything else ExitError.
func exitStatus(ctx context.Context, err error) (int, string) {
	if err == nil {
		return ExitOK, ""
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		var sig interface{ ExitCode() int }
		if errors.As(cause, &sig) {
			return sig.ExitCode(), fmt.Sprintf("interrupted: %v", cause)
		}
		return ExitSIGINT, fmt.Sprintf("interrupted: %v", cause)
	}
	var quiet exitCode
	if errors.As(err, &quiet) {
		return int(quiet), ""
	}
	var ce codeError
	if errors.As(err, &ce) {
		return ce.code, err.Error()
	}
	var u usageErr
	if errors.As(err, &u) {
		return ExitUsage, err.Error()
	}
	return ExitError, err.Error()
}
