package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// passHeldSubscription makes a TCP destroy-event subscription and passes
// it to this process's next window the way systemd passes planet.socket
// (LISTEN_PID, LISTEN_FDS up to its descriptor). The window takes it over
// and closes it.
func passHeldSubscription(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Skipf("netlink sock_diag: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1<<(unix.SKNLGRP_INET_TCP_DESTROY-1) | 1<<(unix.SKNLGRP_INET6_TCP_DESTROY-1)}); err != nil {
		unix.Close(fd)
		t.Skipf("TCP destroy groups refused: %v", err)
	}
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", strconv.Itoa(fd-2)) // descriptors 3 to fd
}

// TestScanWindowStateAfterOutput: the sockets a window hands on are saved
// only once its snapshot is written. When the output cannot be written the
// next window must not continue from this one, or what this one counted
// would be lost with its snapshot.
func TestScanWindowStateAfterOutput(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(state, "window-sockets.json")
	args := func(out string) []string {
		return []string{"--config", "", "scan", "--window", "300ms", "--netns", "own", "--state-dir", state, "-o", out}
	}

	passHeldSubscription(t)
	code, _, stderr := run(t, args(filepath.Join(t.TempDir(), "missing", "snap.json"))...)
	if code == 0 {
		t.Fatalf("scan into a missing directory: exit 0: %s", stderr)
	}
	if _, err := os.Stat(saved); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after a scan whose snapshot was not written: %v, want none", saved, err)
	}

	passHeldSubscription(t)
	if code, _, stderr := run(t, args(filepath.Join(t.TempDir(), "snap.json"))...); code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(saved); err != nil {
		t.Errorf("%s after a scan whose snapshot was written: %v", saved, err)
	}
}
