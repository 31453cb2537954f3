package scan

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRunCancelled: a scan cancelled while it waits for a stalled source
// returns no snapshot (so nothing is written) and the cancellation's cause
// (which carries the signal's exit code), whichever source it was waiting
// for: the inventory is required, darkstat optional, and a failed optional
// source must not turn an interrupted scan into a written one.
func TestRunCancelled(t *testing.T) {
	got := make(chan struct{}, 4)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cause := errors.New("received interrupt")
	tests := []struct {
		name string
		opts Options
	}{
		{"stalled inventory", Options{Inventory: srv.URL + "/inventory.json"}},
		{"stalled darkstat", Options{Darkstat: srv.URL + "/metrics"}},
		{"stalled darkstat, strict", Options{Darkstat: srv.URL + "/metrics", Strict: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			go func() {
				<-got
				cancel(cause)
			}()
			opts := tt.opts
			opts.ProcRoot = "../testdata/proc"
			opts.Timeout = time.Minute
			start := time.Now()
			snap, err := Run(ctx, opts)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			if snap != nil {
				t.Error("returned a snapshot from a cancelled scan")
			}
			if !errors.Is(err, cause) && !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want the cancellation", err)
			}
		})
	}
}
