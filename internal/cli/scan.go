package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/inventory"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/render"
	"github.com/planetdeps/planet/scan"
	"github.com/planetdeps/planet/scan/workload"
	"github.com/planetdeps/planet/snapshot"
)

// scanFormat is planet scan's output format (--format).
type scanFormat string

const (
	scanJSON  scanFormat = "json"
	scanTable scanFormat = "table"
)

// parseScanFormat reads --format: json, table, or "" (chosen by where the
// snapshot goes).
func parseScanFormat(s string) (scanFormat, error) {
	switch f := scanFormat(s); f {
	case "", scanJSON, scanTable:
		return f, nil
	}
	return "", fmt.Errorf("%q: want json or table", s)
}

// scanOptions is planet scan's settings, resolved from its flags, PLANET_*
// environment and the config file (see scanFlags).
type scanOptions struct {
	output      string     // "-" standard output, "" nowhere, else a file
	format      scanFormat // of output
	textfileDir string     // "" for no textfile
	scan        scan.Options
}

// scanOptions reads planet scan's settings: see scanFlags. A value out of
// range is a usage error naming its flag.
func (a *app) scanOptions() (scanOptions, error) {
	if err := a.checkDurations("timeout", "window"); err != nil {
		return scanOptions{}, err
	}
	invFormat, err := inventory.ParseFormat(a.v.GetString("inventory-format"))
	if err != nil {
		return scanOptions{}, usageError(fmt.Errorf("--inventory-format: %w", err))
	}
	source, err := scan.ParseSourceKind(a.v.GetString("socket-source"))
	if err != nil {
		return scanOptions{}, usageError(err)
	}
	named, err := parseScanFormat(a.v.GetString("format"))
	if err != nil {
		return scanOptions{}, usageError(fmt.Errorf("--format %w", err))
	}
	o := scanOptions{textfileDir: a.v.GetString("textfile-dir")}
	if o.output, o.format, err = a.scanOutput(a.v.GetString("output"), named, o.textfileDir != ""); err != nil {
		return scanOptions{}, err
	}
	state := stateDir(a.v.GetString("state-dir"))
	o.scan = scan.Options{
		ProcRoot:          a.v.GetString("proc-root"),
		SocketSource:      source,
		Namespaces:        a.v.GetString("netns"),
		Workloads:         workload.UnderRoot(a.v.GetString("runtime-root")),
		Inventory:         a.v.GetString("inventory"),
		InventoryFormat:   invFormat,
		InventoryStateDir: state,
		Darkstat:          a.v.GetString("darkstat"),
		Timeout:           a.v.GetDuration("timeout"),
		Strict:            a.v.GetBool("strict"),
		Window:            a.v.GetDuration("window"),
		WindowStateDir:    state,
		Version:           a.build.Version,
		Logger:            a.log,
	}
	return o, nil
}

// scanOutput resolves -o and --format for scan: where the snapshot goes
// ("" for nowhere) and as what. See the command's help.
func (a *app) scanOutput(output string, named scanFormat, textfile bool) (string, scanFormat, error) {
	if output == "" {
		if textfile && !isTerminal(a.stdout) {
			return "", "", nil
		}
		output = "-"
	}
	def := scanJSON
	if isStdout(output) && isTerminal(a.stdout) {
		def = scanTable
	}
	own := map[string]scanFormat{".json": scanJSON, ".txt": scanTable}
	elsewhere := renderElsewhere(own)
	elsewhere[".prom"] = "--textfile-dir DIR writes DIR/" + metrics.TextfileName + " for node_exporter"
	format, err := outputFormats[scanFormat]{byExt: own, def: def, elsewhere: elsewhere}.choose(named, output)
	return output, format, err
}

// runScan is planet scan: scan the host, write the snapshot and the
// textfile. A scan cut short by a signal writes what it has, and still
// returns the signal.
func (a *app) runScan(ctx context.Context, o scanOptions) error {
	snap, commit, scanErr := scan.RunPending(ctx, o.scan)
	scanErr = scanAdvice(scanErr)
	if snap == nil {
		return scanErr
	}
	cutShort := snap.Window != nil && snap.Window.CutShort
	if err := ctx.Err(); err != nil && !cutShort {
		return err // interrupted: write nothing
	}
	if o.output != "" {
		write := func(w io.Writer) error { return snapshot.Write(w, snap) }
		if o.format == scanTable {
			write = func(w io.Writer) error { return render.Table(w, snap) }
		}
		if err := a.writeOutput(o.output, write); err != nil {
			return errors.Join(err, scanErr)
		}
	}
	if o.textfileDir != "" {
		if err := metrics.WriteScanTextfile(o.textfileDir, o.scan.InventoryStateDir, snap, a.log); err != nil {
			return errors.Join(err, scanErr)
		}
	}
	// Only now that the snapshot and the textfile are written may the next
	// window continue from this one: were either lost, so would the
	// traffic this window counted.
	if err := commit(); err != nil {
		a.log.Warn("the window's hand-on state was not written; the next window starts afresh", "error", err)
	}
	if cutShort {
		// Written, and still reported as interrupted (exit 128+signal).
		return errors.Join(context.Cause(ctx), scanErr)
	}
	return scanErr
}

// rootStateDir is scan's state directory for root, and planet.service's
// StateDirectory.
const rootStateDir = "/var/lib/planet"

