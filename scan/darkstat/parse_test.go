package darkstat

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/golden"
)

// summarize renders a parse result the way the .golden files hold it.
func summarize(hosts []Host, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d hosts\n", len(hosts))
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s in=%d out=%d\n", h.IP, h.In, h.Out)
	}
	return b.String()
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, path, []byte(got))
}

// checkHosts holds for every successful parse: valid IPs, sorted, unique.
func checkHosts(t *testing.T, hosts []Host) {
	t.Helper()
	for i, h := range hosts {
		if !h.IP.IsValid() || h.IP.Zone() != "" {
			t.Errorf("host %d: invalid IP %v", i, h.IP)
		}
		if i > 0 && hosts[i-1].IP.Compare(h.IP) >= 0 {
			t.Errorf("hosts %d and %d not sorted and unique: %v, %v", i-1, i, hosts[i-1].IP, h.IP)
		}
	}
}

func TestParseHTML(t *testing.T) {
	tests := []struct {
		file  string
		hosts int   // -1: an error is expected
		err   error // its kind, if it has one
	}{
		// Saved from darkstat 3.0.719 (see testdata/README).
		{file: "real-hosts-full.html", hosts: 43},
		{file: "real-hosts-full-sort-lastseen.html", hosts: 43},
		{file: "real-hosts-empty.html", hosts: 0},
		{file: "real-hosts-page1.html", hosts: -1, err: ErrPartial},
		{file: "real-graphs.html", hosts: -1, err: ErrNoHostTable},
		{file: "real-host-detail.html", hosts: -1, err: ErrNoHostTable},
		{file: "real-404.html", hosts: -1, err: ErrNotDarkstat},
		// Hand-made.
		{file: "thousands-ipv6-hostnames.html", hosts: 4},
		{file: "extra-columns.html", hosts: 2},
		{file: "duplicate-ip.html", hosts: 2},
		{file: "no-rows.html", hosts: 0},
		{file: "bad-number.html", hosts: -1},
		{file: "bad-separators.html", hosts: -1},
		{file: "negative.html", hosts: -1},
		{file: "overflow.html", hosts: -1},
		{file: "empty-count.html", hosts: -1},
		{file: "bad-ip.html", hosts: -1},
		{file: "zone-ip.html", hosts: -1},
		{file: "short-row.html", hosts: -1},
		{file: "truncated-mid-row.html", hosts: -1, err: ErrTruncated},
		{file: "truncated-after-table.html", hosts: -1, err: ErrTruncated},
		{file: "truncated-in-head.html", hosts: -1, err: ErrTruncated},
		{file: "missing-rows.html", hosts: -1, err: ErrTruncated},
		{file: "other-server.html", hosts: -1, err: ErrNotDarkstat},
		{file: "other-server-table.html", hosts: -1, err: ErrNotDarkstat},
		{file: "empty.html", hosts: -1, err: ErrNotDarkstat},
		{file: "not-html.html", hosts: -1, err: ErrNotDarkstat},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "html", tt.file)
			page, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			hosts, err := ParseHTML(page)
			checkGolden(t, strings.TrimSuffix(path, ".html")+".golden", summarize(hosts, err))
			switch {
			case tt.hosts < 0 && err == nil:
				t.Fatalf("no error, %d hosts", len(hosts))
			case tt.hosts >= 0 && err != nil:
				t.Fatalf("error: %v", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("error %q is not %q", err, tt.err)
			case err == nil:
				if len(hosts) != tt.hosts {
					t.Errorf("%d hosts, want %d", len(hosts), tt.hosts)
				}
				if hosts == nil {
					t.Error("nil hosts on success; want an empty slice")
				}
				checkHosts(t, hosts)
			}
		})
	}
	// Every fixture is in the table.
	files, _ := filepath.Glob("testdata/html/*.html")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s is not tested", f)
		}
	}
}

