package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// OpenStream opens a file named on purpose as a stream (a FIFO such as
// <(ssh host planet scan), /dev/stdin, or a regular file) without ever
// blocking in open(2), and for a FIFO waits for its writer until ctx is
// done. A plain open of a FIFO blocks until a writer comes, and no signal
// handler can interrupt it; here the open is non-blocking and the wait is a
// poll the runtime can cancel. Directories are refused. Read the result
// through Reader so that reads stop when ctx is done too.
func OpenStream(ctx context.Context, path string) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, context.Cause(ctx))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if info.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(info.Mode()))
	}
	if info.Mode()&os.ModeNamedPipe == 0 {
		return f, nil
	}
	// A FIFO opened without blocking reads as empty until a writer comes,
	// and poll reports nothing until one writes or comes and goes: wait for
	// that through the runtime's poller, which a deadline interrupts.
	if err := waitReadable(ctx, f); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", path, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// waitReadable returns once f (a FIFO registered with the runtime's poller)
// has data or a hang-up, or when ctx is done.
func waitReadable(ctx context.Context, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		if err != nil && !errors.Is(err, unix.EINTR) {
			perr = err
			return true
		}
		return n > 0
	})
	if err != nil {
		return err
	}
	return perr
}

// Reader returns r read so that a Read blocked on a pipe, FIFO or terminal
// returns once ctx is done, with ctx's cause: through a read deadline where
// r is an *os.File the runtime polls, else by reading in a goroutine (which
// stays blocked until the read returns; planet exits soon after). Regular
// files never block, but a big one takes a while: each Read checks ctx
// first, so a signal stops the reading within one buffer.
func Reader(ctx context.Context, r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if ok {
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			return &ctxReader{ctx: ctx, r: r}
		}
		if f.SetReadDeadline(time.Time{}) == nil {
			return &deadlineReader{ctx: ctx, f: f}
		}
	}
	return &goReader{ctx: ctx, r: r}
}

type deadlineReader struct {
	ctx  context.Context
	f    *os.File
	once sync.Once
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.once.Do(func() {
		context.AfterFunc(d.ctx, func() { d.f.SetReadDeadline(time.Unix(1, 0)) })
	})
	n, err := d.f.Read(p)
	if err != nil && d.ctx.Err() != nil {
		return n, context.Cause(d.ctx)
	}
	return n, err
}

// goReader reads into its own buffer in a goroutine, so that a read
// abandoned when ctx is done never writes into the caller's slice later.
type goReader struct {
	ctx     context.Context
	r       io.Reader
	pending chan readResult // a read still running from an earlier call
	buf     []byte          // data read but not yet handed out
	err     error           // the error that came with buf
}

type readResult struct {
	b   []byte
	err error
}

func (g *goReader) Read(p []byte) (int, error) {
	if len(g.buf) > 0 || g.err != nil {
		n := copy(p, g.buf)
		g.buf = g.buf[n:]
		if len(g.buf) > 0 {
			return n, nil
		}
		return n, g.err
	}
	if err := g.ctx.Err(); err != nil {
		return 0, context.Cause(g.ctx)
	}
	if g.pending == nil {
		ch := make(chan readResult, 1)
		size := max(len(p), 512)
		go func() {
			b := make([]byte, size)
			n, err := g.r.Read(b)
			ch <- readResult{b[:n], err}
		}()
		g.pending = ch
	}
	select {
	case res := <-g.pending:
		g.pending = nil
		n := copy(p, res.b)
		if g.buf = res.b[n:]; len(g.buf) > 0 {
			g.err = res.err
			return n, nil
		}
		return n, res.err
	case <-g.ctx.Done():
		return 0, context.Cause(g.ctx)
	}
}

// ctxReader is a reader of a regular file that ends with ctx's cause once
// ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}
