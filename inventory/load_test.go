package inventory

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
)

const arrayDoc = `[{"ip_address": "10.1.2.3", "domain": "xyz.service.consul", "hostgroup": "xyz"},
 {"ip_address": "10.2.0.0/16", "domain": "debugapp.service.consul", "hostgroup": "debugapp"},
 {"ip_address": "10.9.9.9", "extra": true}]`

const ndjsonDoc = `{"ip_address": "10.1.2.3", "domain": "xyz.service.consul", "hostgroup": "xyz"}
{"ip_address": "10.2.0.0/16", "domain": "debugapp.service.consul", "hostgroup": "debugapp"}
`

// serve answers every request with status and body.
func serve(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/inventory"
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		format Format
		len    int
	}{
		{"array", arrayDoc, "", 2},
		{"ndjson auto", ndjsonDoc, FormatAuto, 2},
		{"ndjson named", ndjsonDoc, FormatNDJSON, 2},
		{"array named", arrayDoc, FormatArray, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, http.StatusOK, tt.body)
			var logs bytes.Buffer
			inv, err := Load(context.Background(), url, Options{Format: tt.format, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if inv.Len() != tt.len || inv.Source() != url {
				t.Errorf("Len %d, Source %q; want %d, %q", inv.Len(), inv.Source(), tt.len, url)
			}
			checkLookup(t, inv, hit{"10.1.2.3", "10.1.2.3/32", "xyz", "xyz.service.consul"})
			checkLookup(t, inv, hit{"10.2.7.7", "10.2.0.0/16", "debugapp", "debugapp.service.consul"})
			if strings.Contains(tt.body, "10.9.9.9") && !strings.Contains(logs.String(), "neither domain nor hostgroup") {
				t.Errorf("no warning for the skipped entry; log:\n%s", logs.String())
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	slowHeaders := func(w http.ResponseWriter, r *http.Request) {
		select { // return once the client gives up, so srv.Close does not wait
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	slowBody := func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"ip_address": "10.1.2.3", "hostgroup": "a"},`))
		w.(http.Flusher).Flush()
		slowHeaders(w, r)
	}
	huge := strings.Repeat(`{"ip_address": "10.1.2.3", "hostgroup": "a"}`+"\n", 100) // 4,500 bytes
	hugeChunked := func(w http.ResponseWriter, r *http.Request) {
		for range 100 { // flushing each line keeps Content-Length unknown
			w.Write([]byte(`{"ip_address": "10.1.2.3", "hostgroup": "a"}` + "\n"))
			w.(http.Flusher).Flush()
		}
	}
	fixed := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    Options
		want    []string
		is      error
	}{
		{name: "404", handler: fixed(http.StatusNotFound, "no such thing"), want: []string{"404"}},
		{name: "500", handler: fixed(http.StatusInternalServerError, "[]"), want: []string{"500 Internal Server Error"}},
		{name: "slow headers", handler: slowHeaders, opts: Options{Timeout: 200 * time.Millisecond},
			want: []string{"200ms"}, is: context.DeadlineExceeded},
		{name: "slow body", handler: slowBody, opts: Options{Timeout: 200 * time.Millisecond},
			want: []string{"200ms"}, is: context.DeadlineExceeded},
		{name: "huge body", handler: fixed(http.StatusOK, huge), opts: Options{MaxBytes: 1024}, is: fetch.ErrTooLarge},
		{name: "huge body announced", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(huge)))
			w.Write([]byte(huge))
		}, opts: Options{MaxBytes: 1024}, want: []string{"announced"}, is: fetch.ErrTooLarge},
		{name: "huge chunked body", handler: hugeChunked, opts: Options{MaxBytes: 1024}, is: fetch.ErrTooLarge},
		{name: "malformed JSON", handler: fixed(http.StatusOK, `[{"ip_address": "10.1.2.3", "hostgroup": "a"}, {"ip_address": }]`),
			want: []string{"entry 1", "malformed JSON"}},
		{name: "malformed NDJSON line", handler: fixed(http.StatusOK, "{\"ip_address\": \"10.1.2.3\", \"hostgroup\": \"a\"}\n{\"ip_address\": \"10.1.2.4\"\n"),
			want: []string{"line 2", "malformed JSON"}},
		{name: "HTML error page", handler: fixed(http.StatusOK, "<html>maintenance</html>"), want: []string{"not an inventory"}},
		{name: "empty body", handler: fixed(http.StatusOK, ""), is: ErrEmpty},
		{name: "unknown format", handler: fixed(http.StatusOK, "[]"), opts: Options{Format: "csv"}, want: []string{`"csv"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			url := srv.URL + "/inv.json"
			start := time.Now()
			inv, err := Load(context.Background(), url, tt.opts)
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Load took %s", elapsed)
			}
			if err == nil {
				t.Fatalf("Load succeeded with %d entries, want an error", inv.Len())
			}
			if tt.name != "unknown format" && strings.Count(err.Error(), url) != 1 {
				t.Errorf("error %q does not name %s exactly once", err, url)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
		})
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // the request arrived: Load waits for the answer
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	_, err := Load(ctx, srv.URL, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Load = %v, want context.Canceled", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	arrayPath := filepath.Join(dir, "inventory.json")
	ndjsonPath := filepath.Join(dir, "inventory.ndjson")
	emptyPath := filepath.Join(dir, "empty.json")
	for path, body := range map[string]string{arrayPath: arrayDoc, ndjsonPath: ndjsonDoc, emptyPath: ""} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{arrayPath, ndjsonPath} {
		inv, err := Load(context.Background(), path, Options{})
		if err != nil {
			t.Fatalf("Load(%s): %v", path, err)
		}
		if inv.Len() != 2 || inv.Source() != path {
			t.Errorf("Load(%s): Len %d, Source %q", path, inv.Len(), inv.Source())
		}
		checkLookup(t, inv, hit{"10.2.0.1", "10.2.0.0/16", "debugapp", "debugapp.service.consul"})
	}

	missing := filepath.Join(dir, "missing.json")
	_, err := Load(context.Background(), missing, Options{})
	if !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("Load(missing) = %v, want ErrNotExist naming %s once", err, missing)
	}

	_, err = Load(context.Background(), emptyPath, Options{})
	if !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), emptyPath) {
		t.Errorf("Load(empty file) = %v, want ErrEmpty naming %s", err, emptyPath)
	}

	_, err = Load(context.Background(), arrayPath, Options{MaxBytes: 16})
	if !errors.Is(err, fetch.ErrTooLarge) || !strings.Contains(err.Error(), arrayPath) {
		t.Errorf("Load(file over MaxBytes) = %v, want ErrTooLarge naming %s", err, arrayPath)
	}

	if _, err := Load(context.Background(), "", Options{}); err == nil {
		t.Error("Load(\"\") succeeded")
	}
}

func TestLoadedLookupMatchesParse(t *testing.T) {
	url := serve(t, http.StatusOK, arrayDoc)
	inv, err := Load(context.Background(), url, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := inv.Lookup(netip.MustParseAddr("::ffff:10.1.2.3")); !ok || e.Hostgroup != "xyz" {
		t.Errorf("mapped lookup = %+v, %v", e, ok)
	}
}