// TestParseHTMLRealValues pins a few rows of the real page by hand, so the
// golden files are not the only witness.
func TestParseHTMLRealValues(t *testing.T) {
	page, err := os.ReadFile("testdata/html/real-hosts-full.html")
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := ParseHTML(page)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Host{
		"10.250.99.1":    {In: 52613507, Out: 1337351},
		"fd00:250:99::2": {In: 2888, Out: 2013648},
		"ff02::2":        {In: 392, Out: 0},
	}
	for _, h := range hosts {
		if w, ok := want[h.IP.String()]; ok {
			if h.In != w.In || h.Out != w.Out {
				t.Errorf("%s: in=%d out=%d, want in=%d out=%d", h.IP, h.In, h.Out, w.In, w.Out)
			}
			delete(want, h.IP.String())
		}
	}
	for ip := range want {
		t.Errorf("%s missing", ip)
	}
}

func TestParseHTMLErrorsNameRow(t *testing.T) {
	page, _ := os.ReadFile("testdata/html/bad-number.html")
	_, err := ParseHTML(page)
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "12,3x4") {
		t.Errorf("error %v: want it to name row 2 and the bad text", err)
	}
}

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		file  string
		hosts int // -1: an error is expected
		err   error
	}{
		{file: "basic.prom", hosts: 3},
		{file: "multi-interface.prom", hosts: 2},
		{file: "escapes-timestamps-crlf.prom", hosts: 2},
		{file: "family-only.prom", hosts: 0},
		{file: "node-exporter.prom", hosts: -1, err: ErrNotDarkstat},
		{file: "html.prom", hosts: -1, err: ErrNotDarkstat},
		{file: "empty.prom", hosts: -1, err: ErrNotDarkstat},
		{file: "bad-dir.prom", hosts: -1},
		{file: "no-ip.prom", hosts: -1},
		{file: "bad-ip.prom", hosts: -1},
		{file: "negative.prom", hosts: -1},
		{file: "nan.prom", hosts: -1},
		{file: "inf.prom", hosts: -1},
		{file: "fraction.prom", hosts: -1},
		{file: "too-big.prom", hosts: -1},
		{file: "overflow-sum.prom", hosts: -1},
		{file: "duplicate-series.prom", hosts: -1},
		{file: "duplicate-label.prom", hosts: -1},
		{file: "unterminated.prom", hosts: -1},
		{file: "no-value.prom", hosts: -1},
		{file: "bad-timestamp.prom", hosts: -1},
		{file: "garbage-line.prom", hosts: -1},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "metrics", tt.file)
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			hosts, err := ParseMetrics(text)
			checkGolden(t, strings.TrimSuffix(path, ".prom")+".golden", summarize(hosts, err))
			switch {
			case tt.hosts < 0 && err == nil:
				t.Fatalf("no error, %d hosts", len(hosts))
			case tt.hosts >= 0 && err != nil:
				t.Fatalf("error: %v", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("error %q is not %q", err, tt.err)
			case err == nil:
				if len(hosts) != tt.hosts {
					t.Errorf("%d hosts, want %d", len(hosts), tt.hosts)
				}
				checkHosts(t, hosts)
			}
		})
	}
	files, _ := filepath.Glob("testdata/metrics/*.prom")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s is not tested", f)
		}
	}
}

func TestParseMetricsValues(t *testing.T) {
	text, _ := os.ReadFile("testdata/metrics/basic.prom")
	hosts, err := ParseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{IP: netip.MustParseAddr("10.1.2.1"), In: 0, Out: 7},
		{IP: netip.MustParseAddr("10.1.2.3"), In: 12345, Out: 126014316},
		{IP: netip.MustParseAddr("2001:db8::1"), In: 18446744073709551615, Out: 1000},
	}
	if fmt.Sprint(hosts) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", hosts, want)
	}
}

func TestParseCount(t *testing.T) {
	for s, want := range map[string]uint64{
		"0": 0, "999": 999, "1,000": 1000, " 52,613,507 ": 52613507, "1000": 1000,
		"18,446,744,073,709,551,615": 1<<64 - 1,
	} {
		if got, err := parseCount(s); err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", ",", "1,", ",1", "1,,0", "1.5", "-1", "+1", "1e3", "0x10", "18,446,744,073,709,551,616", "1 000"} {
		if got, err := parseCount(s); err == nil {
			t.Errorf("parseCount(%q) = %d, want an error", s, got)
		}
	}
}
