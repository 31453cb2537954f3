//go:build e2e

package cli_test

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// TestInventoryOutage: cron scans against a real inventory server on
// loopback that goes down. While it is down the last good inventory keeps
// every label where it was, the textfile says the fetch failed and how old
// the labels are, and stderr warns; one bad entry in the feed costs that
// entry only.
func TestInventoryOutage(t *testing.T) {
	planet := buildPlanet(t, t.TempDir())
	fixture, err := filepath.Abs("../../testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	const feed = `[
  {"ip_address": "10.1.0.5", "domain": "web-1.service.consul", "hostgroup": "web"},
  {"ip_address": "10.3.0.0/24", "domain": "db.service.consul", "hostgroup": "db"},
  {"ip_address": "10.300.0.1", "hostgroup": "typo"}
]`
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(feed))
	}))
	defer srv.Close()
	state, textfiles, work := t.TempDir(), t.TempDir(), t.TempDir()
	env := planetEnv(t)

	scan := func(name string, extra ...string) (*snapshot.Snapshot, string, string, int) {
		t.Helper()
		out := filepath.Join(work, name+".json")
		args := append([]string{"scan", "--proc-root", fixture, "--inventory", srv.URL + "/hosts.json", "--timeout", "2s",
			"--textfile-dir", textfiles, "-o", out, "--state-dir", state}, extra...)
		c := exec.Command(planet, args...)
		c.Env = env
		var stderr bytes.Buffer
		c.Stderr = &stderr
		c.Run()
		f, err := os.Open(out)
		if err != nil {
			t.Fatalf("%s: no snapshot: %v\n%s", name, err, stderr.String())
		}
		defer f.Close()
		s, err := snapshot.Read(f, out)
		if err != nil {
			t.Fatal(err)
		}
		prom, err := os.ReadFile(filepath.Join(textfiles, "planet.prom"))
		if err != nil {
			t.Fatal(err)
		}
		return s, string(prom), stderr.String(), c.ProcessState.ExitCode()
	}
	labels := func(s *snapshot.Snapshot) string {
		var b strings.Builder
		b.WriteString(s.Host.Hostgroup + "/" + s.Host.Domain)
		for _, c := range s.Connections {
			b.WriteString(" " + c.RemoteIP.String() + "=" + c.RemoteHostgroup + "/" + c.RemoteDomain)
		}
		return b.String()
	}
	metric := func(prom, series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(prom)
		if m == nil {
			t.Fatalf("no %s in the textfile:\n%s", series, prom)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	good, prom, stderr, code := scan("good")
	if code != 0 {
		t.Fatalf("good scan: exit %d\n%s", code, stderr)
	}
	if good.Host.Hostgroup != "web" || !strings.Contains(labels(good), "10.3.0.9=db/db.service.consul") {
		t.Fatalf("good scan: labels %s", labels(good))
	}
	if !strings.Contains(stderr, `msg="inventory entry skipped: bad ip_address" source=`+srv.URL+`/hosts.json entry=2 line=4`) {
		t.Errorf("no warning naming the bad entry:\n%s", stderr)
	}
	for series, want := range map[string]float64{
		`planet_scan_success{source="inventory"}`: 1, "planet_inventory_age_seconds": 0, "planet_inventory_skipped_entries": 1,
	} {
		if got := metric(prom, series); got != want {
			t.Errorf("good scan: %s = %v, want %v", series, got, want)
		}
	}

	down.Store(true)
	outage, prom, stderr, code := scan("outage")
	if code != 0 {
		t.Errorf("scan during the outage: exit %d, want 0 (a warning)\n%s", code, stderr)
	}
	if got, want := labels(outage), labels(good); got != want {
		t.Errorf("the outage relabelled the scan:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "using the last good copy") || !strings.Contains(stderr, "503") {
		t.Errorf("no warning saying the kept inventory is used, and why:\n%s", stderr)
	}
	if got := metric(prom, `planet_scan_success{source="inventory"}`); got != 0 {
		t.Errorf("outage: inventory success %v, want 0", got)
	}
	var src *snapshot.Source
	for i := range outage.Sources {
		if outage.Sources[i].Name == snapshot.SourceInventory {
			src = &outage.Sources[i]
		}
	}
	if src == nil || src.OK || src.FetchedAt == nil || !strings.Contains(src.Error, "503") ||
		src.FetchedAt.Before(good.ScannedAt.Add(-time.Second)) || src.FetchedAt.After(good.ScannedAt.Add(time.Second)) {
		t.Fatalf("outage: inventory source %+v, want the failure and the kept copy's fetch time", src)
	}
	// The age is the kept copy's (fetched by the good scan), as of this
	// scan, in whole seconds: no waiting needed to tell it from a fresh
	// fetch, which the fetch time above already does.
	if age, want := metric(prom, "planet_inventory_age_seconds"), math.Round(max(0, outage.ScannedAt.Sub(*src.FetchedAt).Seconds())); age != want {
		t.Errorf("outage: planet_inventory_age_seconds %v, want the kept copy's age %v", age, want)
	}

	// --strict makes the fallback an exit status too; the snapshot is still
	// written, labelled.
	strict, _, _, code := scan("strict", "--strict")
	if code != 1 || labels(strict) != labels(good) {
		t.Errorf("--strict during the outage: exit %d, labels %s; want 1 and the kept labels", code, labels(strict))
	}

	// Nothing listening at all.
	srv.Close()
	gone, _, stderr, code := scan("gone")
	if code != 0 || labels(gone) != labels(good) {
		t.Errorf("server gone: exit %d, labels %s; want 0 and the kept labels\n%s", code, labels(gone), stderr)
	}

	// Without a kept copy the outage is what it was: a failed scan with no
	// labels.
	state = t.TempDir()
	bare, _, _, code := scan("no-copy")
	if code != 1 || bare.Host.Hostgroup != "" {
		t.Errorf("no kept copy: exit %d, host hostgroup %q; want 1 and none", code, bare.Host.Hostgroup)
	}
}
