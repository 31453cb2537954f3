package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteRemovesStaleTemps: a temp file a killed run left behind (older
// than staleAfter) is removed by the next Write of the same target; younger
// ones, which may belong to a run still writing, stay, and so do other
// targets' temps and anything that is not a regular file.
func TestWriteRemovesStaleTemps(t *testing.T) {
	old := time.Now().Add(-staleAfter - time.Minute)
	young := time.Now().Add(-staleAfter + time.Minute)
	tests := []struct {
		name     string
		file     string
		mtime    time.Time
		dir      bool // make a directory, not a file
		wantGone bool
	}{
		{name: "stale temp of the target", file: ".planet.prom" + tempMarker + "123", mtime: old, wantGone: true},
		{name: "second stale temp", file: ".planet.prom" + tempMarker + "456", mtime: old, wantGone: true},
		{name: "young temp of the target", file: ".planet.prom" + tempMarker + "789", mtime: young},
		{name: "stale temp of another target", file: ".other.prom" + tempMarker + "123", mtime: old},
		{name: "stale temp of a target with our name as prefix", file: ".planet.prom.bak" + tempMarker + "1", mtime: old},
		{name: "stale directory with the temp prefix", file: ".planet.prom" + tempMarker + "dir", mtime: old, dir: true},
		{name: "unrelated old file", file: "node.prom", mtime: old},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		p := filepath.Join(dir, tt.file)
		var err error
		if tt.dir {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte("partial"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, tt.mtime, tt.mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(filepath.Join(dir, "planet.prom"), 0o644, writeString("new\n")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := os.Lstat(filepath.Join(dir, tt.file))
			if gone := errors.Is(err, os.ErrNotExist); gone != tt.wantGone {
				t.Errorf("gone = %v (err %v), want %v", gone, err, tt.wantGone)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "planet.prom")); string(b) != "new\n" {
		t.Errorf("target holds %q", b)
	}
}

// TestWrite: the target gets the new content and mode, or on any failure
// keeps its old content, and no temp file is left either way.
func TestWrite(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		write   func(io.Writer) error
		perm    os.FileMode
		want    string
		wantErr error
	}{
		{name: "replaces", write: writeString("new\n"), perm: 0o644, want: "new\n"},
		{name: "private mode", write: writeString("secret\n"), perm: 0o600, want: "secret\n"},
		{name: "empty content is still a complete write", write: writeString(""), perm: 0o644, want: ""},
		{name: "producer fails at once", write: func(io.Writer) error { return boom }, perm: 0o644, want: "old\n", wantErr: boom},
		{name: "producer fails midway", write: func(w io.Writer) error {
			io.WriteString(w, "half of the ne")
			return boom
		}, perm: 0o644, want: "old\n", wantErr: boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "snap.json")
			if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Write(target, tt.perm, tt.write)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), target) {
				t.Errorf("error %q does not name %s", err, target)
			}
			b, _ := os.ReadFile(target)
			if string(b) != tt.want {
				t.Errorf("target holds %q, want %q", b, tt.want)
			}
			info, _ := os.Stat(target)
			if tt.wantErr == nil && info.Mode().Perm() != tt.perm {
				t.Errorf("mode %v, want %v", info.Mode().Perm(), tt.perm)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"snap.json"}) {
				t.Errorf("directory holds %v, want only snap.json", names)
			}
		})
	}
}

// TestTempNameHidesExtension: while a .prom file is being written, the temp
// file's name must not end in .prom, or node_exporter would read it.
func TestTempNameHidesExtension(t *testing.T) {
	dir := t.TempDir()
	var during []string
	err := Write(filepath.Join(dir, "planet.prom"), 0o644, func(w io.Writer) error {
		during = dirNames(t, dir)
		_, err := io.WriteString(w, "x 1\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || strings.HasSuffix(during[0], ".prom") || !strings.HasPrefix(during[0], ".") {
		t.Errorf("during the write the directory held %v, want one hidden temp not ending in .prom", during)
	}
}

// TestWriteReplacesSymlinkNotItsTarget: planet runs as root and the textfile
// directory may be writable by others; a symlink planted at the target's
// name is replaced, never followed.
func TestWriteReplacesSymlinkNotItsTarget(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "planet.prom")
	if err := os.Symlink(victim, target); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, 0o644, writeString("new\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("symlink target was written: %q", b)
	}
	if info, err := os.Lstat(target); err != nil || !info.Mode().IsRegular() {
		t.Errorf("target is not a regular file now: %v %v", info, err)
	}
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// A device or FIFO at the target is written to, never replaced: planet scan
// -o /dev/null as root must not turn the device into a file.
func TestWriteSpecialTargets(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	if err := Write(fifo, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "through the pipe"); return err }); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "through the pipe" {
		t.Errorf("reader got %q", b)
	}
	if info, err := os.Lstat(fifo); err != nil || info.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", info.Mode(), err)
	}

	if err := Write(os.DevNull, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "gone"); return err }); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(os.DevNull); err != nil || info.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", os.DevNull, info.Mode(), err)
	}

	if err := Write(dir, 0o644, func(io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("writing over a directory: %v", err)
	}
}
