package promsrc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

// fakeAPI is a misbehaving Prometheus on loopback: it answers every query of
// a family with the same series (no matcher is applied), and count queries
// with the counts of those series by the asked labels unless counts says
// otherwise. Requests are counted and their Authorization headers kept.
type fakeAPI struct {
	series map[string][]series
	// counts, if set, answers count by (labels) queries instead.
	counts func(family string, labels []string) []series
	delay  time.Duration

	requests atomic.Int32
	mu       sync.Mutex
	auth     []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	q := r.FormValue("query")
	var fam string
	for _, fm := range families {
		if strings.Contains(q, fm.name+"{") {
			fam = fm.name
		}
	}
	var result []series
	if by, ok := strings.CutPrefix(q, "count by ("); ok {
		by, _, _ = strings.Cut(by, ")")
		labels := strings.Split(by, ", ")
		if f.counts != nil {
			result = f.counts(fam, labels)
		} else {
			n := map[string]int{}
			keys := map[string]map[string]string{}
			for _, s := range f.series[fam] {
				key := map[string]string{}
				for _, l := range labels {
					if v, ok := s.Metric[l]; ok {
						key[l] = v
					}
				}
				k := fmt.Sprint(key)
				keys[k] = key
				n[k]++
			}
			for k, c := range n {
				result = append(result, sample(keys[k], fmt.Sprint(c)))
			}
		}
	} else {
		result = f.series[fam]
	}
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (f *fakeAPI) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func sample(labels map[string]string, value string) series {
	v, _ := json.Marshal(value)
	return series{Metric: labels, Value: [2]json.RawMessage{json.RawMessage("1700000000"), v}}
}

// oneHost is web-1's series with the given values for its upstream
// sockets, traffic bytes, scan time and unowned sockets.
func oneHost(sockets, traffic, scanned, unowned string) map[string][]series {
	inst := map[string]string{"instance": "web-1:9100"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"instance": "web-1:9100", "local_hostgroup": "web"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return map[string][]series{
		metrics.Upstream.Name: {
			sample(with("local_address", "10.0.0.1", "port", "5432", "process_name", "app", "protocol", "tcp",
				"remote_address", "10.0.0.9", "remote_hostgroup", "db"), sockets),
			sample(with("local_address", "10.0.0.1", "port", "53", "process_name", "app", "protocol", "udp",
				"remote_address", "10.0.0.53", "remote_hostgroup", "dns"), "1"),
		},
		metrics.ServerProcess.Name: {sample(with("bind", "0.0.0.0:22", "port", "22", "process_name", "sshd", "protocol", "tcp"), "1")},
		metrics.Traffic.Name:       {sample(with("direction", "egress", "remote_ip", "10.0.0.9"), traffic)},
		metrics.ScanSuccess.Name:   {sample(map[string]string{"instance": "web-1:9100", "source": "sockets"}, "1")},
		metrics.ScanTimestamp.Name: {sample(inst, scanned)},
		metrics.ScanUnowned.Name:   {sample(inst, unowned)},
	}
}

// printable reports the first byte sequence of s a terminal could act on:
// a control character (C0, DEL, C1), an invisible format character such as
// a right-to-left override, or invalid UTF-8.
func printable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for i, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return fmt.Errorf("%U at byte %d", r, i)
		}
	}
	return nil
}

// TestURLErrorsHideCredentials: a --prometheus URL that does not parse is
// reported without its user or password, nor a piece of them.
func TestURLErrorsHideCredentials(t *testing.T) {
	for _, tt := range []struct {
		url, secret, want string
	}{
		// The attack case: a generated password with a stray '%'.
		{"http://alice:hunter%2@127.0.0.1:9/", "hunter%2", "percent-encode"},
		{"http://bob:Kq9%zzWv@prom:9090/", "bob:Kq9%zzWv", "percent-encode"},
		{"http://bob:Kq/9Wv@prom:9090/", "bob:Kq/9Wv", "percent-encode"},
		{"http://bob:Kq#9Wv@prom:9090/", "bob:Kq#9Wv", "percent-encode"},
		{"http://bob:Kq9Wv@[::1/", "bob:Kq9Wv", "percent-encode"},
		{"bob:Kq9Wv@prom:9090", "bob:Kq9Wv", "http://"},
		{"ftp://bob:Kq9Wv@prom/", "bob:Kq9Wv", "http://"},
		{"http://%zzbob:Kq9Wv@prom/", "%zzbob:Kq9Wv", "percent-encode"},
		{"http://[::1/", "", "missing ']'"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			_, _, err := Merge(context.Background(), Options{URL: tt.url}, graph.MergeOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error does not say %q", tt.want)
			}
			if strings.Contains(msg, "hunter") {
				t.Error("error shows the password")
			}
			// No piece of three characters of the user and password.
			for i := 0; tt.secret != "hunter%2" && i+3 <= len(tt.secret); i++ {
				if piece := tt.secret[i : i+3]; strings.Contains(msg, piece) {
					t.Errorf("error shows %q, a piece of the password %q", piece, tt.secret)
				}
			}
		})
	}
}

