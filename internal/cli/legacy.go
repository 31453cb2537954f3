package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// legacyFlag is one flag of the old exporter (planet-exporter, which parsed
// its flags with Go's flag package: -name value, -name=value, --name...).
type legacyFlag struct {
	to      string            // planet's flag; "" when the old flag has no meaning here
	isBool  bool              // takes no separate value
	enables string            // for -task-*-enabled: the old flag whose value it switches on
	values  map[string]string // old value -> planet's value, where they differ
	why     string            // for a dropped flag: what planet does instead
}

// legacyFlags are the old exporter's flags (its README's usage text). The
// bandwidth and inventory tasks become --darkstat and --inventory; the ones
// that configured a long-running server have no meaning for a one-shot scan.
var legacyFlags = map[string]legacyFlag{
	"task-inventory-addr":   {to: "inventory"},
	"task-inventory-format": {to: "inventory-format", values: map[string]string{"arrayjson": "array", "ndjson": "ndjson"}},
	"task-inventory-enabled": {isBool: true, enables: "task-inventory-addr",
		why: "the inventory is read when --inventory names one"},
	"task-darkstat-addr": {to: "darkstat"},
	"task-darkstat-enabled": {isBool: true, enables: "task-darkstat-addr",
		why: "darkstat is read when --darkstat names it"},
	"task-socketstat-enabled": {isBool: true, why: "planet scan always reads the sockets"},
	"task-ebpf-enabled":       {isBool: true, why: "planet reads no ebpf_exporter"},
	"task-ebpf-addr":          {why: "planet reads no ebpf_exporter"},
	"task-interval":           {why: "planet scans once: run it from cron or a systemd timer"},
	"listen-address":          {why: "planet serves nothing: write --textfile-dir for node_exporter's textfile collector"},
	"log-level": {to: "log-level", values: map[string]string{
		"trace": "debug", "warning": "warn", "fatal": "error", "panic": "error"}},
	"log-disable-colors":    {isBool: true, why: "planet's log has no colors"},
	"log-disable-timestamp": {isBool: true, why: "use --log-format"},
}

// legacyArgs rewrites the old exporter's flag spellings in args (before a
// "--") into planet's, and writes one deprecation note per old flag to
// stderr. Single-dash long flags are the old ones only: planet's own flags
// keep cobra's rules. A -task-*-enabled=false drops the address it
// switched on, as the old exporter ignored it. -version (the old exporter's
// only way to print its version) becomes the version command. It returns
// an error for an old flag that lacks its value.
func legacyArgs(args []string, stderr io.Writer) ([]string, error) {
	type seen struct {
		name, value string
		at          int // index in out of the rewritten flag, -1 when dropped
	}
	var found []seen
	disabled := map[string]bool{}
	out := make([]string, 0, len(args))
	noted := map[string]bool{}
	note := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if !noted[msg] {
			noted[msg] = true
			fmt.Fprintln(stderr, "planet: "+msg)
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		f, ok := legacyFlags[name]
		if !strings.HasPrefix(arg, "-") || !ok {
			if arg == "-version" && len(args) == 1 { // --version is planet's own
				note("flag %s is deprecated (the old exporter's): use the version command", arg)
				return []string{"version"}, nil
			}
			out = append(out, arg)
			continue
		}
		if f.to == name && strings.HasPrefix(arg, "--") {
			out = append(out, arg) // planet's own flag of the same name
			continue
		}
		old := "-" + name
		if f.isBool {
			on := true
			if hasValue {
				b, err := strconv.ParseBool(value)
				if err != nil {
					return nil, usageError(fmt.Errorf("flag %s: %q is not a boolean", old, value))
				}
				on = b
			}
			if f.enables != "" && !on {
				disabled[f.enables] = true
			}
			note("flag %s is deprecated (the old exporter's) and ignored: %s", old, f.why)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usageError(fmt.Errorf("flag %s needs a value", old))
			}
			i++
			value = args[i]
		}
		if f.to == "" {
			note("flag %s is deprecated (the old exporter's) and ignored: %s", old, f.why)
			continue
		}
		if v, ok := f.values[strings.ToLower(value)]; ok {
			value = v
		}
		note("flag %s is deprecated (the old exporter's): use --%s", old, f.to)
		found = append(found, seen{name: name, value: value, at: len(out)})
		out = append(out, "--"+f.to+"="+value)
	}
	// An address whose task was switched off is dropped, as the old
	// exporter did not use it.
	if len(disabled) > 0 {
		keep := out[:0:0]
		drop := map[int]bool{}
		for _, s := range found {
			if disabled[s.name] {
				drop[s.at] = true
				note("flag -%s dropped: its task is disabled", s.name)
			}
		}
		for i, a := range out {
			if !drop[i] {
				keep = append(keep, a)
			}
		}
		out = keep
	}
	return out, nil
}
