package promsrc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadToken: --bearer-token-file is opened without blocking, must be a
// regular file and is read with a bound (T1: /dev/zero grew without limit,
// a FIFO with no writer hung).
func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want, wantErr string
	}{
		{name: "token with a newline", path: file("tok", "s3cret\n"), want: "s3cret"},
		{name: "none", path: ""},
		{name: "empty", path: file("empty", "\n"), wantErr: "empty"},
		{name: "endless device", path: "/dev/zero", wantErr: "not a regular file"},
		{name: "FIFO without a writer", path: fifo, wantErr: "not a regular file"},
		{name: "too large", path: file("big", strings.Repeat("x", maxToken+1)), wantErr: "larger than the size limit"},
		{name: "directory", path: dir, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var got string
			var err error
			go func() {
				defer close(done)
				got, err = readToken(context.Background(), tt.path, Options{}.name)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("blocked")
			}
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "Options.BearerTokenFile") {
				t.Fatalf("err = %v, want Options.BearerTokenFile and %q", err, tt.wantErr)
			}
			if tt.path != "" && !strings.Contains(err.Error(), tt.path) {
				t.Errorf("err %v does not name %s", err, tt.path)
			}
		})
	}
}
