package fetch

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGetFile: a file source is read only if it is a regular file within the
// size limit. A FIFO (which blocks an open until a writer comes) or a device
// like /dev/zero (which never ends) is refused at once, naming the path.
func TestGetFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "inventory.json")
	const doc = `[{"ip_address":"10.1.2.3","hostgroup":"a"}]`
	if err := os.WriteFile(regular, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	linkToRegular := filepath.Join(dir, "link.json")
	linkToFIFO := filepath.Join(dir, "link-fifo")
	for _, l := range [][2]string{{regular, linkToRegular}, {fifo, linkToFIFO}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		path     string
		maxBytes int64
		wantLen  int           // when no error is wanted
		wantErr  error         // errors.Is target
		wantMsg  string        // substring of the error
		within   time.Duration // the call must return this fast
	}{
		{name: "regular", path: regular, wantLen: len(doc)},
		{name: "symlink to regular", path: linkToRegular, wantLen: len(doc)},
		{name: "proc file reports size 0", path: "/proc/self/status", maxBytes: 1 << 20, wantLen: -1},
		{name: "at the limit", path: big, maxBytes: 2048, wantLen: 2048},
		{name: "over the limit", path: big, maxBytes: 2047, wantErr: ErrTooLarge, wantMsg: big},
		{name: "fifo without writer", path: fifo, wantErr: ErrNotRegular, wantMsg: fifo + ": not a regular file (a named pipe)"},
		{name: "symlink to fifo", path: linkToFIFO, wantErr: ErrNotRegular, wantMsg: linkToFIFO},
		{name: "dev zero", path: "/dev/zero", wantErr: ErrNotRegular, wantMsg: "/dev/zero: not a regular file (a character device)"},
		{name: "directory", path: dir, wantErr: ErrNotRegular, wantMsg: "a directory"},
		{name: "missing", path: filepath.Join(dir, "missing.json"), wantErr: fs.ErrNotExist, wantMsg: "missing.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := Get(context.Background(), tt.path, Options{MaxBytes: tt.maxBytes, Timeout: time.Second})
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s", d)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantLen >= 0 && len(got) != tt.wantLen {
					t.Errorf("read %d bytes, want %d", len(got), tt.wantLen)
				}
				if tt.wantLen < 0 && len(got) == 0 {
					t.Error("read nothing")
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
			if got != nil {
				t.Errorf("returned %d bytes with the error", len(got))
			}
		})
	}
}

// TestGetURL: a URL source has a deadline for the whole body and the same
// size limit, announced or not.
func TestGetURL(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("[]"))
		case "/big":
			w.Write(make([]byte, 4096))
		case "/announced":
			w.Header().Set("Content-Length", "1000000")
			w.WriteHeader(http.StatusOK)
		case "/stall-headers":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/stall-body":
			w.Write([]byte("[{"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		path    string
		wantErr error
		wantMsg string
	}{
		{path: "/ok"},
		{path: "/big", wantErr: ErrTooLarge, wantMsg: "limit 1024 bytes"},
		{path: "/announced", wantErr: ErrTooLarge, wantMsg: "1000000 bytes announced"},
		{path: "/stall-headers", wantErr: context.DeadlineExceeded, wantMsg: "no answer within 200ms"},
		{path: "/stall-body", wantErr: context.DeadlineExceeded, wantMsg: "body not complete within 200ms"},
		{path: "/missing", wantMsg: "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			start := time.Now()
			_, err := Get(context.Background(), srv.URL+tt.path, Options{Timeout: 200 * time.Millisecond, MaxBytes: 1024})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), srv.URL+tt.path) {
				t.Fatalf("err = %v, want one naming the URL and containing %q", err, tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.wantErr)
			}
		})
	}
}

// TestGetCancelled: a cancelled context (SIGINT) stops a file read before it
// starts and a URL fetch at once.
func TestGetCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{path, "http://127.0.0.1:1/"} {
		if _, err := Get(ctx, source, Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", source, err)
		}
	}
}
