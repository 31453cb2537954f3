package snapshot

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Window methods, for Window.Method.
const (
	// WindowEvents: a dump at each end and the kernel's sock_diag destroy
	// event for every TCP socket that ended in between.
	WindowEvents = "sock_diag destroy events"
	// WindowPolling: repeated dumps only (destroy events refused, or the proc
	// socket source); a connection that begins and ends between two dumps is
	// not seen, and one that ends is counted up to the last dump that saw it.
	WindowPolling = "repeated dumps"
)

// WindowBytesMeaning is recorded in every snapshot with a window.
const WindowBytesMeaning = "window.bytes_sent/bytes_received: TCP payload bytes (tcpi_bytes_acked/tcpi_bytes_received, which also count the SYN and FIN as one byte each) moved within the window, of every socket alive at any time in it; *_per_second divide them by window.seconds"

// Window describes an observation window: a scan that watched the host's TCP
// sockets from Start for Seconds rather than reading one instant. The
// snapshot's connections are then also those that ended within it, each
// with a ConnWindow. Added within planet.snapshot/v1: readers that do not
// know it see a snapshot whose byte counters say what they always said.
type Window struct {
	Start time.Time `json:"start"`
	// Seconds is how long the window actually lasted; Requested is what was
	// asked for (larger when CutShort).
	Seconds   float64 `json:"seconds"`
	Requested float64 `json:"requested_seconds"`
	// CutShort: a signal (SIGINT, SIGTERM) ended the window early; the
	// figures are right for the shorter window.
	CutShort bool `json:"cut_short,omitempty"`
	// Continued: the window began where the previous run's ended (Start is
	// that end), its sockets handed on through the state directory and the
	// destroy events in between queued in a subscription the service
	// manager held (planet.socket): consecutive windows abut.
	Continued bool `json:"continued,omitempty"`
	// Method is WindowEvents or WindowPolling; Detail says why polling, and
	// how often.
	Method string `json:"method"`
	Detail string `json:"detail,omitempty"`
	// Opened and Closed count TCP connections that began and ended in the
	// window (both ends of a loopback connection count).
	Opened int `json:"opened"`
	Closed int `json:"closed"`
	// Unattributed counts sockets of this host's upstream connections that
	// began and ended between two dumps, so no process was ever seen holding
	// them: their records have an empty process.
	Unattributed int `json:"unattributed"`
	// WorkloadUnknown counts those of them whose workload is unknown too:
	// the kernel's destroy event does not carry the socket's cgroup, so a
	// socket no dump saw has the workload of its network namespace where
	// all its processes share one (a container, a pod), else none.
	WorkloadUnknown int `json:"workload_unknown,omitempty"`
	// ResetUnknown counts client sockets that no dump saw alive and that the
	// kernel disconnected before destroying them: a reset by this host
	// (SO_LINGER 0) or a connect that failed (refused, timed out). The kernel
	// clears such a socket's peer port and counters, and the two cases look
	// alike, so they are in no record.
	ResetUnknown int `json:"reset_unknown,omitempty"`
	// ResetPaired counts client sockets reset by this host whose server end
	// was on this host too (another network namespace, or loopback): their
	// port and bytes are the server end's, the other way round.
	ResetPaired int `json:"reset_paired,omitempty"`
	// ResetNoBytes counts reset client sockets whose server is elsewhere,
	// put on the one port the same workload used to that server in the
	// window: they count as opened and closed, with no bytes.
	ResetNoBytes int `json:"reset_no_bytes,omitempty"`
	// Namespaces counts the network namespaces the window heard destroy
	// events of (planet's own included); NamespacesUnwatched those it could
	// neither enter nor read through /proc (see NamespacesPolled): their
	// connections that ended in the window are missing, and Detail says why.
	Namespaces          int `json:"namespaces,omitempty"`
	NamespacesUnwatched int `json:"namespaces_unwatched,omitempty"`
	// NamespacesPolled counts the namespaces the window could not enter
	// (so heard no destroy events of) but read every second or so through
	// /proc/PID/net/tcp{,6} of a process in them: repeated dumps without
	// byte counters. A connection that begins and ends between two reads
	// is missed; the records of these namespaces have BytesUnknown. Detail
	// names them and says why they could not be entered.
	NamespacesPolled int `json:"namespaces_polled,omitempty"`
	// EventOverruns counts the times the kernel dropped destroy events
	// because planet's receive buffer was full; the bytes of the sockets lost
	// that way are missing or counted up to the last dump that saw them.
	EventOverruns uint64 `json:"event_overruns,omitempty"`
	BytesMeaning  string `json:"bytes_meaning"`
}

// ConnWindow is one dependency's activity within the snapshot's window.
type ConnWindow struct {
	// Opened: sockets that began in the window; Closed: that ended in it.
	Opened          int     `json:"opened"`
	Closed          int     `json:"closed"`
	OpenedPerSecond float64 `json:"opened_per_second"`
	// BytesSent went from this host to the peer, BytesReceived the other way.
	BytesSent              uint64  `json:"bytes_sent"`
	BytesReceived          uint64  `json:"bytes_received"`
	BytesSentPerSecond     float64 `json:"bytes_sent_per_second"`
	BytesReceivedPerSecond float64 `json:"bytes_received_per_second"`
	// BytesUnknown: the record's sockets were seen only through
	// /proc/PID/net/tcp (a namespace the window polled, see
	// Window.NamespacesPolled), which has no byte counters: its bytes and
	// rates are 0 because unmeasured, not because nothing moved.
	BytesUnknown bool `json:"bytes_unknown,omitempty"`
	// FirstSeen and LastSeen: the first and last time within the window a
	// socket of this dependency was seen (a dump, or its destroy event).
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

func (w *Window) validate() error {
	if w.Start.IsZero() {
		return errors.New("window.start: missing")
	}
	if !(w.Seconds > 0) || math.IsInf(w.Seconds, 0) {
		return fmt.Errorf("window.seconds: %v is not a positive length", w.Seconds)
	}
	if w.Method != WindowEvents && w.Method != WindowPolling {
		return fmt.Errorf("window.method: %q is neither %q nor %q", w.Method, WindowEvents, WindowPolling)
	}
	return nil
}

// validate checks what readers add up: counts and rates that are not
// negative (JSON has no NaN or infinity). The error names the field after
// "window.".
func (w *ConnWindow) validate() error {
	switch {
	case w.Opened < 0:
		return fmt.Errorf("opened: negative (%d)", w.Opened)
	case w.Closed < 0:
		return fmt.Errorf("closed: negative (%d)", w.Closed)
	case w.OpenedPerSecond < 0:
		return fmt.Errorf("opened_per_second: negative (%v)", w.OpenedPerSecond)
	case w.BytesSentPerSecond < 0:
		return fmt.Errorf("bytes_sent_per_second: negative (%v)", w.BytesSentPerSecond)
	case w.BytesReceivedPerSecond < 0:
		return fmt.Errorf("bytes_received_per_second: negative (%v)", w.BytesReceivedPerSecond)
	}
	return nil
}
