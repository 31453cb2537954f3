package inventory

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// flaky is an inventory server on loopback whose answer the test changes.
type flaky struct {
	mu     sync.Mutex
	status int
	body   string
	hang   bool
}

func (f *flaky) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body, f.hang = status, body, false
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	status, body, hang := f.status, f.body, f.hang
	f.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// TestLoadFallsBackOnKeptCopy: with a state directory, the last inventory
// that fetched and parsed is used when a later fetch fails in any way (an
// HTTP error, garbage, no answer in time, nothing listening), with its
// fetch time and the failure; without one, or for another source, the
// failure is an error as before.
func TestLoadFallsBackOnKeptCopy(t *testing.T) {
	f := &flaky{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	url := srv.URL + "/hosts.json"
	state := t.TempDir()
	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var logs bytes.Buffer
	opts := Options{StateDir: state, Timeout: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: func() time.Time { return fetched }}

	f.set(http.StatusOK, arrayDoc)
	inv, err := Load(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("good fetch: %v", err)
	}
	if inv.Kept() != nil || inv.Len() != 2 {
		t.Fatalf("good fetch: Kept() = %+v, Len() = %d; want nil, 2", inv.Kept(), inv.Len())
	}
	if _, err := os.Stat(KeptPath(state, url)); err != nil {
		t.Fatalf("nothing kept: %v", err)
	}

	later := fetched.Add(90 * time.Minute)
	opts.Now = func() time.Time { return later }
	failures := []struct {
		name string
		set  func()
		want string
	}{
		{"HTTP 500", func() { f.set(http.StatusInternalServerError, "boom") }, "HTTP 500"},
		{"garbage", func() { f.set(http.StatusOK, "<html>maintenance</html>") }, "not an inventory"},
		{"every entry bad", func() { f.set(http.StatusOK, `[{"ip_address": "nope", "hostgroup": "x"}]`) }, "no entry of the inventory is usable"},
		{"no answer", func() { f.mu.Lock(); f.hang = true; f.mu.Unlock() }, "no answer within"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			tt.set()
			logs.Reset()
			inv, err := Load(context.Background(), url, opts)
			if err != nil {
				t.Fatalf("Load: %v, want the kept copy", err)
			}
			checkKept(t, inv, fetched, tt.want)
			for _, w := range []string{"level=WARN", "using the last good copy", tt.want, "age=1h30m0s"} {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("warning lacks %q:\n%s", w, logs.String())
				}
			}
		})
	}

	// Another source has no kept copy; no state directory, no fallback.
	f.set(http.StatusInternalServerError, "boom")
	if _, err := Load(context.Background(), srv.URL+"/other.json", opts); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("another source: %v, want its HTTP 500", err)
	}
	noState := opts
	noState.StateDir = ""
	if _, err := Load(context.Background(), url, noState); err == nil {
		t.Errorf("no state directory: the kept copy was used")
	}

	// A kept copy another user could have changed is not used.
	if err := os.Chmod(KeptPath(state, url), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), url, opts); err == nil || !strings.Contains(err.Error(), "the last good copy is unusable") {
		t.Errorf("kept copy writable by others: %v, want it refused", err)
	}
	os.Chmod(KeptPath(state, url), 0o644)

	// Run as root, a copy owned by another user (who could have planted
	// it) is not used either.
	if os.Geteuid() == 0 {
		if err := os.Chown(KeptPath(state, url), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(context.Background(), url, opts); err == nil || !strings.Contains(err.Error(), "the last good copy is unusable") {
			t.Errorf("kept copy owned by another user: %v, want it refused", err)
		}
		os.Chown(KeptPath(state, url), 0, 0)
	}

	// Nothing listening at all.
	srv.Close()
	inv, err = Load(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("server gone: %v, want the kept copy", err)
	}
	checkKept(t, inv, fetched, "connection refused")
}

func checkKept(t *testing.T, inv *Inventory, fetched time.Time, why string) {
	t.Helper()
	k := inv.Kept()
	if k == nil {
		t.Fatalf("Kept() = nil, want the copy of %s", fetched)
	}
	if !k.FetchedAt.Equal(fetched) || k.FetchErr == nil || !strings.Contains(k.FetchErr.Error(), why) {
		t.Errorf("Kept() = %+v, want fetched at %s, failed with %q", k, fetched, why)
	}
	checkLookup(t, inv, hit{"10.1.2.3", "10.1.2.3/32", "xyz", "xyz.service.consul"})
	checkLookup(t, inv, hit{"10.2.9.9", "10.2.0.0/16", "debugapp", "debugapp.service.consul"})
	if inv.Len() != 2 {
		t.Errorf("Len() = %d, want 2", inv.Len())
	}
	if _, ok := inv.Lookup(netip.MustParseAddr("10.9.9.9")); ok {
		t.Errorf("the entry skipped when fetched came back from the kept copy")
	}
}
