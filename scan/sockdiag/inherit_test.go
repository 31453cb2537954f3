package sockdiag

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInherited: a subscription passed the way systemd passes a socket
// unit's (LISTEN_PID, LISTEN_FDS, descriptors from 3) is found among the
// passed descriptors, past others that are not one (a plain sock_diag
// socket, the runtime's own), and hears destroy events; without the
// variables, or for another PID, there is none.
func TestInherited(t *testing.T) {
	plain, err := openHere()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(plain)
	sub, err := Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	count := strconv.Itoa(sub.fd - listenFDsStart + 1)
	tests := []struct {
		name      string
		pid, fds  string
		wantFound bool
	}{
		{"passed", strconv.Itoa(os.Getpid()), count, true},
		{"another process's", strconv.Itoa(os.Getpid() + 1), count, false},
		{"not among the passed", strconv.Itoa(os.Getpid()), strconv.Itoa(plain - listenFDsStart + 1), false},
		{"none", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LISTEN_PID", tt.pid)
			t.Setenv("LISTEN_FDS", tt.fds)
			ev := Inherited()
			if (ev != nil) != tt.wantFound {
				t.Fatalf("Inherited() = %v, want found %v", ev, tt.wantFound)
			}
			if ev == nil {
				return
			}
			if ev.fd != sub.fd {
				t.Fatalf("found descriptor %d, want %d", ev.fd, sub.fd)
			}
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, _ := transfer(t, ln, 10, 10, false)
			heard := false
			for deadline := time.Now().Add(5 * time.Second); !heard && time.Now().Before(deadline); {
				if err := ev.Read(100*time.Millisecond, func(s *Sock) { heard = heard || s.Local == client }); err != nil {
					t.Fatal(err)
				}
			}
			if !heard {
				t.Error("no destroy event through the inherited subscription")
			}
		})
	}
}