// TestServerTextIsSafe: whatever the server writes (error, error type,
// warnings, status line, a non-API body) reaches a message escaped and
// bounded: no escape sequence, newline or bidi override gets through.
func TestServerTextIsSafe(t *testing.T) {
	nasty := "boom\n\x1b[2J\x1b]0;owned\x07\u009b31m\u202egnp.exe\x7f"
	huge := strings.Repeat("x", 1<<20) + "\x1b[31m"
	apiError := func(code int, errType, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			b, _ := json.Marshal(map[string]string{"status": "error", "errorType": errType, "error": msg})
			w.WriteHeader(code)
			_, _ = w.Write(b)
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"error, HTTP 200", apiError(200, "execution", nasty)},
		{"error type", apiError(500, nasty, "x")},
		{"bad_data, HTTP 400", apiError(400, "bad_data", nasty)},
		{"unavailable, HTTP 503", apiError(503, "unavailable", nasty)},
		{"a megabyte of error", apiError(500, "internal", huge)},
		{"warnings", func(w http.ResponseWriter, _ *http.Request) {
			b, _ := json.Marshal(map[string]any{"status": "success", "warnings": []string{nasty, huge},
				"data": map[string]any{"resultType": "vector", "result": []any{}}})
			_, _ = w.Write(b)
		}},
		{"not the API", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html\x1b[2J")
			fmt.Fprint(w, nasty)
		}},
		{"labels in notes", func(w http.ResponseWriter, r *http.Request) {
			res := []series{sample(map[string]string{"instance": nasty, "local_hostgroup": nasty}, "NaN")}
			b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res}})
			_, _ = w.Write(b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, notes, err := Snapshots(context.Background(), Options{URL: srv.URL, Retries: -1})
			texts := make([]string, 0, len(notes)+1)
			for _, n := range notes {
				texts = append(texts, n.Msg)
			}
			if err != nil {
				texts = append(texts, err.Error())
			}
			if len(texts) == 0 {
				t.Fatal("neither an error nor a note")
			}
			for _, s := range texts {
				if bad := printable(s); bad != nil {
					t.Errorf("%s reaches the message raw: %q", bad, s)
				}
				if len(s) > 4*maxServerText {
					t.Errorf("message of %d bytes: the server's text is not bounded", len(s))
				}
			}
		})
	}

	// A status line that is not text: Go's client keeps its reason phrase.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				fmt.Fprint(c, "HTTP/1.1 403 \x1b[2JForbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}()
		}
	}()
	_, _, err = Snapshots(context.Background(), Options{URL: "http://" + l.Addr().String()})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("error %v, want ErrAuth", err)
	}
	if bad := printable(err.Error()); bad != nil {
		t.Errorf("status line reaches the message raw (%s): %q", bad, err)
	}
}

