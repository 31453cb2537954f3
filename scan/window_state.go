package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

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
}

// loadWindowState reads the state a previous window in namespace netns
// handed on: nil when there is none, it is of another namespace, or older
// than maxContinue at now. The file is removed once read, so that a state
// is continued from once.
func loadWindowState(dir string, netns uint64, now time.Time) (*windowState, error) {
	path := filepath.Join(dir, windowStateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_ = os.Remove(path)
	var st windowState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Netns != netns || st.End.IsZero() || now.Sub(st.End) > maxContinue || now.Before(st.End) {
		return nil, nil
	}
	return &st, nil
}

// saveWindowState writes st to dir, replacing the file whole.
func saveWindowState(dir string, st *windowState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, windowStateFile)
	tmp, err := os.CreateTemp(dir, windowStateFile+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
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
		n.live[s.Cookie] = &winSock{key: k, baseSent: s.Sent, baseRecv: s.Received, lastSent: s.Sent, lastRecv: s.Received}
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
// events are still to come through the held subscription).
func (o *observer) handOn(n *winNS, end time.Time) *windowState {
	st := &windowState{End: end.UTC(), Netns: n.inode, Sockets: make([]savedSock, 0, len(n.live))}
	for c, ws := range n.live {
		k := ws.key
		st.Sockets = append(st.Sockets, savedSock{Cookie: c, Direction: k.dir, Port: k.port, Process: k.process,
			Workload: k.workload, Remote: k.remote, Sent: ws.lastSent, Received: ws.lastRecv})
	}
	return st
}
