package scan

import "testing"

func TestStateName(t *testing.T) {
	for s, want := range map[uint8]string{
		stateEstablished: "ESTABLISHED", stateTimeWait: "TIME_WAIT", stateClose: "CLOSE",
		stateCloseWait: "CLOSE_WAIT", stateListen: "LISTEN", 200: "UNKNOWN",
	} {
		if got := stateName(s); got != want {
			t.Errorf("stateName(%d) = %q, want %q", s, got, want)
		}
	}
}
