package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/inventory"
	"github.com/planetdeps/planet/render"
	"github.com/planetdeps/planet/scan"
	"github.com/planetdeps/planet/snapshot"
)

func newScanCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "scan",
		Short: "Scan this host: listeners, upstream and downstream connections, bandwidth",
		Long: `Scan this host's sockets (netlink sock_diag, like ss; /proc/net as a fallback),
find each socket's process, classify connections as upstream (this host is the
client) or downstream (this host serves them), add hostgroups and domains from an
inventory and per-peer bandwidth from darkstat, and write one snapshot
(schema planet.snapshot/v1) to standard output or -o FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := inventory.ParseFormat(a.v.GetString("inventory-format"))
			if err != nil {
				return usageError(err)
			}
			if w := a.v.GetDuration("window"); w < 0 {
				return usageError(fmt.Errorf("--window %v: want a positive duration, or 0 for one instant", w))
			}
			opts := scan.Options{
				ProcRoot:        a.v.GetString("proc-root"),
				SocketSource:    a.v.GetString("socket-source"),
				Inventory:       a.v.GetString("inventory"),
				InventoryFormat: format,
				Darkstat:        a.v.GetString("darkstat"),
				Timeout:         a.v.GetDuration("timeout"),
				Strict:          a.v.GetBool("strict"),
				Window:          a.v.GetDuration("window"),
				Version:         a.build.Version,
				Logger:          a.log,
			}
			snap, scanErr := scan.Run(cmd.Context(), opts)
			if snap == nil {
				return scanErr
			}
			cutShort := snap.Window != nil && snap.Window.CutShort
			if err := cmd.Context().Err(); err != nil && !cutShort {
				return err // interrupted: write nothing
			}
			write := func(w io.Writer) error { return snapshot.Write(w, snap) }
			if err := a.writeOutput(a.v.GetString("output"), write); err != nil {
				return errors.Join(err, scanErr)
			}
			if dir := a.v.GetString("textfile-dir"); dir != "" {
				if err := render.WriteScanTextfile(dir, a.v.GetString("state-dir"), snap, a.log); err != nil {
					return errors.Join(err, scanErr)
				}
			}
			if cutShort {
				// Written, and still reported as interrupted (exit 128+signal).
				return errors.Join(context.Cause(cmd.Context()), scanErr)
			}
			return scanErr
		},
	}
	f := c.Flags()
	f.StringP("output", "o", "-", "write the snapshot to FILE (atomically); - for standard output")
	f.String("inventory", "", "inventory URL or file mapping IPs to hostgroup and domain (alias --task-inventory-addr)")
	f.String("inventory-format", "auto", "inventory format: auto, array or ndjson")
	f.String("darkstat", "", "darkstat URL for per-peer bandwidth, e.g. http://127.0.0.1:667/ (alias --task-darkstat-addr)")
	f.Duration("timeout", 0, "timeout for each outside source, inventory and darkstat (default 10s)")
	f.Bool("strict", false, "exit non-zero when an optional source (darkstat) fails")
	f.String("proc-root", "/proc", "proc filesystem root (a fixture tree implies --socket-source proc)")
	f.String("socket-source", scan.SourceAuto, "socket source: auto (netlink, /proc/net where refused), netlink or proc")
	f.Duration("window", 0, "watch the host's TCP connections for DURATION and record every one that ends in it, with bytes per second each way (0: one instant)")
	f.String("state-dir", "", "keep the window byte counters' totals in DIR, so the textfile's "+render.MetricWindowBytes+" only grows (with --window and --textfile-dir)")
	f.String("textfile-dir", "", "also write DIR/"+render.TextfileName+" for node_exporter's textfile collector")
	f.SetNormalizeFunc(aliases(map[string]string{
		"task-inventory-addr": "inventory",
		"task-darkstat-addr":  "darkstat",
	}))
	return c
}
