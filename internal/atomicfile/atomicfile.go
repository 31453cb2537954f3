// Package atomicfile replaces a file so that readers see either the old
// complete content or the new complete content, never a mix.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempMarker sits between the target's name and the random suffix. The temp
// name never ends in the target's extension, so node_exporter's textfile
// collector (which reads *.prom) never picks up a half-written file.
const tempMarker = ".planet-tmp-"

// staleAfter is how old a leftover temp file must be before a later run
// removes it; younger ones may belong to a run still writing.
const staleAfter = 10 * time.Minute

// Write creates or replaces path with what write produces: it writes a temp
// file in the same directory, syncs it, renames it over path and syncs the
// directory. On any error the temp file is removed and path is untouched.
//
// A path that already exists and is not a regular file or a directory (a
// device such as /dev/null, a FIFO, /dev/stdout) is written to directly:
// replacing it would destroy it, and it has no old content to protect.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		if info.IsDir() {
			return fmt.Errorf("write %s: is a directory", path)
		}
		return writeSpecial(path, write)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	f, err := os.CreateTemp(dir, "."+base+tempMarker+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		// The rename is durable only once the directory is synced; failing
		// here loses nothing already visible, so it is not an error.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// removeStale deletes temp files that a killed earlier run left for the same
// target. Errors are ignored: the directory may be shared and read-only to us.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + tempMarker
	now := time.Now()
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleAfter {
			continue
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
}

func writeSpecial(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
