// Package fetch reads a document from an HTTP(S) URL or a local file with a
// deadline and a size limit, so a dead, slow or huge source is a clear error
// and never a hang or an out-of-memory.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Options bound one fetch. Zero values take the defaults.
type Options struct {
	Timeout  time.Duration // whole request, connect to last byte; default 10s
	MaxBytes int64         // refuse bodies larger than this; default 32 MiB
	Client   *http.Client  // default: a client that keeps no idle connection
}

const (
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBytes = 32 << 20
)

// ErrTooLarge is wrapped when a source exceeds Options.MaxBytes.
var ErrTooLarge = errors.New("larger than the size limit")

// ErrNotRegular is wrapped when a file source is a FIFO, device, socket or
// directory: opening a FIFO blocks until a writer comes, and /dev/zero never
// ends, so neither is read.
var ErrNotRegular = errors.New("not a regular file")

// IsURL reports whether source names an HTTP(S) URL rather than a file.
func IsURL(source string) bool {
	s := strings.ToLower(source)
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// Get returns the body of source (URL or file path). Errors name the source.
func Get(ctx context.Context, source string, opts Options) ([]byte, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if !IsURL(source) {
		return getFile(ctx, source, opts.MaxBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	client := opts.Client
	if client == nil {
		// One request per run: no idle connection is kept, so none
		// lingers for the next scan to see.
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("%s: no answer within %s: %w", source, opts.Timeout, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("%s: %w", source, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", source, resp.Status)
	}
	if resp.ContentLength > opts.MaxBytes {
		return nil, fmt.Errorf("%s: %w (%d bytes announced, limit %d)", source, ErrTooLarge, resp.ContentLength, opts.MaxBytes)
	}
	body, err := readLimited(resp.Body, source, opts.MaxBytes)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%s: body not complete within %s: %w", source, opts.Timeout, context.DeadlineExceeded)
	}
	return body, err
}

// ReadFile reads a local regular file of at most limit bytes, refusing
// FIFOs, devices and directories without blocking on them; errors name it.
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	return getFile(ctx, path, limit)
}

// OpenFile opens a local regular file of at most limit bytes for reading,
// with ReadFile's checks, for a caller that reads it as a stream.
func OpenFile(ctx context.Context, path string, limit int64) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	info, err := f.Stat()
	switch {
	case err != nil:
	case !info.Mode().IsRegular():
		err = fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(info.Mode()))
	case info.Size() > limit:
		err = fmt.Errorf("%s: %w (%d bytes, limit %d)", path, ErrTooLarge, info.Size(), limit)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// getFile reads a regular file of at most limit bytes. The file is opened
// with O_NONBLOCK, so a FIFO swapped in after a check cannot block the open,
// and its type is checked on the open descriptor, not on the name.
func getFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(info.Mode()))
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("%s: %w (%d bytes, limit %d)", path, ErrTooLarge, info.Size(), limit)
	}
	return readLimited(f, path, limit)
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}

func readLimited(r io.Reader, source string, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, unwrapURLError(err))
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s: %w (limit %d bytes)", source, ErrTooLarge, limit)
	}
	return body, nil
}

// unwrapURLError drops *url.Error's own copy of the method and URL: callers
// name the source once.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
