package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/planetdeps/planet/internal/atomicfile"
	"github.com/planetdeps/planet/internal/trust"
	"github.com/planetdeps/planet/snapshot"
)

// windowStateFile, in the state directory, holds what a window handed on:
// when it ended and the sockets it saw alive then, or whose end it had not
// heard of yet.
const windowStateFile = "window-sockets.json"

// maxContinue is how old a handed-on state may be: an older one is of a
// run long gone (the host was down, the timer stopped) and the next window
// starts afresh.
const maxContinue = time.Hour

// windowState is windowStateFile's content.
type windowState struct {
	End     time.Time   `json:"end"`
	Netns   uint64      `json:"netns"`
	Sockets []savedSock `json:"sockets"`
}

// savedSock is one socket handed on: its dependency and its counters as
// the window counted them.
type savedSock struct {
	Cookie    uint64             `json:"cookie"`
	Direction snapshot.Direction `json:"direction"`
	Port      uint16             `json:"port"`
	Process   string             `json:"process,omitempty"`
	Workload  string             `json:"workload,omitempty"`
	Remote    netip.Addr         `json:"remote"`
	Sent      uint64             `json:"sent"`
	Received  uint64             `json:"received"`
	// Unseen: the end dump did not see it; handed on once more only.
	Unseen bool `json:"unseen,omitempty"`
}

// maxWindowState bounds the state file: some 300,000 sockets. A larger one
// is not read (the next window starts afresh) and not written.
const maxWindowState = 64 << 20

// loadWindowState reads the state a previous window in namespace netns
// handed on: nil when there is none, it is of another namespace, or older
// than maxContinue at now. The file is opened as internal/trust allows
// (owned by this user or root, writable by no one else, a regular file:
// never a FIFO that would block), read up to maxWindowState and decoded
// strictly. It is removed once read, so that a state is continued from
// once. Errors name the file.
func loadWindowState(dir string, netns uint64, now time.Time) (*windowState, error) {
	path := filepath.Join(dir, windowStateFile)
	f, err := trust.For(os.Geteuid()).Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("window state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWindowState+1))
	if err != nil {
		return nil, fmt.Errorf("window state %s: %w", path, err)
	}
	_ = os.Remove(path)
	if len(b) > maxWindowState {
		return nil, fmt.Errorf("window state %s: larger than %d bytes", path, maxWindowState)
	}
	var st windowState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("window state %s: %w", path, err)
	}
	if st.Netns != netns || st.End.IsZero() || now.Sub(st.End) > maxContinue || now.Before(st.End) {
		return nil, nil
	}
	return &st, nil
}

// saveWindowState writes st to dir, replacing the file whole
// (internal/atomicfile). A state over maxWindowState is not written.
func saveWindowState(dir string, st *windowState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("window state: %w", err)
	}
	path := filepath.Join(dir, windowStateFile)
	if len(b) > maxWindowState {
		return fmt.Errorf("window state %s: %d sockets, larger than %d bytes", path, len(st.Sockets), maxWindowState)
	}
	return atomicfile.Write(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// commit saves the state the window hands on, if any, in its state
// directory: once, after the snapshot is written.
func (o *observer) commit() error {
	st := o.handedOn
	if st == nil {
		return nil
	}
	o.handedOn = nil
	return saveWindowState(o.stateDir, st)
}

// continueFrom takes up a handed-on state in namespace n: its sockets are
// the window's as if a dump had seen them, with their counters as the
// previous window counted them, so that what they move from then on (or
// their destroy events, queued in the held subscription) counts here.
func (o *observer) continueFrom(n *winNS, st *windowState) {
	for _, s := range st.Sockets {
		k := winKey{s.Direction, s.Port, s.Process, s.Workload, s.Remote, n.inode}
		n.live[s.Cookie] = &winSock{key: k, baseSent: s.Sent, baseRecv: s.Received, lastSent: s.Sent, lastRecv: s.Received, handedUnseen: s.Unseen}
		if s.Workload != "" && o.workloads[s.Workload] == nil {
			if o.workloads == nil {
				o.workloads = map[string]*snapshot.Workload{}
			}
			o.workloads[s.Workload] = &snapshot.Workload{Name: s.Workload}
		}
	}
}

// handOn is the state namespace n leaves for the next window: the sockets
// alive at the end dump, and those whose end was not yet heard (their
// events are still to come through the held subscription), marked Unseen.
// A socket already handed on unseen that this window did not see either is
// not handed on again: its event was lost.
func (o *observer) handOn(n *winNS, end time.Time) *windowState {
	st := &windowState{End: end.UTC(), Netns: n.inode, Sockets: make([]savedSock, 0, len(n.live))}
	for c, ws := range n.live {
		if ws.handedUnseen && !ws.seenInLastRun {
			continue
		}
		k := ws.key
		st.Sockets = append(st.Sockets, savedSock{Cookie: c, Direction: k.dir, Port: k.port, Process: k.process,
			Workload: k.workload, Remote: k.remote, Sent: ws.lastSent, Received: ws.lastRecv, Unseen: !ws.seenInLastRun})
	}
	return st
}
