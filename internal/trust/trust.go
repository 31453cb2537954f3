// Package trust decides whether a file or directory is one that only a
// given user (or root) can change, and opens such a file so that what was
// checked is what is read.
//
// A path is walked one component at a time from "/" with openat and
// O_NOFOLLOW: every directory on the way, and the file itself, is examined
// on its own descriptor, never by a name that could be swapped between the
// check and the use. A symbolic link on the way is followed only when it is
// trusted itself (owned by the user or root, in a directory already found
// trusted), since then no one else can change where it points.
package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUntrusted is wrapped when a path another user could change is refused.
var ErrUntrusted = errors.New("another user could change it")

// maxLinks bounds the symbolic links one walk follows, as the kernel does.
const maxLinks = 40

// Policy says what counts as trusted.
type Policy struct {
	// UID is the user who may own what is trusted, besides root.
	UID int
	// Strict refuses any symbolic link on the way and any directory other
	// users can write, sticky ones (/tmp) included. Without it, a sticky
	// directory counts as trusted: others cannot replace what they do not
	// own in it.
	Strict bool
}

// For is the default policy for uid: trusted links followed, sticky
// directories allowed.
func For(uid int) Policy { return Policy{UID: uid} }

// Check returns nil when path (a file or a directory) and every directory
// above it are owned by p.UID or root and writable by nobody else (sticky
// directories excepted unless p.Strict). Errors name the first component at
// fault and wrap ErrUntrusted, or the system error (fs.ErrNotExist for a
// missing component).
func (p Policy) Check(path string) error {
	w, err := p.walk(path)
	if err != nil {
		return err
	}
	w.close()
	return nil
}

// Open opens path for reading after Check's walk, and checks the opened
// descriptor itself: a regular file owned by p.UID or root and writable by
// nobody else. The open never blocks (O_NONBLOCK: a FIFO swapped in cannot
// hang it) and never follows a link that was not checked.
func (p Policy) Open(path string) (*os.File, error) {
	w, err := p.walk(path)
	if err != nil {
		return nil, err
	}
	defer w.close()
	name := w.name
	var st unix.Stat_t
	if err := unix.Fstat(w.fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, Kind(st.Mode))
	}
	// Open it for reading in the directory already checked, and make sure
	// it is still the inode that was checked.
	rfd, err := unix.Openat(w.parent, w.base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var rst unix.Stat_t
	if err := unix.Fstat(rfd, &rst); err != nil || rst.Dev != st.Dev || rst.Ino != st.Ino {
		unix.Close(rfd)
		return nil, fmt.Errorf("%s: changed while being opened: %w", name, ErrUntrusted)
	}
	if err := p.checkStat(name, &rst); err != nil {
		unix.Close(rfd)
		return nil, err
	}
	return os.NewFile(uintptr(rfd), name), nil
}

// PrivateDir returns nil when path is a directory, not a symbolic link,
// owned by p.UID itself (root's own only when p.UID is 0) and writable by
// no one else: a directory whose contents p.UID alone can change, such as
// a cache of code that is then run. Only path itself is examined; Check
// examines the directories above it. Errors name path and wrap
// ErrUntrusted, or are the system's (fs.ErrNotExist).
func (p Policy) PrivateDir(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s: not a directory (%s): %w", path, Kind(st.Mode), ErrUntrusted)
	}
	if int(st.Uid) != p.UID {
		return fmt.Errorf("%s: owned by uid %d, not %d: %w", path, st.Uid, p.UID, ErrUntrusted)
	}
	return Policy{UID: p.UID, Strict: true}.checkStat(path, &st)
}

// walked is the end of a walk: O_PATH descriptors of what the path names
// and of the directory holding it, the last component and the resolved name.
type walked struct {
	fd, parent int
	base, name string
}

func (w walked) close() {
	unix.Close(w.fd)
	if w.parent != w.fd {
		unix.Close(w.parent)
	}
}

// walk resolves path component by component, every step checked.
func (p Policy) walk(path string) (walked, error) {
	fail := func(err error) (walked, error) { return walked{}, err }
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail(err)
	}
	cur, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(&fs.PathError{Op: "open", Path: "/", Err: err})
	}
	if err := p.checkFD(cur, "/"); err != nil {
		unix.Close(cur)
		return fail(err)
	}
	// stack holds the descriptors of the directories above cur, for "..".
	var stack []int
	closeAll := func() {
		unix.Close(cur)
		for _, fd := range stack {
			unix.Close(fd)
		}
	}
	name, base := "/", "/"
	rest := split(abs)
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				unix.Close(cur)
				cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
				name = filepath.Dir(name)
				base = filepath.Base(name)
			}
			continue
		}
		next := filepath.Join(name, c)
		fd, err := unix.Openat(cur, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return fail(&fs.PathError{Op: "open", Path: next, Err: err})
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			closeAll()
			return fail(&fs.PathError{Op: "stat", Path: next, Err: err})
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := p.link(fd, next, &st)
			unix.Close(fd)
			if err == nil && links >= maxLinks {
				err = &fs.PathError{Op: "open", Path: next, Err: unix.ELOOP}
			}
			if err != nil {
				closeAll()
				return fail(err)
			}
			links++
			if filepath.IsAbs(target) {
				for len(stack) > 0 {
					unix.Close(cur)
					cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
				}
				name = "/"
			}
			rest = append(split(target), rest...)
			continue
		}
		if err := p.checkStat(next, &st); err != nil {
			unix.Close(fd)
			closeAll()
			return fail(err)
		}
		if len(rest) > 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd)
			closeAll()
			return fail(&fs.PathError{Op: "open", Path: next, Err: unix.ENOTDIR})
		}
		stack = append(stack, cur)
		cur, name, base = fd, next, c
	}
	w := walked{fd: cur, parent: cur, base: base, name: name}
	if len(stack) > 0 {
		w.parent, stack = stack[len(stack)-1], stack[:len(stack)-1]
	}
	for _, fd := range stack {
		unix.Close(fd)
	}
	return w, nil
}

// link returns where a symbolic link points, if the link may be followed.
func (p Policy) link(fd int, name string, st *unix.Stat_t) (string, error) {
	if p.Strict {
		return "", fmt.Errorf("%s: a symbolic link: %w", name, ErrUntrusted)
	}
	if owner := int(st.Uid); owner != p.UID && owner != 0 {
		return "", fmt.Errorf("%s: a symbolic link owned by uid %d: %w", name, owner, ErrUntrusted)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(buf[:n]), nil
}

func (p Policy) checkFD(fd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return p.checkStat(name, &st)
}

// checkStat is the one owner and permission rule: owned by p.UID or root,
// and not writable by group or others, except a sticky directory when the
// policy allows it.
func (p Policy) checkStat(name string, st *unix.Stat_t) error {
	if owner := int(st.Uid); owner != p.UID && owner != 0 {
		return fmt.Errorf("%s: owned by uid %d: %w", name, owner, ErrUntrusted)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	sticky := st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o022 != 0 && !(isDir && sticky && !p.Strict) {
		return fmt.Errorf("%s: writable by group or others (mode %v): %w", name, fs.FileMode(st.Mode&0o777), ErrUntrusted)
	}
	return nil
}

func split(path string) []string {
	return strings.Split(strings.Trim(path, "/"), "/")
}

// Kind names a file type from a stat mode, for error messages.
func Kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFIFO:
		return "a named pipe (FIFO)"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("mode %#o", mode)
}
