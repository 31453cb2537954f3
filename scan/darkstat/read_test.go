package darkstat

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/snapshot"
)

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeDarkstat serves saved darkstat 3.0.719 pages under base ("/" or
// "/ds/" for --base), plus metrics (basic.prom) at base+"metrics" when
// withMetrics, as a newer build would. It records the request URIs.
type fakeDarkstat struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newFakeDarkstat(t *testing.T, base string, withMetrics bool) *fakeDarkstat {
	graphs := fixture(t, "html/real-graphs.html")
	full := fixture(t, "html/real-hosts-full.html")
	page1 := fixture(t, "html/real-hosts-page1.html")
	notFound := fixture(t, "html/real-404.html")
	metrics := fixture(t, "metrics/basic.prom")
	f := &fakeDarkstat{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.URL.RequestURI())
		f.mu.Unlock()
		w.Header().Set("Server", "darkstat/3.0.719")
		switch {
		case r.URL.Path == base:
			w.Write(graphs)
		case r.URL.Path == base+"hosts/" && r.URL.Query().Get("full") == "yes":
			w.Write(full)
		case r.URL.Path == base+"hosts/":
			w.Write(page1)
		case r.URL.Path == base+"metrics" && withMetrics:
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Write(metrics)
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write(notFound)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDarkstat) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

var quick = fetch.Options{Timeout: 5 * time.Second, MaxBytes: 1 << 20}

func TestReadDetects(t *testing.T) {
	tests := []struct {
		name        string
		base        string // where the fake darkstat lives
		withMetrics bool
		path        string // what the user gives, after the server's address
		wantPath    string // Result.URL after the address
		wantFormat  string
		wantHosts   int
	}{
		{"base of 3.0.719", "/", false, "/", "/hosts/?full=yes", FormatHTML, 43},
		{"base without slash", "/", false, "", "/hosts/?full=yes", FormatHTML, 43},
		{"hosts page", "/", false, "/hosts/", "/hosts/?full=yes", FormatHTML, 43},
		{"hosts without slash", "/", false, "/hosts", "/hosts/?full=yes", FormatHTML, 43},
		{"hosts sorted and paged", "/", false, "/hosts/?sort=in&start=30", "/hosts/?full=yes&sort=in", FormatHTML, 43},
		{"full table given", "/", false, "/hosts/?full=yes&sort=lastseen", "/hosts/?full=yes&sort=lastseen", FormatHTML, 43},
		{"--base", "/darkstat/", false, "/darkstat/", "/darkstat/hosts/?full=yes", FormatHTML, 43},
		{"base of newer build", "/", true, "/", "/metrics", FormatMetrics, 3},
		{"metrics page", "/", true, "/metrics", "/metrics", FormatMetrics, 3},
		{"hosts page of newer build", "/", true, "/hosts/", "/hosts/?full=yes", FormatHTML, 43},
		{"--base newer build", "/ds/", true, "/ds/", "/ds/metrics", FormatMetrics, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeDarkstat(t, tt.base, tt.withMetrics)
			res, err := Read(context.Background(), srv.URL+tt.path, quick)
			if err != nil {
				t.Fatalf("Read: %v (requests %v)", err, srv.seen())
			}
			if res.URL != srv.URL+tt.wantPath || res.Format != tt.wantFormat || len(res.Hosts) != tt.wantHosts {
				t.Errorf("read %s as %s with %d hosts; want %s as %s with %d hosts (requests %v)",
					res.URL, res.Format, len(res.Hosts), srv.URL+tt.wantPath, tt.wantFormat, tt.wantHosts, srv.seen())
			}
			checkHosts(t, res.Hosts)
		})
	}
}

// A URL that is neither /hosts/ nor /metrics but serves the metrics text
// (e.g. behind a proxy) is read by its content.
func TestReadMetricsByContent(t *testing.T) {
	metrics := fixture(t, "metrics/multi-interface.prom")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(metrics) }))
	defer srv.Close()
	res, err := Read(context.Background(), srv.URL+"/darkstat-export", quick)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatMetrics || len(res.Hosts) != 2 || res.Hosts[0].In != 1100 {
		t.Errorf("got %+v", res)
	}
}

func TestReadFile(t *testing.T) {
	res, err := Read(context.Background(), "testdata/html/real-hosts-full.html", quick)
	if err != nil || res.Format != FormatHTML || len(res.Hosts) != 43 {
		t.Fatalf("html file: %+v, %v", res, err)
	}
	res, err = Read(context.Background(), "testdata/metrics/basic.prom", quick)
	if err != nil || res.Format != FormatMetrics || len(res.Hosts) != 3 {
		t.Fatalf("metrics file: %+v, %v", res, err)
	}
}

