package scan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/internal/testnet"
	"github.com/planetdeps/planet/snapshot"
)

// scanAll is the helper mode "scan-all": scan every namespace, snapshot
// to standard output.
func scanAll() {
	s, err := Run(context.Background(), Options{Namespaces: NamespacesAll, Version: "test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := snapshot.Write(os.Stdout, s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestNamespacesUnderTheUnit: a container's namespace (a real one, with a
// process in it and a listener) is read as root through netlink inside
// it, and with only the systemd unit's privileges (user nobody,
// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, no_new_privs: setns refused)
// through /proc/<pid>/net, without byte counters, and said so.
func TestNamespacesUnderTheUnit(t *testing.T) {
	lab := testnet.New(t)
	setpriv := testenv.NeedCommand(t, "setpriv", "util-linux")
	c := lab.Host("c")
	p, err := strconv.ParseUint(startPeer(t, c, ""), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(p)
	uid, gid := testenv.User(t, "nobody")

	find := func(t *testing.T, s *snapshot.Snapshot) snapshot.Namespace {
		t.Helper()
		for _, l := range s.Listeners {
			if l.Port == port && l.Protocol == "tcp" {
				for _, ns := range s.Namespaces {
					if ns.Inode == l.Netns && !ns.Host {
						return ns
					}
				}
				t.Fatalf("listener %+v: its netns is not a container namespace in %+v", l, s.Namespaces)
			}
		}
		t.Fatalf("no listener on port %d in the container's namespace", port)
		return snapshot.Namespace{}
	}

	t.Run("root", func(t *testing.T) {
		s, err := Run(context.Background(), Options{Namespaces: NamespacesAll})
		if err != nil {
			t.Fatal(err)
		}
		if ns := find(t, s); ns.Source != string(SourceNetlink) {
			t.Errorf("as root the namespace was read by %q, want netlink", ns.Source)
		}
	})
	t.Run("unit", func(t *testing.T) {
		caps := "+sys_ptrace,+dac_read_search"
		cmd := exec.Command(setpriv, "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid), "--clear-groups", "--no-new-privs",
			"--inh-caps", caps, "--ambient-caps", caps, "--bounding-set", "-all,"+caps, os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=scan-all")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("scan as nobody with the unit's capabilities: %v\n%s", err, stderr.String())
		}
		s, err := snapshot.Parse(out, "scan-all")
		if err != nil {
			t.Fatal(err)
		}
		if ns := find(t, s); ns.Source != string(SourceProc) {
			t.Errorf("with the unit's privileges the namespace was read by %q, want proc", ns.Source)
		}
		src, _ := s.Source(snapshot.SourceNamespaces)
		if !bytes.Contains([]byte(src.Detail), []byte("without byte counters")) || !bytes.Contains([]byte(src.Detail), []byte("netlink refused")) {
			t.Errorf("namespaces source %+v does not say netlink was refused and counters are missing", src)
		}
	})
}
