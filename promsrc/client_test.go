package promsrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const okVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`

// TestClient covers the API envelope and HTTP cases a real Prometheus does
// not readily produce: warnings, 422, 429 with Retry-After, slow answers,
// an announced oversize body, other result types.
func TestClient(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(n int32, w http.ResponseWriter, r *http.Request)
		timeout  time.Duration
		wantErr  error
		wantMsg  string
		wantWarn string
		calls    int32
	}{
		{name: "success", handler: func(_ int32, w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.FormValue("query") == "" || r.FormValue("time") == "" {
				http.Error(w, `{"status":"error","errorType":"bad_data","error":"want POST with query and time"}`, 400)
				return
			}
			fmt.Fprint(w, okVector)
		}, calls: 1},
		{name: "warnings are passed on once", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"status":"success","warnings":["partial response: store down"],"data":{"resultType":"vector","result":[]}}`)
		}, wantWarn: "partial response: store down", calls: 1},
		{name: "422 execution error", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(422)
			fmt.Fprint(w, `{"status":"error","errorType":"execution","error":"query processing would load too many samples"}`)
		}, wantErr: ErrBadQuery, wantMsg: "too many samples", calls: 1},
		{name: "429 then success", handler: func(n int32, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(429)
				return
			}
			fmt.Fprint(w, okVector)
		}, calls: 2},
		{name: "503 with an API error body", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"status":"error","errorType":"unavailable","error":"TSDB not ready"}`)
		}, wantErr: ErrUnavailable, wantMsg: "gave up after 3 attempts", calls: 3},
		{name: "500 internal", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(500)
			fmt.Fprint(w, `{"status":"error","errorType":"internal","error":"boom"}`)
		}, wantMsg: "internal: boom", calls: 1},
		{name: "403", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(403)
		}, wantErr: ErrAuth, wantMsg: "403 Forbidden", calls: 1},
		{name: "slow answer", handler: func(_ int32, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}, timeout: 100 * time.Millisecond, wantErr: ErrUnreachable, wantMsg: "no answer within 100ms", calls: 1},
		{name: "oversize announced", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(200)
		}, wantErr: ErrTooLarge, wantMsg: "100000 bytes announced", calls: 1},
		{name: "html login page", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>please log in</html>")
		}, wantErr: ErrProtocol, wantMsg: "please log in", calls: 1},
		{name: "data after the answer", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}} {"more":1}`)
		}, wantErr: ErrProtocol, wantMsg: "200 OK, text/plain; charset=utf-8, data after the answer", calls: 1},
		{name: "status not a string", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"status":1,"data":{"resultType":"vector","result":[]}}`)
		}, wantErr: ErrProtocol, wantMsg: "status: want a string", calls: 1},
		{name: "matrix instead of vector", handler: func(_ int32, w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		}, wantErr: ErrProtocol, wantMsg: `"matrix"`, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/prefix/api/v1/query" {
					http.NotFound(w, r)
					return
				}
				tt.handler(calls.Add(1), w, r)
			}))
			defer srv.Close()
			opts := Options{URL: srv.URL + "/prefix/", Timeout: tt.timeout, Retries: 2, RetryBackoff: time.Millisecond, MaxResponseBytes: 10000}
			c, err := newClient(opts.withDefaults(), "")
			if err != nil {
				t.Fatal(err)
			}
			var warns []string
			c.notes = func(m string) { warns = append(warns, m) }
			for range 2 {
				_, err = c.query(context.Background(), "planet_upstream")
				if err != nil {
					break
				}
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) || tt.wantErr == nil && tt.wantMsg == "" && err != nil {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)) {
				t.Errorf("error %v does not say %q", err, tt.wantMsg)

			}
			if tt.wantWarn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tt.wantWarn)) {
				t.Errorf("warnings %q, want %q once", warns, tt.wantWarn)
			}
			// A successful case queries twice.
			want := tt.calls
			if err == nil {
				want = tt.calls * 2
				if tt.name == "429 then success" {
					want = 3
				}
			}
			if got := calls.Load(); got != want {
				t.Errorf("%d requests, want %d", got, want)
			}
		})
	}
}

func TestNewClientURL(t *testing.T) {
	for _, tt := range []struct{ in, endpoint, name, err string }{
		{in: "http://u:p@prom:9090/", endpoint: "http://prom:9090/api/v1/query", name: "http://prom:9090/"},
		{in: "https://thanos/query", endpoint: "https://thanos/query/api/v1/query", name: "https://thanos/query"},
		{in: "prom:9090", err: "http:// or https://"},
		{in: "ftp://prom", err: "http:// or https://"},
	} {
		c, err := newClient(Options{URL: tt.in}.withDefaults(), "")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || c.endpoint != tt.endpoint || c.name != tt.name {
			t.Errorf("%s: %v %q %q", tt.in, err, c.endpoint, c.name)
		}
	}
}

// TestSeriesValue: a sample's value, parsed in place when it is a plain
// quoted number and by the JSON decoder otherwise.
func TestSeriesValue(t *testing.T) {
	tests := []struct {
		raw     string
		want    float64
		wantErr bool
	}{
		{raw: `"3"`, want: 3},
		{raw: `"1.5e3"`, want: 1500},
		{raw: `"\u0034\u0032"`, want: 42},
		{raw: `"-1"`, want: -1},
		{raw: `"+Inf"`, want: math.Inf(1)},
		{raw: `""`, wantErr: true},
		{raw: `"4\""`, wantErr: true},
		{raw: `3`, wantErr: true},
		{raw: `"3`, wantErr: true},
		{raw: `null`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := series{Value: [2]json.RawMessage{json.RawMessage("0"), json.RawMessage(tt.raw)}}.value()
		if (err != nil) != tt.wantErr || err == nil && got != tt.want {
			t.Errorf("value(%s) = %v, %v; want %v (error: %v)", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}
