package cmd

import "github.com/spf13/cobra"

// extraCommands lists the commands beyond scan and version.
func extraCommands(a *app) []*cobra.Command {
	return nil
}
