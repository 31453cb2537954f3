package fetch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
)

var errStop = errors.New("stopped")

// parked waits until a goroutine of this test is parked in the poller in
// fn, and returns errStop; or the reason it never was, for the test to
// report as the cancel's cause.
func parked(fn string) error {
	if err := testenv.WaitParked(fn, 10*time.Second); err != nil {
		return err
	}
	return errStop
}

// TestOpenStreamFIFO: a FIFO named on purpose is waited for without
// blocking in open(2): the wait ends when a writer writes (or comes and
// goes), or at once when the context is cancelled.
func TestOpenStreamFIFO(t *testing.T) {
	tests := []struct {
		name   string
		writer func(path string) // nil: no writer ever comes
		want   string
	}{
		{name: "no writer, cancelled", want: ""},
		{name: "writer writes later", want: "hello", writer: func(path string) {
			parked("fetch.waitReadable")
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err == nil {
				f.WriteString("hello")
				f.Close()
			}
		}},
		{name: "writer comes and goes", want: "", writer: func(path string) {
			parked("fetch.waitReadable")
			if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				f.Close()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "in.json")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tt.writer == nil {
				go func() { cancel(parked("fetch.waitReadable")) }()
			} else {
				go tt.writer(fifo)
			}
			done := make(chan struct{})
			var got []byte
			var err error
			start := time.Now()
			go func() {
				defer close(done)
				var f *os.File
				if f, err = OpenStream(ctx, fifo); err != nil {
					return
				}
				defer f.Close()
				got, err = io.ReadAll(Reader(ctx, f))
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("blocked")
			}
			if tt.writer == nil {
				if !errors.Is(err, errStop) {
					t.Errorf("err = %v, want the context's cause", err)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("took %s after the cancel", d)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("read %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestReaderCancels: a read blocked on a pipe with no data returns the
// context's cause once it is cancelled, whether or not the runtime polls
// the pipe.
func TestReaderCancels(t *testing.T) {
	for _, polled := range []bool{true, false} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var src io.Reader = r
		if !polled {
			src = struct{ io.Reader }{r} // hides *os.File: the goroutine path
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		w.WriteString("abc")
		rd := Reader(ctx, src)
		buf := make([]byte, 2)
		if n, err := rd.Read(buf); n != 2 || err != nil {
			t.Fatalf("polled=%v: first read %d %v", polled, n, err)
		}
		if n, err := rd.Read(buf); n != 1 || err != nil || buf[0] != 'c' {
			t.Fatalf("polled=%v: second read %d %v %q", polled, n, err, buf[:n])
		}
		go func() { cancel(parked("os.(*File).Read")) }()
		if _, err := rd.Read(buf); !errors.Is(err, errStop) {
			t.Errorf("polled=%v: err = %v, want the cause", polled, err)
		}
		r.Close()
	}
}

// TestReaderRegularFileCancels: a regular file never blocks, but a big one
// takes long to read: once the context is done the next read ends with its
// cause, so a signal stops a command reading one.
func TestReaderRegularFileCancels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	rd := Reader(ctx, f)
	buf := make([]byte, 1024)
	if n, err := rd.Read(buf); n != len(buf) || err != nil {
		t.Fatalf("first read %d %v", n, err)
	}
	cancel(errStop)
	if n, err := rd.Read(buf); n != 0 || !errors.Is(err, errStop) {
		t.Errorf("read after cancel: %d, %v; want 0 and the cause", n, err)
	}
}

func TestOpenStreamRefusesDirectory(t *testing.T) {
	if _, err := OpenStream(context.Background(), t.TempDir()); !errors.Is(err, ErrNotRegular) {
		t.Errorf("err = %v, want ErrNotRegular", err)
	}
}
