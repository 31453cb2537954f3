package testenv

import (
	"os/user"
	"strconv"
	"testing"
)

// User returns the numeric user and group ID of the local user name (from
// the user database, e.g. "nobody" for a test that drops privileges or
// chowns a file to someone else); it skips t (fails it when strict) where
// there is no such user.
func User(t testing.TB, name string) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		Unavailable(t, "no user %s: %v", name, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		t.Fatalf("user %s: uid %q: %v", name, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		t.Fatalf("user %s: gid %q: %v", name, u.Gid, err)
	}
	return uid, gid
}