// stateDir resolves --state-dir: the one named; "none" for none; else
// $STATE_DIRECTORY (systemd's StateDirectory=, the first of a list), else
// rootStateDir for root, else the user cache dir's planet/ ("" when there
// is none: nothing is kept).
func stateDir(named string) string {
	switch named {
	case "none":
		return ""
	case "":
	default:
		return named
	}
	if dirs := os.Getenv("STATE_DIRECTORY"); dirs != "" {
		first, _, _ := strings.Cut(dirs, ":")
		return first
	}
	if os.Geteuid() == 0 {
		return rootStateDir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "planet")
	}
	return ""
}

func newScanCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "scan",
		Short: "Scan this host: listeners, upstream and downstream connections, bandwidth",
		Long: `Scan this host's sockets (netlink sock_diag, like ss; /proc/net as a fallback)
in every network namespace a process on the host is in (containers' too), find
each socket's process and its workload (systemd unit, container, pod), classify
connections as upstream (this host is the client) or downstream (this host
serves them), add what the kernel's connection-tracking table knows where the
host has one (published ports and their containers, the destination behind a
DNAT, masqueraded and unconnected UDP flows, connections closed recently),
hostgroups and domains from an inventory and per-peer bandwidth from darkstat,
and write one snapshot (schema planet.snapshot/v2) to standard output or -o FILE.

What goes where:
  -o FILE                 the snapshot as JSON (a .txt FILE gets the table)
  standard output, a terminal
                          the snapshot as a table, for a person to read
  standard output, a pipe the snapshot as JSON (planet scan | planet merge -)
  --textfile-dir DIR      DIR/planet.prom for node_exporter; then, unless -o
                          names an output, nothing goes to a pipe (a cron job
                          mails nothing), and a terminal still gets the table
--format json or table forces either.

The inventory: an entry that cannot be used (a bad ip_address, say) is
skipped with a warning and counted. When the fetch fails (no answer, an HTTP
error, a document that does not parse), the last good inventory, kept in
--state-dir, labels the scan instead: a warning on stderr, the failure and
the copy's fetch time in the snapshot, and its age in the textfile's
planet_inventory_age_seconds. Without a kept copy the scan fails as before.

The window: --window DURATION watches the host's TCP connections that long
(a dump at each end, every socket destroyed in between) and records, per
dependency, the connections opened and closed and the bytes each way within
the window, and bytes per second. SIGINT or SIGTERM ends the window early:
the shorter window's snapshot is written, marked cut_short, and the exit
status is 128+signal. With --textfile-dir, the window byte and connection
counters keep their totals in --state-dir (none: no counters). Handed a
destroy-event subscription held between runs (systemd's planet.socket), a
window continues where the last one ended: --state-dir keeps the sockets it
hands on (window-sockets.json), saved once the snapshot is written.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.scanOptions()
			if err != nil {
				return err
			}
			return a.runScan(cmd.Context(), o)
		},
	}
	scanFlags(c)
	return c
}

// scanFlags defines planet scan's flags on c; scanOptions reads them.
func scanFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringP("output", "o", "", "write the snapshot to FILE (atomically); - for standard output (the default, except into a pipe with --textfile-dir)")
	f.StringP("format", "f", "", "snapshot output: json or table (default: table on a terminal, JSON in a pipe or file; a .txt FILE gets the table)")
	f.String("inventory", "", "inventory URL or file mapping IPs to hostgroup and domain (alias --task-inventory-addr)")
	f.String("inventory-format", "auto", "inventory format: auto, array or ndjson")
	f.String("darkstat", "", "darkstat URL for per-peer bandwidth, e.g. http://127.0.0.1:667/ (alias --task-darkstat-addr)")
	f.Duration("timeout", 0, "timeout for each outside source, inventory and darkstat (default 10s)")
	f.Bool("strict", false, "exit non-zero when an optional source fails too: darkstat, or the inventory answered from the last good copy")
	f.String("state-dir", "", "keep here the last good inventory, used when a fetch fails, the window byte counters' totals, so the textfile's "+metrics.WindowBytes.Name+" only grows, and the sockets a window hands on to the next (window-sockets.json, with a held destroy-event subscription such as planet.socket) (default: $STATE_DIRECTORY under systemd, "+rootStateDir+" as root, else the user cache dir's planet/; none: keep nothing)")
	f.String("proc-root", "/proc", "proc filesystem root (a fixture tree implies --socket-source proc)")
	f.String("socket-source", scan.SourceAuto.String(), "socket source: auto (netlink, /proc/net where refused), netlink or proc")
	f.Duration("window", 0, "watch the host's TCP connections for DURATION and record every one that ends in it, with bytes per second each way (0: one instant)")
	f.String("netns", scan.NamespacesAuto, "network namespaces: auto (all where planet runs in the host's, PID 1's, else own), all (the host's and every container's) or own (only planet's)")
	f.String("runtime-root", "/", "where the container runtimes' state is: DIR/var/lib/docker, DIR/var/lib/containers/storage, DIR/var/log/pods, DIR/var/log/containers (read-only, for container and pod names)")
	f.String("textfile-dir", "", "also write DIR/"+metrics.TextfileName+" for node_exporter's textfile collector")
	f.SetNormalizeFunc(aliases(map[string]string{
		"task-inventory-addr": "inventory",
		"task-darkstat-addr":  "darkstat",
	}))
}
