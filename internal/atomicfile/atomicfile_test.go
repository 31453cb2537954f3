package atomicfile

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testenv"
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

// TestWritePlantedTargets: whatever another user plants at the target's
// name in a directory they own (as root: a directory owned by nobody), Write
// never follows it, never blocks on it and never writes outside the
// directory: a link or a regular file (a hard link included) is replaced by
// rename, anything else is refused with an error naming the path.
func TestWritePlantedTargets(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		needRoot bool // mknod, or a hard link to another user's file
		plant    func(t *testing.T, target, elsewhere string)
		refused  string // "" = replaced
	}{
		{name: "nothing", plant: func(*testing.T, string, string) {}},
		{name: "previous regular file", plant: func(t *testing.T, target, _ string) { write(t, target, "previous\n") }},
		{name: "symlink to a file elsewhere", plant: func(t *testing.T, target, elsewhere string) {
			symlink(t, filepath.Join(elsewhere, "victim"), target)
		}},
		{name: "symlink to a directory", plant: func(t *testing.T, target, _ string) { symlink(t, "/", target) }},
		{name: "dangling symlink", plant: func(t *testing.T, target, elsewhere string) {
			symlink(t, filepath.Join(elsewhere, "nope"), target)
		}},
		{name: "symlink to /dev/null", plant: func(t *testing.T, target, _ string) { symlink(t, os.DevNull, target) }},
		{name: "symlink to a block device", needRoot: true, plant: func(t *testing.T, target, elsewhere string) {
			dev := filepath.Join(elsewhere, "loop")
			mknod(t, dev, syscall.S_IFBLK|0o600, 7, 255)
			symlink(t, dev, target)
		}},
		{name: "hard link to a root file", needRoot: true, plant: func(t *testing.T, target, elsewhere string) {
			if err := os.Link(filepath.Join(elsewhere, "victim"), target); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "FIFO", refused: "named pipe", plant: func(t *testing.T, target, _ string) {
			if err := syscall.Mkfifo(target, 0o666); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "socket", refused: "socket", plant: func(t *testing.T, target, _ string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: target, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			l.SetUnlinkOnClose(false)
			l.Close()
		}},
		{name: "directory", refused: "directory", plant: func(t *testing.T, target, _ string) {
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "character device", needRoot: true, refused: "character device in a directory another user can change", plant: func(t *testing.T, target, _ string) {
			mknod(t, target, syscall.S_IFCHR|0o666, 1, 3) // what /dev/null is
		}},
		{name: "block device", needRoot: true, refused: "block device", plant: func(t *testing.T, target, _ string) {
			mknod(t, target, syscall.S_IFBLK|0o600, 7, 255)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot {
				testenv.NeedRoot(t)
			}
			elsewhere := t.TempDir()
			write(t, filepath.Join(elsewhere, "victim"), "keep\n")
			dir := t.TempDir()
			if root {
				nobody, _ := testenv.User(t, "nobody")
				os.Chown(dir, nobody, -1)
			}
			target := filepath.Join(dir, "planet.prom")
			tt.plant(t, target, elsewhere)
			before, _ := os.Lstat(target)

			done := make(chan error, 1)
			go func() { done <- Write(target, 0o644, writeString("new\n")) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Write blocked")
			}
			if b, _ := os.ReadFile(filepath.Join(elsewhere, "victim")); string(b) != "keep\n" {
				t.Errorf("wrote outside the directory: victim holds %q", b)
			}
			if tt.refused != "" {
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), target) || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("err = %v, want ErrRefused naming %s and %q", err, target, tt.refused)
				}
				if after, _ := os.Lstat(target); after == nil || after.Mode() != before.Mode() {
					t.Errorf("the refused entry changed: %v -> %v", before.Mode(), after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Lstat(target)
			if err != nil || !info.Mode().IsRegular() {
				t.Fatalf("target is not a regular file now: %v %v", info, err)
			}
			if b, _ := os.ReadFile(target); string(b) != "new\n" {
				t.Errorf("target holds %q", b)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"planet.prom"}) {
				t.Errorf("directory holds %v", names)
			}
		})
	}
}

// TestWriteDevices: a character device is written in place only when named
// directly in directories no other user can write (/dev/null); through a
// link it is not a device but a link, and replaced.
func TestWriteDevices(t *testing.T) {
	if err := Write(os.DevNull, 0o644, writeString("gone")); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(os.DevNull); err != nil || info.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", os.DevNull, info.Mode(), err)
	}
	if err := Write(t.TempDir(), 0o644, writeString("")); !errors.Is(err, ErrRefused) {
		t.Errorf("a directory as the target: err = %v, want ErrRefused", err)
	}
	if err := Write(t.TempDir()+"/", 0o644, writeString("")); !errors.Is(err, ErrRefused) {
		t.Errorf("a path ending in /: err = %v, want ErrRefused", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mknod(t *testing.T, path string, mode uint32, major, minor uint32) {
	t.Helper()
	if err := syscall.Mknod(path, mode, int(unix.Mkdev(major, minor))); err != nil {
		t.Fatal(err)
	}
}
