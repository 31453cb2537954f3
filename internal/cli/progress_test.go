package cli

import (
	"bytes"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	tests := []struct {
		name  string
		after time.Duration // when the calls happen, after the start
		calls [][2]int
		want  string
	}{
		{"a quick merge prints nothing", time.Second, [][2]int{{1, 3}, {2, 3}, {3, 3}}, ""},
		{"a slow one shows progress and ends the line", 3 * time.Second, [][2]int{{1, 3}, {3, 3}}, "\rread 1/3\rread 3/3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var b bytes.Buffer
			p := progressLine(&b, "read %d/%d", 2*time.Second, now)
			clock = clock.Add(tt.after)
			for _, c := range tt.calls {
				p(c[0], c[1])
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}

// Progress never goes to a pipe or a buffer: only a terminal gets it.
func TestProgressNotOnPipes(t *testing.T) {
	a := &app{stderr: &bytes.Buffer{}}
	if a.progress("x %d/%d") != nil {
		t.Error("progress on a non-terminal stderr")
	}
}
