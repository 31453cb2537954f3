package cmd

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/inventory"
	"github.com/planetdeps/planet/render"
	"github.com/planetdeps/planet/scan"
	"github.com/planetdeps/planet/scan/workload"
	"github.com/planetdeps/planet/snapshot"
)

func newScanCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "scan",
		Short: "Scan this host: listeners, upstream and downstream connections, bandwidth",
		Long: `Scan this host's sockets (netlink sock_diag, like ss; /proc/net as a fallback)
in every network namespace a process on the host is in (containers' too), find
each socket's process and its workload (systemd unit, container, pod), classify connections as upstream (this host is the
client) or downstream (this host serves them), add hostgroups and domains from an
inventory and per-peer bandwidth from darkstat, and write one snapshot
(schema planet.snapshot/v2) to standard output or -o FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := inventory.ParseFormat(a.v.GetString("inventory-format"))
			if err != nil {
				return usageError(err)
			}
			opts := scan.Options{
				ProcRoot:        a.v.GetString("proc-root"),
				SocketSource:    a.v.GetString("socket-source"),
				Namespaces:      a.v.GetString("netns"),
				Workloads:       workload.UnderRoot(a.v.GetString("runtime-root")),
				Inventory:       a.v.GetString("inventory"),
				InventoryFormat: format,
				Darkstat:        a.v.GetString("darkstat"),
				Timeout:         a.v.GetDuration("timeout"),
				Strict:          a.v.GetBool("strict"),
				Version:         a.build.Version,
				Logger:          a.log,
			}
			snap, scanErr := scan.Run(cmd.Context(), opts)
			if snap == nil {
				return scanErr
			}
			if err := cmd.Context().Err(); err != nil {
				return err // interrupted: write nothing
			}
			write := func(w io.Writer) error { return snapshot.Write(w, snap) }
			if err := a.writeOutput(a.v.GetString("output"), write); err != nil {
				return errors.Join(err, scanErr)
			}
			if dir := a.v.GetString("textfile-dir"); dir != "" {
				if err := render.WriteTextfileDir(dir, snap); err != nil {
					return errors.Join(err, scanErr)
				}
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
	f.String("netns", scan.NamespacesAuto, "network namespaces: auto (all where planet runs in the host's, PID 1's, else own), all (the host's and every container's) or own (only planet's)")
	f.String("runtime-root", "/", "where the container runtimes' state is: DIR/var/lib/docker, DIR/var/lib/containers/storage, DIR/var/log/pods, DIR/var/log/containers (read-only, for container and pod names)")
	f.String("textfile-dir", "", "also write DIR/"+render.TextfileName+" for node_exporter's textfile collector")
	f.SetNormalizeFunc(aliases(map[string]string{
		"task-inventory-addr": "inventory",
		"task-darkstat-addr":  "darkstat",
	}))
	return c
}