// TestReadFailures: every way a darkstat can be wrong is an error that
// names the URL and says what went wrong, and comes back fast.
func TestReadFailures(t *testing.T) {
	page := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Write(body) }
	}
	huge := []byte("<html>" + strings.Repeat("<p>darkstat?</p>\n", 100_000) + "</html>")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		path    string
		opts    fetch.Options
		kind    error    // errors.Is, if set
		words   []string // the message contains each
	}{
		{
			name: "slow server",
			handler: func(w http.ResponseWriter, r *http.Request) {
				select { // hang until the client gives up
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			path:  "/",
			opts:  fetch.Options{Timeout: 200 * time.Millisecond},
			kind:  context.DeadlineExceeded,
			words: []string{"within 200ms"},
		},
		{
			name: "slow body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(fixture(t, "html/real-hosts-full.html")[:500])
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			path:  "/hosts/",
			opts:  fetch.Options{Timeout: 200 * time.Millisecond},
			kind:  context.DeadlineExceeded,
			words: []string{"within 200ms"},
		},
		{
			name:    "huge page",
			handler: page(huge),
			path:    "/hosts/",
			opts:    fetch.Options{MaxBytes: 64 << 10},
			kind:    fetch.ErrTooLarge,
			words:   []string{"limit"},
		},
		{
			name: "huge page, no length announced",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for range 100 {
					w.Write(huge[:20_000])
					w.(http.Flusher).Flush()
				}
			},
			path:  "/",
			opts:  fetch.Options{MaxBytes: 64 << 10},
			kind:  fetch.ErrTooLarge,
			words: []string{"limit"},
		},
		{
			name:    "500",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
			path:    "/",
			words:   []string{"HTTP 500"},
		},
		{
			name:    "other web server",
			handler: page(fixture(t, "html/other-server.html")),
			path:    "/",
			kind:    ErrNotDarkstat,
		},
		{
			name:    "other server at /hosts/",
			handler: page(fixture(t, "html/other-server-table.html")),
			path:    "/hosts/",
			kind:    ErrNotDarkstat,
		},
		{
			name:    "empty body",
			handler: page(nil),
			path:    "/",
			kind:    ErrNotDarkstat,
			words:   []string{"empty"},
		},
		{
			name:    "binary garbage",
			handler: page([]byte("\x00\x01\x02\xff garbage")),
			path:    "/",
			kind:    ErrNotDarkstat,
		},
		{
			name:    "truncated page",
			handler: page(fixture(t, "html/truncated-mid-row.html")),
			path:    "/hosts/",
			kind:    ErrTruncated,
		},
		{
			name:    "bad number",
			handler: page(fixture(t, "html/bad-number.html")),
			path:    "/hosts/",
			words:   []string{"row 2", "12,3x4"},
		},
		{
			name:    "no host table at /hosts/",
			handler: page(fixture(t, "html/real-graphs.html")),
			path:    "/hosts/",
			kind:    ErrNoHostTable,
		},
		{
			name: "darkstat graphs page, but /hosts/ broken",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/" {
					w.Write(fixture(t, "html/real-graphs.html"))
					return
				}
				http.NotFound(w, r)
			},
			path:  "/",
			words: []string{"is darkstat", "/hosts/?full=yes: HTTP 404", "/metrics: HTTP 404"},
		},
		{
			name:    "paged even with full=yes",
			handler: page(fixture(t, "html/real-hosts-page1.html")),
			path:    "/hosts/",
			kind:    ErrPartial,
		},
		{
			name:    "/metrics of 3.0.719",
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			path:    "/metrics",
			words:   []string{"/metrics: HTTP 404"},
		},
		{
			name:    "/metrics of another exporter",
			handler: page(fixture(t, "metrics/node-exporter.prom")),
			path:    "/metrics",
			kind:    ErrNotDarkstat,
			words:   []string{"host_bytes_total"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			url := srv.URL + tt.path
			start := time.Now()
			res, err := Read(context.Background(), url, tt.opts)
			if err == nil {
				t.Fatalf("no error; read %s as %s with %d hosts", res.URL, res.Format, len(res.Hosts))
			}
			t.Logf("error: %v", err)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s", took)
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error does not name the URL %s", srv.URL)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error is not %v", tt.kind)
			}
			for _, w := range tt.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q", w)
				}
			}
		})
	}
}

func TestReadCancelled(t *testing.T) {
	srv := newFakeDarkstat(t, "/", false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, srv.URL+"/", quick); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestPeers(t *testing.T) {
	addr := netip.MustParseAddr
	local := map[netip.Addr]bool{addr("10.0.0.1"): true, addr("fd00::1"): true}
	res := &Result{Hosts: []Host{
		{IP: addr("0.0.0.0"), In: 1, Out: 1},
		{IP: addr("10.0.0.1"), In: 500, Out: 600}, // this host
		{IP: addr("10.0.0.2"), In: 10, Out: 20},
		{IP: addr("10.0.0.9"), In: 1, Out: 2},
		{IP: addr("127.0.0.1"), In: 5, Out: 5},
		{IP: addr("224.0.0.251"), In: 7, Out: 0},
		{IP: addr("255.255.255.255"), In: 7, Out: 0},
		{IP: addr("::ffff:10.0.0.1"), In: 3, Out: 3}, // this host, mapped
		{IP: addr("::ffff:10.0.0.9"), In: 100, Out: 200},
		{IP: addr("2001:db8::7"), In: 1000, Out: 2000},
		{IP: addr("fd00::1"), In: 9, Out: 9}, // this host
		{IP: addr("ff02::1:ff00:1"), In: 72, Out: 0},
	}}
	got := res.Peers(func(a netip.Addr) bool { return local[a] })
	want := []snapshot.Peer{
		{RemoteIP: addr("10.0.0.2"), IngressBytes: 20, EgressBytes: 10},
		{RemoteIP: addr("10.0.0.9"), IngressBytes: 202, EgressBytes: 101},
		{RemoteIP: addr("2001:db8::7"), IngressBytes: 2000, EgressBytes: 1000},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("peer %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if p := (&Result{}).Peers(nil); p == nil || len(p) != 0 {
		t.Errorf("no hosts: %#v, want an empty slice", p)
	}
	big := (&Result{Hosts: []Host{
		{IP: addr("10.0.0.5"), In: 1<<64 - 1}, {IP: addr("::ffff:10.0.0.5"), In: 5},
	}}).Peers(nil)
	if big[0].EgressBytes != 1<<64-1 {
		t.Errorf("sum past 64 bits: %d, want it to saturate", big[0].EgressBytes)
	}
}
