//go:build e2e

package promsrc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	planetfleet "github.com/planetdeps/planet/fleet"
	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

// TestPrometheus is the acceptance test of merge --prometheus: the fixture
// fleet's snapshots are rendered to textfiles, each served by its own
// node_exporter, scraped by a real Prometheus (basic auth on), and the graph
// merged through the API must equal the graph merged from the snapshot
// files, on every field metrics carry. A stray host scraped by another job
// shows that --selector works. Then every error case against the real
// server.
func TestPrometheus(t *testing.T) {
	promBin := testenv.NeedCommand(t, "prometheus", "prometheus")
	neBin := testenv.NeedCommand(t, "prometheus-node-exporter", "prometheus-node-exporter")
	if testing.Short() {
		t.Skip("starts Prometheus and node_exporters")
	}
	snaps := fleet()
	stray := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: scanTime,
		Host: snapshot.Host{Hostname: "stray-1", Addresses: []netip.Addr{ip("10.77.0.1")}, Hostgroup: "web"},
		Connections: []snapshot.Connection{{Direction: snapshot.Upstream, Protocol: "tcp", Port: 25, Process: "exim4",
			RemoteIP: ip("10.77.0.25"), Sockets: 1}},
	}

	// The file merge, exactly as planet merge DIR does it.
	files := t.TempDir()
	var targets []target
	for _, s := range append(cloneSnaps(snaps), stray) {
		dir := t.TempDir()
		if err := metrics.WriteTextfileDir(dir, s); err != nil {
			t.Fatal(err)
		}
		job := "planet"
		if s == stray {
			job = "other"
		} else {
			f, err := os.Create(filepath.Join(files, s.Host.Hostname+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := snapshot.Write(f, s); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		targets = append(targets, target{job: job, addr: startNodeExporter(t, neBin, dir), instance: s.Host.Hostname + ":9100"})
	}
	base := startPrometheus(t, promBin, targets, "")
	waitFor(t, base, "count(planet_scan_timestamp_seconds)", strconv.Itoa(len(targets)), 30*time.Second)
	// One more scrape, so every family of every target is in.
	waitFor(t, base, "count(count_over_time(planet_scan_timestamp_seconds[1m]) >= 2)", strconv.Itoa(len(targets)), 30*time.Second)

	ctx := context.Background()
	at := time.Now()
	good := Options{URL: authURL(base), Selector: `{job="planet"}`, Time: at, RetryBackoff: time.Millisecond}

	for _, mo := range []graph.MergeOptions{{}, {By: graph.ByHost}, {External: graph.MustParseExternal("collapse")}} {
		want, _, err := planetfleet.MergeInputs(ctx, []string{files}, nil, planetfleet.InputOptions{}, mo)
		if err != nil {
			t.Fatal(err)
		}
		carried(want)
		for _, maxSeries := range []int{0, 3} {
			t.Run("equal/"+string(mo.By)+mo.External.String()+"/max-series-"+strconv.Itoa(maxSeries), func(t *testing.T) {
				opts := good
				opts.MaxSeries = maxSeries
				got, notes, err := Merge(ctx, opts, mo)
				for _, n := range notes {
					t.Log(n)
				}
				if err != nil {
					t.Fatal(err)
				}
				if diff := graphDiff(t, want, got); diff != "" {
					t.Errorf("graph from Prometheus differs from the file merge (-files +prometheus):\n%s", diff)
				}
			})
		}
	}

	t.Run("split", func(t *testing.T) {
		// With 3 series a query the hosts go in batches of their own or
		// two (web-1 and web-2 have 4 upstream series each, db-1 1,
		// tools-1 2), and the per-host families are split by instance.
		queries := func(maxSeries int) int {
			opts := good
			opts.MaxSeries = maxSeries
			_, notes, err := Snapshots(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range notes {
				var hosts, q int
				if _, err := fmt.Sscanf(n.Msg, "%d hosts from %d queries", &hosts, &q); err == nil {
					return q
				}
			}
			t.Fatalf("no note gives the queries: %v", notes)
			return 0
		}
		whole, split := queries(0), queries(3)
		if split < whole+5 {
			t.Errorf("%d queries with 3 series a query, %d without; the split should take at least 5 more", split, whole)
		}
	})

	t.Run("no selector takes every job", func(t *testing.T) {
		opts := good
		opts.Selector = ""
		g, _, err := Merge(ctx, opts, graph.MergeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Snapshots != len(snaps)+1 || !contains(g.Node("web").Hosts, "stray-1") {
			t.Errorf("%d snapshots, web hosts %v; want %d and stray-1 among them", g.Snapshots, g.Node("web").Hosts, len(snaps)+1)
		}
	})

	t.Run("max-age", func(t *testing.T) {
		opts := good
		// web-1 was scanned 10s before scanTime, web-2 20s, tools-1 30s.
		opts.MaxAge = at.Sub(scanTime) + 15*time.Second
		s, notes, err := Snapshots(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, x := range s {
			names = append(names, x.Host.Hostname)
		}
		if strings.Join(names, ",") != "db-1,web-1" {
			t.Errorf("hosts %v, want db-1 and web-1", names)
		}
		if !anyNote(notes, "tools-1:9100 left out") {
			t.Errorf("no note for tools-1: %v", notes)
		}
	})

	// A proxy in front of the real server: bearer token auth, and 503s.
	var unavailable atomic.Int32
	const token = "s3cret-token"
	proxy := httputil.NewSingleHostReverseProxy(mustURL(t, base))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		if unavailable.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		r.Header.Del("Authorization")
		r.SetBasicAuth(testUser, testPassword)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badTokenFile := filepath.Join(t.TempDir(), "bad-token")
	if err := os.WriteFile(badTokenFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}

	closed := "http://" + freeAddr(t)
	tests := []struct {
		name        string
		change      func(o *Options)
		unavailable int32
		wantErr     error
		wantMsg     []string
	}{
		{name: "bearer token through a proxy", change: func(o *Options) { o.URL, o.BearerTokenFile = front.URL, tokenFile }},
		{name: "503 twice, then success", change: func(o *Options) { o.URL, o.BearerTokenFile = front.URL, tokenFile }, unavailable: 2},
		{name: "503 until the retries run out", change: func(o *Options) { o.URL, o.BearerTokenFile, o.Retries = front.URL, tokenFile, 2 },
			unavailable: 100, wantErr: ErrUnavailable, wantMsg: []string{"503", "gave up after 3 attempts"}},
		{name: "wrong bearer token", change: func(o *Options) { o.URL, o.BearerTokenFile = front.URL, badTokenFile },
			wantErr: ErrAuth, wantMsg: []string{"401", "Options.BearerTokenFile"}},
		{name: "bad selector", change: func(o *Options) { o.Selector = `{job=~"("}` },
			wantErr: ErrBadQuery, wantMsg: []string{"bad_data", "missing closing )", `job=~"("`}},
		{name: "selector with a metric name", change: func(o *Options) { o.Selector = `up{job="node"}` },
			wantMsg: []string{"Options.Selector", "braces"}},
		{name: "unreachable", change: func(o *Options) { o.URL = closed },
			wantErr: ErrUnreachable, wantMsg: []string{closed, "connection refused"}},
		{name: "no credentials", change: func(o *Options) { o.URL = base },
			wantErr: ErrAuth, wantMsg: []string{"401 Unauthorized", "no credentials"}},
		{name: "wrong password", change: func(o *Options) { o.URL = strings.Replace(authURL(base), testPassword, "nope", 1) },
			wantErr: ErrAuth, wantMsg: []string{"401", "user and password"}},
		{name: "password never printed", change: func(o *Options) { o.URL = strings.Replace(authURL(base), testPassword, "hunter2", 1) },
			wantErr: ErrAuth},
		{name: "not the API", change: func(o *Options) { o.URL = authURL(base) + "/nope" },
			wantErr: ErrProtocol, wantMsg: []string{"404"}},
		{name: "answer above the size limit", change: func(o *Options) { o.MaxResponseBytes = 200 },
			wantErr: ErrTooLarge, wantMsg: []string{"200 bytes", "Options.MaxSeries"}},
		{name: "nothing in the window", change: func(o *Options) { o.Time, o.Lookback = at.Add(-24*time.Hour), time.Minute },
			wantErr: ErrNoSeries, wantMsg: []string{`{job="planet"}`}},
		{name: "missing token file", change: func(o *Options) { o.BearerTokenFile = filepath.Join(t.TempDir(), "none") },
			wantMsg: []string{"Options.BearerTokenFile", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.change(&opts)
			unavailable.Store(tt.unavailable)
			g, _, err := Merge(ctx, opts, graph.MergeOptions{})
			if tt.wantErr == nil && tt.wantMsg == nil {
				if err != nil {
					t.Fatal(err)
				}
				if g.Snapshots != len(snaps) {
					t.Errorf("%d snapshots, want %d", g.Snapshots, len(snaps))
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %q", err, tt.wantErr)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			for _, secret := range []string{testPassword, "hunter2", "nope@", token} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func cloneSnaps(s []*snapshot.Snapshot) []*snapshot.Snapshot {
	return append([]*snapshot.Snapshot(nil), s...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func anyNote(notes []graph.Note, substr string) bool {
	for _, n := range notes {
		if strings.Contains(n.Msg, substr) {
			return true
		}
	}
	return false
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
