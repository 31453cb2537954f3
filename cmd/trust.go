package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// errUntrusted is wrapped when root would read a config file another user
// could have written.
var errUntrusted = errors.New("refusing a config file another user can change")

// checkOwnedBy returns an error unless path, the file it resolves to and
// every directory above either are owned by uid (or root) and writable by
// nobody else; a sticky directory (/tmp) is allowed since others cannot
// replace what they do not own in it.
//
// planet run as root must not take its settings from a file another user
// controls: a config names the files planet writes (-o, --textfile-dir), so
// such a file could make root overwrite anything. Under sudo, HOME and
// XDG_CONFIG_HOME may still be the invoking user's, which is how a user's
// ~/.config/planet/planet.yaml would reach root.
func checkOwnedBy(path string, uid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	for _, p := range []string{abs, resolved} {
		for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
			if err := checkEntry(dir, uid, true); err != nil {
				return err
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return checkEntry(resolved, uid, false)
}

func checkEntry(path string, uid int, isDir bool) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: %w: owner unknown", path, errUntrusted)
	}
	if owner := int(st.Uid); owner != uid && owner != 0 {
		return fmt.Errorf("%s: %w: owned by uid %d", path, errUntrusted, owner)
	}
	if info.Mode().Perm()&0o022 != 0 && !(isDir && info.Mode()&fs.ModeSticky != 0) {
		return fmt.Errorf("%s: %w: writable by group or others (mode %v)", path, errUntrusted, info.Mode().Perm())
	}
	return nil
}
