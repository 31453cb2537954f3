package scan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/internal/testenv"
)

// nlmsg is one netlink message: header of type typ, flags and seq, then
// payload, padded to 4 bytes.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	m := make([]byte, unix.NLMSG_HDRLEN+len(payload), (unix.NLMSG_HDRLEN+len(payload)+3)&^3)
	binary.NativeEndian.PutUint32(m[0:4], uint32(len(m)))
	binary.NativeEndian.PutUint16(m[4:6], typ)
	binary.NativeEndian.PutUint16(m[6:8], flags)
	binary.NativeEndian.PutUint32(m[8:12], seq)
	copy(m[unix.NLMSG_HDRLEN:], payload)
	return m[:cap(m)]
}

func errnoPayload(e int32) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(e))
}

// TestDiagMessagesEnd: how a dump's last datagram ends it: NLMSG_DONE
// with no payload or a zero errno is success, with a negated errno (what
// the kernel sends when the protocol's diag module is missing) that errno;
// NLMSG_ERROR likewise; a message of another dump is passed over; a flagged
// message makes the end errDumpInterrupted, unless the kernel's errno says
// more.
func TestDiagMessagesEnd(t *testing.T) {
	const seq = 7
	for _, tc := range []struct {
		name        string
		msgs        [][]byte
		done        bool
		err         error // errors.Is; nil for none
		interrupted bool
	}{
		{"done bare", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, nil)}, true, nil, false},
		{"done zero errno", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(0))}, true, nil, false},
		{"done ENOENT", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(-int32(unix.ENOENT)))}, true, unix.ENOENT, false},
		{"done short payload", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, []byte{0xfe, 0xff})}, true, nil, false},
		{"error EPERM", [][]byte{nlmsg(unix.NLMSG_ERROR, 0, seq, errnoPayload(-int32(unix.EPERM)))}, true, unix.EPERM, false},
		{"error ack", [][]byte{nlmsg(unix.NLMSG_ERROR, 0, seq, errnoPayload(0))}, true, nil, false},
		{"other dump's done", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq-1, errnoPayload(-int32(unix.ENOENT)))}, false, nil, false},
		{"interrupted", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, seq, errnoPayload(0))}, true, errDumpInterrupted, true},
		{"interrupted with errno", [][]byte{nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, seq, errnoPayload(-int32(unix.ENOENT)))}, true, unix.ENOENT, true},
		{"no end yet", [][]byte{nlmsg(unix.NLMSG_NOOP, unix.NLM_F_MULTI, seq, nil)}, false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			for _, m := range tc.msgs {
				b = append(b, m...)
			}
			interrupted := false
			out, done, err := diagMessages(b, seq, sockDiagByFamily, "udp", nil, &interrupted)
			if len(out) != 0 || done != tc.done || interrupted != tc.interrupted {
				t.Errorf("%d sockets, done %v, interrupted %v; want 0, %v, %v", len(out), done, interrupted, tc.done, tc.interrupted)
			}
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}

// TestDiagDumpNoHandler: the live kernel asked for the sockets of a
// protocol no diag module serves (200) ends the dump with ENOENT in
// NLMSG_DONE, as it does for UDP when udp_diag is missing: diagDump reports
// it rather than an empty table, so the auto source falls back to
// /proc/net.
func TestDiagDumpNoHandler(t *testing.T) {
	fd, err := openDiag()
	if err != nil {
		testenv.Unavailable(t, "no sock_diag socket: %v", err)
	}
	defer unix.Close(fd)
	out, err := diagDump(fd, 1, sockDiagByFamily, v2Req(unix.AF_INET, 200), "protocol 200", make([]byte, diagRecvBuf), nil)
	if !errors.Is(err, unix.ENOENT) || len(out) != 0 {
		t.Errorf("dump of protocol 200: %d sockets, error %v; want none, ENOENT", len(out), err)
	}
}

// TestNetlinkUnusable: a namespace's netlink source falls back to its
// /proc/<pid>/net when entering the namespace is refused or a dump ended
// with the kernel's errno (ENOENT from a missing diag module, which
// vanished would otherwise take for the process gone and drop the
// namespace), as wrapped by diagSockets; not for other failures.
func TestNetlinkUnusable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"entering refused", &netlinkRefused{errors.New("setns: operation not permitted")}, true},
		{"udp_diag missing", fmt.Errorf("sock_diag udp (family 2): %w", &diagDumpError{proto: "udp", how: "ended", errno: unix.ENOENT}), true},
		{"dump refused", fmt.Errorf("inet_diag tcp: %w", &diagDumpError{proto: "tcp", how: "refused", errno: unix.EPERM}), true},
		{"receive failed", fmt.Errorf("inet_diag tcp: receive: %w", unix.EAGAIN), false},
		{"process gone", fmt.Errorf("open: %w", unix.ENOENT), false},
	} {
		if got := netlinkUnusable(tc.err); got != tc.want {
			t.Errorf("%s: netlinkUnusable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestVanishedNotForDumpErrors: a namespace whose dump the kernel ended
// with ENOENT (no udp_diag) and whose /proc fallback then failed too is
// reported with that error, not taken for its process gone (errVanished,
// which leaves the namespace out without a word); a plain ENOENT or ESRCH
// still is, and so is the fallback's own.
func TestVanishedNotForDumpErrors(t *testing.T) {
	dump := &diagDumpError{proto: "udp", how: "ended", errno: unix.ENOENT}
	for _, tc := range []struct {
		name string
		err  error
		want bool // errVanished
	}{
		{"dump ended ENOENT, fallback denied", errors.Join(dump, errors.New("/proc/42/net/udp: permission denied")), false},
		{"dump ended ENOENT, fallback found the process gone", errors.Join(dump, fmt.Errorf("open /proc/42/net/udp: %w", unix.ENOENT)), true},
		{"wrapped join", fmt.Errorf("namespace 4026532000: %w", errors.Join(dump, errors.New("permission denied"))), false},
		{"dump ended ENOENT alone", fmt.Errorf("inet_diag: %w", dump), false},
		{"process gone", fmt.Errorf("open /proc/42/net/tcp: %w", unix.ENOENT), true},
		{"no such process", fmt.Errorf("setns: %w", unix.ESRCH), true},
		{"other", errors.New("receive: resource temporarily unavailable"), false},
	} {
		if got := errors.Is(vanished(tc.err), errVanished); got != tc.want {
			t.Errorf("%s: vanished(%v) is errVanished: %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
