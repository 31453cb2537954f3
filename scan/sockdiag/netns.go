package sockdiag

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace that dumps and subscriptions can be
// made in: a file descriptor of its /proc/<pid>/ns/net link, held by the
// caller for as long as it uses the Namespace. Own is the caller's own.
//
// A netlink socket belongs to the namespace it was created in for its whole
// life (and holds that namespace alive while open), so a socket made inside
// another namespace dumps and hears that namespace only.
type Namespace struct{ fd int }

// Own is the calling thread's network namespace.
var Own = Namespace{fd: -1}

// NamespaceFD is the namespace whose /proc/<pid>/ns/net (or a bind mount of
// it) fd is open.
func NamespaceFD(fd int) Namespace { return Namespace{fd: fd} }

// open makes a sock_diag socket in ns. Another namespace's is made on a
// thread of its own that enters ns (setns, which needs CAP_SYS_ADMIN over
// the namespace) and goes back; where it cannot go back, the thread stays
// locked, so that the runtime ends it with its goroutine instead of running
// other code in the wrong namespace.
func open(ns Namespace) (int, error) {
	if ns.fd < 0 {
		return openHere()
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("own network namespace: %w", err)}
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("enter network namespace (setns): %w", err)}
			return
		}
		fd, err := openHere()
		if berr := unix.Setns(self, unix.CLONE_NEWNET); berr != nil {
			ch <- result{fd, err} // the thread stays locked and ends
			return
		}
		runtime.UnlockOSThread()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}