// TestNonFiniteValues: values that are no count, byte total or time (NaN,
// ±Inf, 1e300, negative, fractional) are warnings naming the series, never a
// wrapped or zero field; a count answer that is no count does not hide
// the family.
func TestNonFiniteValues(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := fmt.Sprint(at.Add(-time.Minute).Unix())
	tests := []struct {
		name           string
		sockets        string
		traffic        string
		scanned        string
		unowned        string
		counts         string // the answer to every count query, if not ""
		wantWarn       []string
		wantUpstream   int // upstream connections kept
		wantNoScanTime bool
	}{
		{name: "sane", sockets: "3", traffic: "100", scanned: now, unowned: "0", wantUpstream: 2},
		{name: "+Inf sockets", sockets: "+Inf", traffic: "100", scanned: now, unowned: "0", wantUpstream: 1,
			wantWarn: []string{`planet_upstream{`, `port="5432"`, `instance="web-1:9100"`, "+Inf", "not a count"}},
		{name: "fractional sockets", sockets: "2.5", traffic: "100", scanned: now, unowned: "0", wantUpstream: 1,
			wantWarn: []string{`planet_upstream{`, "2.5", "not a count"}},
		{name: "1e300 sockets", sockets: "1e300", traffic: "100", scanned: now, unowned: "0", wantUpstream: 1,
			wantWarn: []string{`planet_upstream{`, "1e300"}},
		{name: "NaN unowned", sockets: "1", traffic: "100", scanned: now, unowned: "NaN", wantUpstream: 2,
			wantWarn: []string{`planet_scan_unowned_sockets{instance="web-1:9100"}`, "NaN"}},
		{name: "+Inf traffic", sockets: "1", traffic: "+Inf", scanned: now, unowned: "0", wantUpstream: 2,
			wantWarn: []string{`planet_traffic_bytes_total{`, `remote_ip="10.0.0.9"`, "+Inf", "not a byte count"}},
		{name: "+Inf scan time", sockets: "1", traffic: "1", scanned: "+Inf", unowned: "0", wantUpstream: 2, wantNoScanTime: true,
			wantWarn: []string{`planet_scan_timestamp_seconds{instance="web-1:9100"}`, "+Inf", "window's start"}},
		{name: "1e300 scan time", sockets: "1", traffic: "1", scanned: "1e300", unowned: "0", wantUpstream: 2, wantNoScanTime: true,
			wantWarn: []string{`planet_scan_timestamp_seconds{instance="web-1:9100"}`, "1e300", "window's start"}},
		{name: "negative scan time", sockets: "1", traffic: "1", scanned: "-1", unowned: "0", wantUpstream: 2, wantNoScanTime: true,
			wantWarn: []string{`planet_scan_timestamp_seconds{`, "-1"}},
		{name: "+Inf counts", sockets: "1", traffic: "1", scanned: now, unowned: "0", counts: "+Inf", wantUpstream: 2,
			wantWarn: []string{"count of planet_upstream series by instance", `{instance="web-1:9100",local_hostgroup="web"}`, "+Inf"}},
		{name: "NaN counts", sockets: "1", traffic: "1", scanned: now, unowned: "0", counts: "NaN", wantUpstream: 2,
			wantWarn: []string{"count of planet_upstream series", "NaN"}},
		{name: "1e300 counts", sockets: "1", traffic: "1", scanned: now, unowned: "0", counts: "1e300", wantUpstream: 2,
			wantWarn: []string{"count of planet_upstream series", "1e300"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{series: oneHost(tt.sockets, tt.traffic, tt.scanned, tt.unowned)}
			if tt.counts != "" {
				f.counts = func(_ string, labels []string) []series {
					m := map[string]string{"instance": "web-1:9100"}
					if slices.Contains(labels, "local_hostgroup") {
						m["local_hostgroup"] = "web"
					}
					return []series{sample(m, tt.counts)}
				}
			}
			srv := f.start(t)
			snaps, notes, err := Snapshots(context.Background(), Options{URL: srv.URL, Time: at})
			if err != nil {
				t.Fatal(err)
			}
			var warns []string
			for _, n := range notes {
				if n.Level == graph.Warning {
					warns = append(warns, n.Msg)
				}
			}
			t.Log(strings.Join(warns, "\n"))
			for _, w := range tt.wantWarn {
				if !slices.ContainsFunc(warns, func(m string) bool { return strings.Contains(m, w) }) {
					t.Errorf("no warning says %q", w)
				}
			}
			if tt.wantWarn == nil && len(warns) > 0 {
				t.Errorf("warnings for sane values: %q", warns)
			}
			if len(snaps) != 1 {
				t.Fatalf("%d hosts, want 1", len(snaps))
			}
			s := snaps[0]
			up := 0
			for _, c := range s.Connections {
				if c.Sockets <= 0 || c.Sockets > maxCount {
					t.Errorf("connection %+v: sockets %d", c, c.Sockets)
				}
				up++
			}
			if up != tt.wantUpstream {
				t.Errorf("%d connections, want %d", up, tt.wantUpstream)
			}
			if s.UnownedSockets < 0 || s.UnownedSockets > maxCount {
				t.Errorf("unowned_sockets %d", s.UnownedSockets)
			}
			if s.Traffic != nil {
				for _, p := range s.Traffic.Peers {
					if p.EgressBytes != 100 && p.EgressBytes != 1 {
						t.Errorf("egress bytes %d, want the sane value or no peer", p.EgressBytes)
					}
				}
			}
			want := at.Add(-time.Minute)
			if tt.wantNoScanTime {
				want = at.Add(-DefaultLookback)
			}
			if !s.ScannedAt.Equal(want) {
				t.Errorf("scanned_at %s, want %s", s.ScannedAt, want)
			}
		})
	}
}

