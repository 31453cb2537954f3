package darkstat

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// hostBytes is the metric family newer darkstat builds serve at /metrics:
// host_bytes_total{interface="eth0",ip="10.1.2.3",dir="in"} 12345
const hostBytes = "host_bytes_total"

// ParseMetrics reads host_bytes_total from Prometheus text exposition and
// returns one Host per IP, sorted by IP, summing the series of one IP (it
// has one per interface darkstat listens on, and may carry a mac label).
// Other metric families are ignored. Text without host_bytes_total (no
// sample and no # TYPE/# HELP line for it) is ErrNotDarkstat: it is some
// other exporter's page.
func ParseMetrics(text []byte) ([]Host, error) {
	trimmed := bytes.TrimSpace(text)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty metrics page", ErrNotDarkstat)
	}
	if trimmed[0] == '<' {
		return nil, fmt.Errorf("%w: HTML, not Prometheus text", ErrNotDarkstat)
	}
	acc := newAccumulator()
	seen := make(map[string]bool) // series already read, by label set
	family := false
	for i, line := range strings.Split(string(text), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			// "# TYPE host_bytes_total counter", "# HELP host_bytes_total ..."
			f := strings.Fields(line)
			if len(f) >= 3 && (f[1] == "TYPE" || f[1] == "HELP") && f[2] == hostBytes {
				family = true
			}
			continue
		}
		name := line[:metricNameEnd(line)]
		if name == "" {
			if !family { // garbage from the start: not a metrics page at all
				return nil, fmt.Errorf("%w: not Prometheus text: line %d: %q", ErrNotDarkstat, n, clip(line))
			}
			return nil, fmt.Errorf("line %d: no metric name: %q", n, clip(line))
		}
		if name != hostBytes {
			continue
		}
		family = true
		labels, rest, err := parseLabels(line[len(name):])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		value, err := parseSampleValue(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		key := seriesKey(labels)
		if seen[key] {
			return nil, fmt.Errorf("line %d: series %s%s appears twice", n, hostBytes, key)
		}
		seen[key] = true
		ipText, ok := labels["ip"]
		if !ok {
			return nil, fmt.Errorf("line %d: no ip label", n)
		}
		ip, err := netip.ParseAddr(ipText)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("line %d: bad ip label %q", n, ipText)
		}
		var in, out uint64
		switch labels["dir"] {
		case "in":
			in = value
		case "out":
			out = value
		default:
			return nil, fmt.Errorf("line %d: dir label %q, want \"in\" or \"out\"", n, labels["dir"])
		}
		if err := acc.add(ip, in, out); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if !family {
		return nil, fmt.Errorf("%w: no %s in the metrics", ErrNotDarkstat, hostBytes)
	}
	return acc.sorted(), nil
}

// metricNameEnd returns the length of the metric name at the start of line.
func metricNameEnd(line string) int {
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return i
		}
	}
	return len(line)
}

// parseLabels reads `{name="value",...}` (optional) and returns the labels
// and what follows the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := make(map[string]string)
	s = strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(s, "{") {
		return labels, s, nil
	}
	s = s[1:]
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		end := metricNameEnd(s)
		name := s[:end]
		if name == "" || strings.Contains(name, ":") {
			return nil, "", fmt.Errorf("bad label name at %q", clip(s))
		}
		s = strings.TrimLeft(s[end:], " \t")
		if !strings.HasPrefix(s, "=") {
			return nil, "", fmt.Errorf("label %s: want =", name)
		}
		s = strings.TrimLeft(s[1:], " \t")
		value, rest, err := parseQuoted(s)
		if err != nil {
			return nil, "", fmt.Errorf("label %s: %w", name, err)
		}
		if _, dup := labels[name]; dup {
			return nil, "", fmt.Errorf("label %s appears twice", name)
		}
		labels[name] = value
		s = strings.TrimLeft(rest, " \t")
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
		default:
			return nil, "", fmt.Errorf("after label %s: want , or }", name)
		}
	}
}

// parseQuoted reads a label value in double quotes with the text format's
// escapes (\\, \", \n).
func parseQuoted(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", fmt.Errorf("value not quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i == len(s) {
				return "", "", fmt.Errorf("unterminated value")
			}
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", "", fmt.Errorf(`bad escape \%c`, s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated value")
}

// parseSampleValue reads "value [timestamp]" as a byte count. Float
// notation is fine (1.26014316e+08); a count must be whole, finite and
// not negative.
func parseSampleValue(s string) (uint64, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("want a value and an optional timestamp after the labels, got %q", clip(s))
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return 0, fmt.Errorf("bad timestamp %q", clip(f[1]))
		}
	}
	// Plain integers exactly, all 64 bits; float64 would round above 2^53.
	if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
		return n, nil
	}
	v, err := strconv.ParseFloat(f[0], 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("bad value %q", clip(f[0]))
	case math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v != math.Trunc(v):
		return 0, fmt.Errorf("bad value %q: not a byte count", clip(f[0]))
	case v >= math.Ldexp(1, 64):
		return 0, fmt.Errorf("bad value %q: out of range", clip(f[0]))
	}
	return uint64(v), nil
}

// seriesKey is a canonical form of a label set: {a="1",b="2"}.
func seriesKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
