// Package atomicfile is planet's one way to write an output file: readers see
// the old complete content or the new complete content, never a mix, and
// nothing another local user plants at the target's name (a symbolic link,
// a FIFO, a device, a hard link) can redirect the write or block it.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/trust"
)

// tempMarker sits between the target's name and the random suffix. The temp
// name never ends in the target's extension, so node_exporter's textfile
// collector (which reads *.prom) never picks up a half-written file.
const tempMarker = ".planet-tmp-"

// staleAfter is how old a leftover temp file must be before a later run
// removes it; younger ones may belong to a run still writing.
const staleAfter = 10 * time.Minute

// ErrRefused is wrapped when the target exists and is neither a regular file
// nor a symbolic link (nor a character device planet may write in place).
var ErrRefused = errors.New("refusing to replace")

// Write creates or replaces path with what write produces.
//
// The directory is opened once and everything after happens relative to it
// (openat, renameat), and the target is examined without following links:
//
//   - missing, a regular file (a hard link included) or a symbolic link: a
//     temp file is written in the directory, synced, renamed over the
//     target's name and the directory synced. A link is replaced, never
//     followed; another name of a hard-linked file keeps its content. On
//     any error the temp file is removed and the target is untouched.
//   - a character device (/dev/null): written in place, only when the path
//     as given names the device itself, with no symbolic link on the way and
//     no directory above it that another user can write (see trust.Policy
//     Strict); else refused.
//   - anything else (a directory, FIFO, socket, block device, or a device
//     refused above): an error wrapping ErrRefused that names the path.
//
// Nothing here ever opens a FIFO, so no write can block on one.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("write %s: %w a directory", path, ErrRefused)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, &os.PathError{Op: "open", Path: dir, Err: err})
	}
	d := os.NewFile(uintptr(dfd), dir)
	defer d.Close()
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return fmt.Errorf("write %s: %w", path, err)
	case st.Mode&unix.S_IFMT == unix.S_IFREG, st.Mode&unix.S_IFMT == unix.S_IFLNK:
	case st.Mode&unix.S_IFMT == unix.S_IFCHR:
		return writeDevice(d, dir, base, path, &st, write)
	default:
		return fmt.Errorf("write %s: %w %s", path, ErrRefused, trust.Kind(st.Mode))
	}
	return replace(d, base, path, perm, write)
}

// replace writes a temp file in the directory d and renames it over base.
func replace(d *os.File, base, path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dfd := int(d.Fd())
	removeStale(d, base)
	f, tmp, err := createTemp(dfd, base)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = unix.Unlinkat(dfd, tmp, 0)
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
	// renameat replaces whatever holds the name now (a regular file, a
	// link, a FIFO swapped in meanwhile) without opening it; a directory
	// swapped in makes it fail.
	if err = unix.Renameat(dfd, tmp, dfd, base); err != nil {
		return fmt.Errorf("write %s: %w", path, &os.LinkError{Op: "rename", Old: tmp, New: base, Err: err})
	}
	// The rename is durable only once the directory is synced; failing
	// here loses nothing already visible, so it is not an error.
	_ = d.Sync()
	return nil
}

// createTemp creates a new hidden temp file next to base, never following a
// link and never reusing an existing name (O_EXCL).
func createTemp(dfd int, base string) (*os.File, string, error) {
	for range 100 {
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, "", err
		}
		name := "." + base + tempMarker + hex.EncodeToString(r[:])
		fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", &os.PathError{Op: "create", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), name, nil
	}
	return nil, "", errors.New("no free temp file name")
}

// removeStale deletes temp files that a killed earlier run left for the same
// target. Errors are ignored: the directory may be shared and read-only to us.
func removeStale(d *os.File, base string) {
	entries, err := d.ReadDir(-1)
	if err != nil {
		return
	}
	prefix := "." + base + tempMarker
	now := time.Now()
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(int(d.Fd()), e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) != nil ||
			st.Mode&unix.S_IFMT != unix.S_IFREG || now.Sub(time.Unix(st.Mtim.Unix())) < staleAfter {
			continue
		}
		_ = unix.Unlinkat(int(d.Fd()), e.Name(), 0)
	}
}

// writeDevice writes a character device in place: replacing it would
// destroy it, and it has no old content to protect. Only a device named
// directly, in directories no other user can write, qualifies: a name
// planted in a shared directory, or a link, could point root's output at
// any device.
func writeDevice(d *os.File, dir, base, path string, st *unix.Stat_t, write func(io.Writer) error) error {
	if err := (trust.Policy{UID: os.Geteuid(), Strict: true}).Check(dir); err != nil {
		return fmt.Errorf("write %s: %w %s in a directory another user can change (%v)", path, ErrRefused, trust.Kind(st.Mode), err)
	}
	fd, err := unix.Openat(int(d.Fd()), base, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Mode&unix.S_IFMT != unix.S_IFCHR || now.Rdev != st.Rdev {
		unix.Close(fd)
		return fmt.Errorf("write %s: %w: changed while being opened", path, ErrRefused)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return fmt.Errorf("write %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