// TestRedirectKeepsCredentials: a redirect to another origin never
// receives the bearer token or the basic-auth password; within the origin
// given, and without credentials, redirects are followed.
func TestRedirectKeepsCredentials(t *testing.T) {
	other := &fakeAPI{series: oneHost("1", "1", fmt.Sprint(time.Now().Unix()), "0")}
	otherSrv := other.start(t)
	redirectTo := func(target string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		}
	}
	// The same origin, another path: followed with the token.
	same := &fakeAPI{series: other.series}
	mux := http.NewServeMux()
	mux.Handle("/new/", same)
	mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new/api/v1/query", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/away/", redirectTo(otherSrv.URL+"/api/v1/query"))
	front := httptest.NewServer(mux)
	defer front.Close()
	frontURL, _ := url.Parse(front.URL)
	// The same service under another name is another origin.
	mux.HandleFunc("/byname/", redirectTo("http://localhost:"+frontURL.Port()+"/new/api/v1/query"))

	// https to http on the same host and port: refused before connecting.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/api/v1/query", http.StatusTemporaryRedirect)
	}))
	defer tlsSrv.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withUser := func(base string) string {
		u, _ := url.Parse(base)
		u.User = url.UserPassword("alice", "pw-s3cret")
		return u.String()
	}
	tests := []struct {
		name      string
		opts      Options
		wantErr   error
		wantOther int32 // requests the other origin gets
		wantAuth  string
	}{
		{name: "token, other port", opts: Options{URL: front.URL + "/away/", BearerTokenFile: tokenFile}, wantErr: ErrRedirect},
		{name: "basic auth, other port", opts: Options{URL: withUser(front.URL) + "/away/"}, wantErr: ErrRedirect},
		{name: "no credentials, other port", opts: Options{URL: front.URL + "/away/"}, wantOther: 13},
		{name: "token, same origin", opts: Options{URL: front.URL + "/old/", BearerTokenFile: tokenFile}, wantAuth: "Bearer s3cret-token"},
		{name: "token, https to http", opts: Options{URL: tlsSrv.URL, BearerTokenFile: tokenFile, Client: tlsSrv.Client()}, wantErr: ErrRedirect},
		{name: "address to host name", opts: Options{URL: front.URL + "/byname/", BearerTokenFile: tokenFile}, wantErr: ErrRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other.requests.Store(0)
			other.auth, same.auth = nil, nil
			_, _, err := Snapshots(context.Background(), tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				t.Log(err)
				if !strings.Contains(err.Error(), "Options.URL") {
					t.Errorf("error %q gives no hint", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := other.requests.Load(); got != tt.wantOther {
				t.Errorf("the other origin got %d requests, want %d", got, tt.wantOther)
			}
			for _, a := range other.auth {
				if a != "" {
					t.Errorf("the other origin got Authorization %q", a)
				}
			}
			if tt.wantAuth != "" && (len(same.auth) == 0 || same.auth[0] != tt.wantAuth) {
				t.Errorf("same origin got Authorization %q, want %q", same.auth, tt.wantAuth)
			}
		})
	}
}

// TestQueryLimits: the counts a server reports cannot drive an unbounded
// number of queries, and the whole merge has a deadline.
func TestQueryLimits(t *testing.T) {
	now := fmt.Sprint(time.Now().Unix())
	// claim answers the census with hosts instances of each series of
	// every record family, and the per-host families' counts with one
	// series an instance.
	claim := func(hosts, each int) func(string, []string) []series {
		return func(_ string, labels []string) []series {
			n := each
			if len(labels) == 1 {
				n = 1
			}
			out := make([]series, hosts)
			for i := range out {
				out[i] = sample(map[string]string{"instance": fmt.Sprintf("i%d:9100", i)}, fmt.Sprint(n))
			}
			return out
		}
	}
	tests := []struct {
		name        string
		api         *fakeAPI
		opts        Options
		wantErr     error
		wantMsg     []string
		maxRequests int32
	}{
		// 4 census queries, a count and a fetch for each of the 3 per-host
		// families, and a fetch of the 3 record families web-1 has.
		{name: "a small fleet fits", api: &fakeAPI{series: oneHost("1", "1", now, "0")}, maxRequests: 13},
		// Refused after the census and the per-host families, before the
		// first record query.
		{name: "200 hosts above max-series", api: &fakeAPI{counts: claim(200, DefaultMaxSeries+1)},
			wantErr: ErrTooManyQueries, wantMsg: []string{"of 200 hosts", "800 queries", "190 of the limit", "Options.MaxQueries 200", "Options.Selector"}, maxRequests: 10},
		{name: "2000 hosts above max-series", api: &fakeAPI{counts: claim(2000, 20001)},
			wantErr: ErrTooManyQueries, wantMsg: []string{"8000 queries"}, maxRequests: 10},
		// 3000 hosts of 5 series a family fit 20,000 series a query, but
		// not maxBatchHosts: three batches a family, 12 queries.
		{name: "hosts packed into batches", api: &fakeAPI{counts: claim(3000, 5)}, maxRequests: 22},
		// Two hosts of 60 series do not fit a query of 100: 100 a family.
		{name: "a lower max-series", api: &fakeAPI{counts: claim(100, 60)}, opts: Options{MaxSeries: 100},
			wantErr: ErrTooManyQueries, wantMsg: []string{"400 queries", "Options.MaxSeries 100"}, maxRequests: 10},
		{name: "a lower limit", api: &fakeAPI{series: oneHost("1", "1", now, "0")}, opts: Options{MaxQueries: 5},
			wantErr: ErrTooManyQueries, wantMsg: []string{"5 queries sent", "Options.MaxQueries"}, maxRequests: 5},
		// Answers that take 100ms each: within 350ms, at most 4 rounds of
		// Options.Parallel queries in flight.
		{name: "deadline", api: &fakeAPI{series: oneHost("1", "1", now, "0"), delay: 100 * time.Millisecond},
			opts: Options{Deadline: 350 * time.Millisecond}, wantErr: ErrDeadline, wantMsg: []string{"350ms", "Options.Deadline", "queries sent"}, maxRequests: 4 * DefaultParallel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.api.start(t)
			opts := tt.opts
			opts.URL = srv.URL
			start := time.Now()
			_, _, err := Snapshots(context.Background(), opts)
			took := time.Since(start)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				t.Log(err)
				for _, m := range tt.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error does not say %q", m)
					}
				}
			}
			if got := tt.api.requests.Load(); got > tt.maxRequests {
				t.Errorf("%d requests, want at most %d", got, tt.maxRequests)
			}
			if opts.Deadline > 0 && took > opts.Deadline+time.Second {
				t.Errorf("took %s with a deadline of %s", took, opts.Deadline)
			}
		})
	}
}

