// Command fleetmetrics writes a synthetic fleet (internal/fleetgen) as the
// series Prometheus would hold after scraping every host's planet textfile:
// OpenMetrics text with an instance and job label on every series and one
// timestamp, for `promtool tsdb create-blocks-from openmetrics`. The
// benchmark scripts/bench-prom-merge.sh loads it into Prometheus.
//
//	fleetmetrics -n 10000 -at 1767000000 -o fleet.om
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
	out := flag.String("o", "fleet.om", "output file")
	flag.Parse()
	if *at <= 0 {
		return fmt.Errorf("-at is required")
	}
	snaps, err := fleetgen.Snapshots(fleetgen.Options{Hosts: *n, Seed: *seed})
	if err != nil {
		return err
	}
	// OpenMetrics wants each family's samples together: one temp file per
	// metric name, concatenated at the end.
	parts := map[string]*os.File{}
	var order []string
	ts := " " + strconv.FormatInt(*at, 10) + "\n"
	var buf bytes.Buffer
	for _, s := range snaps {
		buf.Reset()
		if err := metrics.Textfile(&buf, s); err != nil {
			return err
		}
		inst := `{instance="` + s.Host.Hostname + `:9100",job="node"`
		for line := range strings.SplitSeq(buf.String(), "\n") {
			if line == "" || line[0] == '#' {
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
				if f, err = os.CreateTemp("", "fleetmetrics-*"); err != nil {
					return err
				}
				defer os.Remove(f.Name())
				parts[name] = f
				order = append(order, name)
			}
			if _, err := io.WriteString(f, name+inst+rest+ts); err != nil {
				return err
			}
		}
	}
	o, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(o)
	for _, name := range order {
		f := parts[name]
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		f.Close()
	}
	if _, err := w.WriteString("# EOF\n"); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return o.Close()
}
