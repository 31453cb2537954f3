package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/planetdeps/planet/internal/atomicfile"
	"github.com/planetdeps/planet/snapshot"
)

// TextfileName is the file WriteTextfileDir writes in node_exporter's
// textfile directory.
const TextfileName = "planet.prom"

// loopbackHostgroup is the hostgroup every loopback peer belongs to
// (docs/scan.md, "What a scan sees"), whether or not an inventory said so.
const loopbackHostgroup = "localhost"

// Textfile writes s in the Prometheus text exposition format (version 0.0.4)
// for node_exporter's textfile collector: HELP and TYPE for every family,
// families sorted by name, series sorted by their label values, no
// timestamps. Records whose labels coincide (two IPs behind one domain, say)
// are summed into one series, since a duplicate series makes node_exporter
// reject the whole file. Nothing is written if s is invalid.
func Textfile(w io.Writer, s *snapshot.Snapshot) error {
	b, err := textfile(s)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteTextfileDir writes dir/planet.prom atomically: node_exporter sees the
// old file or the new one, never a partial one, and never the temp file
// (whose name does not end in .prom).
func WriteTextfileDir(dir string, s *snapshot.Snapshot) error {
	b, err := textfile(s)
	if err != nil {
		return err
	}
	return writeTextfileDir(dir, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// writeTextfileDir is WriteTextfileDir with the content producer injectable,
// so a test can pause mid-write and look at the directory.
func writeTextfileDir(dir string, write func(io.Writer) error) error {
	// 0644: node_exporter usually runs as its own user and must read it.
	return atomicfile.Write(filepath.Join(dir, TextfileName), 0o644, write)
}

// textfile renders s; extra families (the window counters) come from
// outside the snapshot.
func textfile(s *snapshot.Snapshot, extra ...*family) ([]byte, error) {
	if s == nil {
		return nil, errors.New("textfile: no snapshot")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("textfile: invalid snapshot: %w", err)
	}
	localAddress := s.Host.Label()
	localHostgroup := s.Host.Hostgroup

	up := newFamily(Upstream, sum)
	down := newFamily(Downstream, sum)
	for _, c := range s.Connections {
		f := up
		if c.Direction == snapshot.Downstream {
			f = down
		}
		addr, group := RemoteLabels(c.RemoteIP, c.RemoteDomain, c.RemoteHostgroup)
		// A record made from conntrack flows has no socket on this host.
		f.add(float64(c.Sockets+c.Flows), localAddress, localHostgroup, strconv.Itoa(int(c.Port)),
			c.Process, c.Protocol, addr, group, c.Workload)
	}

	// A server process is there or not (see ServerProcess).
	server := newFamily(ServerProcess, maxOf)
	for _, l := range s.Listeners {
		server.add(1, l.Bind(), localHostgroup, strconv.Itoa(int(l.Port)), l.Process, l.Protocol, l.Workload)
	}

	traffic := newFamily(Traffic, sum)
	if s.Traffic != nil {
		for _, p := range s.Traffic.Peers {
			ip := p.RemoteIP.Unmap()
			group := p.RemoteHostgroup
			if ip.IsLoopback() {
				group = loopbackHostgroup
			}
			traffic.add(float64(p.IngressBytes), Ingress, s.Host.Domain, localHostgroup, p.RemoteDomain, group, ip.String())
			traffic.add(float64(p.EgressBytes), Egress, s.Host.Domain, localHostgroup, p.RemoteDomain, group, ip.String())
		}
	}

	// A source reported twice (it should not be) succeeded only if every
	// report says so.
	success := newFamily(ScanSuccess, minOf)
	for _, src := range s.Sources {
		v := 0.0
		if src.OK {
			v = 1
		}
		success.add(v, src.Name)
	}

	timestamp := newFamily(ScanTimestamp, sum)
	timestamp.add(unixSeconds(s))

	unowned := newFamily(ScanUnowned, sum)
	unowned.add(float64(s.UnownedSockets))

	families := []*family{up, down, server, traffic, success, timestamp, unowned}
	families = append(families, inventoryFamilies(s)...)
	families = append(families, windowGauges(s)...)
	families = append(families, extra...)
	slices.SortFunc(families, func(a, b *family) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	for _, f := range families {
		f.write(&buf)
	}
	return buf.Bytes(), nil
}

// RemoteLabels returns remote_address and remote_hostgroup for a peer: its domain
// where the inventory knows it, else its IP. A loopback peer keeps its IP
// (every host's 127.0.0.1 is a different machine, so a domain would mislead)
// and is always in hostgroup localhost.
func RemoteLabels(ip netip.Addr, domain, hostgroup string) (address, group string) {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return ip.String(), loopbackHostgroup
	}
	if domain != "" {
		return domain, hostgroup
	}
	return ip.String(), hostgroup
}

// inventoryFamilies says how current the inventory behind the labels is: its
// age (0 when this scan fetched it; the kept copy's age when the fetch
// failed and the last good inventory was used) and how many of its entries
// were skipped. A scan without an inventory, or whose inventory failed with
// no copy to fall back on, has neither family (planet_scan_success says
// the latter).
func inventoryFamilies(s *snapshot.Snapshot) []*family {
	age := newFamily(InventoryAge, maxOf)
	skipped := newFamily(InventorySkipped, maxOf)
	used := false
	for _, src := range s.Sources {
		if src.Name != snapshot.SourceInventory || (!src.OK && src.FetchedAt == nil) {
			continue
		}
		used = true
		seconds := 0.0
		if src.FetchedAt != nil {
			seconds = max(0, s.ScannedAt.Sub(*src.FetchedAt).Seconds())
		}
		age.add(math.Round(seconds))
		skipped.add(float64(src.Skipped))
	}
	if !used {
		return nil
	}
	return []*family{age, skipped}
}

func unixSeconds(s *snapshot.Snapshot) float64 {
	t := s.ScannedAt
	// Not UnixNano: it overflows outside 1678..2262.
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// family collects the series of one metric family. Series are keyed by their
// label values so records that map to the same labels are merged, not
// emitted twice.
type family struct {
	Family
	merge  func(old, v float64) float64
	series map[string]*series
}

type series struct {
	values []string
	value  float64
}

func sum(a, b float64) float64 { return a + b }

func maxOf(a, b float64) float64 { return math.Max(a, b) }

func minOf(a, b float64) float64 { return math.Min(a, b) }

func newFamily(f Family, merge func(old, v float64) float64) *family {
	if !slices.IsSorted(f.Labels) {
		panic("metrics: labels of " + f.Name + " are not sorted")
	}
	return &family{Family: f, merge: merge, series: map[string]*series{}}
}

// add records one value; values are the label values in the order of
// f.Labels.
func (f *family) add(v float64, values ...string) {
	if len(values) != len(f.Labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.Name, len(f.Labels), len(values)))
	}
	for i, lv := range values {
		// The format is UTF-8; /proc/PID/comm is whatever bytes a
		// process chose, and one invalid byte would make node_exporter
		// drop the whole file.
		values[i] = strings.ToValidUTF8(lv, "\uFFFD")
	}
	// Valid UTF-8 never contains 0xff, so the key is unambiguous.
	key := strings.Join(values, "\xff")
	if s, ok := f.series[key]; ok {
		s.value = f.merge(s.value, v)
		return
	}
	f.series[key] = &series{values: values, value: v}
}

func (f *family) write(buf *bytes.Buffer) {
	if len(f.series) == 0 {
		return
	}
	all := make([]*series, 0, len(f.series))
	for _, s := range f.series {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b *series) int { return slices.Compare(a.values, b.values) })

	fmt.Fprintf(buf, "# HELP %s %s\n# TYPE %s %s\n", f.Name, helpEscaper.Replace(f.Help), f.Name, f.Type)
	for _, s := range all {
		buf.WriteString(f.Name)
		if len(f.Labels) > 0 {
			buf.WriteByte('{')
			first := true
			for i, name := range f.Labels {
				if name == LabelWorkload && s.values[i] == "" {
					// Absent, as Prometheus reads an empty label anyway:
					// a host without workloads writes the original lines.
					continue
				}
				if !first {
					buf.WriteByte(',')
				}
				first = false
				buf.WriteString(name)
				buf.WriteString(`="`)
				buf.WriteString(labelEscaper.Replace(s.values[i]))
				buf.WriteByte('"')
			}
			buf.WriteByte('}')
		}
		buf.WriteByte(' ')
		buf.WriteString(formatValue(s.value))
		buf.WriteByte('\n')
	}
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// formatValue prints v the way Prometheus' own encoder does, so a scrape of
// node_exporter shows the very lines of the file: shortest round-tripping
// form, integers below a million plain, larger values with an exponent
// (1.26014316e+08).
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