// TestStreamsHosts: a host goes to the merger as soon as every record
// family's batch holding it is in, not after the last query; all hosts are
// declared before the first is added, in instance order.
func TestStreamsHosts(t *testing.T) {
	f := &fakeAPI{counts: func(_ string, labels []string) []series {
		// 5 series of each record family (with MaxSeries 5, a batch
		// each), 1 of each per-host family (counted by instance alone).
		n := "5"
		if len(labels) == 1 {
			n = "1"
		}
		out := make([]series, 3)
		for i := range out {
			out[i] = sample(map[string]string{"instance": fmt.Sprintf("i%d:9100", i)}, n)
		}
		return out
	}}
	srv := f.start(t)
	var declared, added []string
	var requestsAt []int32
	notes, err := stream(context.Background(), Options{URL: srv.URL, MaxSeries: 5}, time.Now(),
		func(h snapshot.Host) {
			if len(added) > 0 {
				t.Errorf("%s declared after a host was added", h.Hostname)
			}
			declared = append(declared, h.Hostname)
		},
		func(s *snapshot.Snapshot) error {
			added = append(added, s.Host.Hostname)
			requestsAt = append(requestsAt, f.requests.Load())
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"i0", "i1", "i2"}
	if !slices.Equal(declared, want) || !slices.Equal(added, want) {
		t.Fatalf("declared %v, added %v; want %v both", declared, added, want)
	}
	// 4 census queries, 3 per-host families (count and fetch), then 3
	// batches of each of the 4 record families: 22 in all.
	total := f.requests.Load()
	if total != 22 {
		t.Errorf("%d requests, want 22 (notes %v)", total, notes)
	}
	if requestsAt[0] >= total {
		t.Errorf("the first host was added after request %d of %d: not streamed", requestsAt[0], total)
	}
}
