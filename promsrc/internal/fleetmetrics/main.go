// Command fleetmetrics writes a synthetic fleet (internal/fleetgen) as the
// series Prometheus would hold after scraping every host's planet textfile:
// an instance and job label on every series and one timestamp. The
// benchmark scripts/bench-prom-merge.sh loads it into Prometheus, one of
// two ways:
//
//	fleetmetrics -n 10000 -at 1767000000 -o fleet.om
//
// writes OpenMetrics text (timestamps in seconds) for `promtool tsdb
// create-blocks-from openmetrics`, which backfills persisted blocks;
//
//	fleetmetrics -n 10000 -at 1767000000 -format text -parts 40 -o fleet.prom
//
// writes Prometheus' text exposition format 0.0.4 (timestamps in
// milliseconds, each family's HELP and TYPE lines) in 40 files of about
// the same number of hosts, fleet.prom.0 to fleet.prom.39, each the body
// of one scrape target (scraped with honor_labels, so the instance and job
// labels in the body are kept): the series land in Prometheus' in-memory
// head block, as a real Prometheus scraping each host's node_exporter
// holds them.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/planetdeps/planet/internal/fleetgen"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetmetrics:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 1000, "hosts")
	seed := flag.Uint64("seed", 1, "fleetgen seed (fleetgen gen uses 1)")
	at := flag.Int64("at", 0, "sample timestamp, Unix seconds")
	out := flag.String("o", "fleet.om", "output file (-format text: the files' common prefix, .0 .1 ... appended)")
	format := flag.String("format", "openmetrics", "openmetrics (for promtool's backfill) or text (a scrape's body, exposition format 0.0.4)")
	parts := flag.Int("parts", 1, "files to split the hosts into, in order (text only)")
	flag.Parse()
	if *at <= 0 {
		return fmt.Errorf("-at is required")
	}
	var text bool
	switch *format {
	case "openmetrics":
		if *parts != 1 {
			return fmt.Errorf("-parts %d: only -format text is split", *parts)
		}
	case "text":
		text = true
	default:
		return fmt.Errorf("-format %q: want openmetrics or text", *format)
	}
	if *parts < 1 || *parts > *n {
		return fmt.Errorf("-parts %d: want 1 to -n (%d)", *parts, *n)
	}
	snaps, err := fleetgen.Snapshots(fleetgen.Options{Hosts: *n, Seed: *seed})
	if err != nil {
		return err
	}
	for p := range *parts {
		name := *out
		if text {
			name += "." + strconv.Itoa(p)
		}
		hosts := snaps[p*len(snaps) / *parts : (p+1)*len(snaps) / *parts]
		if err := writePart(name, hosts, *at, text); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// writePart writes the series of hosts to the file at path, each family's
// samples together (both formats want that): one temp file per metric
// name, concatenated at the end. text selects the exposition format
// (HELP and TYPE lines kept, timestamps in milliseconds) over OpenMetrics
// (no metadata, timestamps in seconds, "# EOF" at the end).
func writePart(path string, hosts []*snapshot.Snapshot, at int64, text bool) error {
	parts := map[string]*os.File{}
	var order []string
	defer func() {
		for _, f := range parts {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	ts := " " + strconv.FormatInt(at, 10) + "\n"
	if text {
		ts = " " + strconv.FormatInt(at*1000, 10) + "\n"
	}
	var buf bytes.Buffer
	meta := map[string]string{} // metric name -> its HELP and TYPE lines (text only)
	for _, s := range hosts {
		buf.Reset()
		if err := metrics.Textfile(&buf, s); err != nil {
			return err
		}
		inst := `{instance="` + s.Host.Hostname + `:9100",job="node"`
		for line := range strings.SplitSeq(buf.String(), "\n") {
			if line == "" {
				continue
			}
			if line[0] == '#' {
				// "# HELP name ..." or "# TYPE name ...".
				if f := strings.Fields(line); text && len(f) >= 3 && !strings.Contains(meta[f[2]], line) {
					meta[f[2]] += line + "\n"
				}
				continue
			}
			i := strings.IndexAny(line, "{ ")
			name, rest := line[:i], line[i:]
			if rest[0] == '{' {
				rest = "," + rest[1:]
			} else {
				rest = "}" + rest
			}
			f := parts[name]
			if f == nil {
				var err error
				if f, err = os.CreateTemp("", "fleetmetrics-*"); err != nil {
					return err
				}
				parts[name] = f
				order = append(order, name)
			}
			if _, err := io.WriteString(f, name+inst+rest+ts); err != nil {
				return err
			}
		}
	}
	o, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(o)
	for _, n := range order {
		f := parts[n]
		if _, err := w.WriteString(meta[n]); err != nil {
			return err
		}
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
	}
	if !text {
		if _, err := w.WriteString("# EOF\n"); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return o.Close()
}
