package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/planetdeps/planet/internal/trust"
)

// ErrSVGTimeout is the layout killed at SVGOptions.Timeout; a narrower
// Filter or a longer timeout gets past it.
var ErrSVGTimeout = errors.New("the layout took longer than the SVG timeout")

// SVG is drawn by a companion binary, planet-svg, that reads DOT on standard
// input and writes SVG: the SVG engine (go-graphviz, Graphviz compiled to
// WebAssembly) compiles itself in a package init, so linking it into planet
// would make every run, cron scans included, pay for it. A child process
// also gives each render its own engine (concurrent renders in one process
// corrupt it) and a deadline that is kept (the engine ignores contexts: the
// child is killed instead).
const (
	HelperName        = "planet-svg"
	DefaultSVGTimeout = 2 * time.Minute
	// maxSVG bounds what is read back from the helper.
	maxSVG = 512 << 20
)

// SVGOptions says how the SVG helper is found and run.
type SVGOptions struct {
	// Helper is the planet-svg binary. Empty: planet-svg next to the running
	// executable, else in $PATH.
	Helper string
	// CacheDir keeps the engine's compiled code between runs. Empty:
	// /var/cache/planet for root, the user cache dir's planet/ for others.
	// It must be a real directory owned by the current user and writable by
	// nobody else (and so must its go-graphviz subdirectory); otherwise a
	// fresh private temp directory is used for this render and removed.
	CacheDir string
	// Timeout bounds one render; the helper is killed at the deadline.
	// Zero means DefaultSVGTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
}

// SVG lays out dot and draws it as SVG in a planet-svg child process whose
// TMPDIR is a private, verified cache directory: the engine caches compiled
// native code in $TMPDIR/go-graphviz and trusts whatever it finds there, so
// it must never look in a directory another user can write (a planted
// /tmp/go-graphviz would run that user's code as root).
func SVG(ctx context.Context, dot []byte, opts SVGOptions) ([]byte, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	helper, err := findHelper(opts.Helper)
	if err != nil {
		return nil, err
	}
	cache, cleanup, err := prepareCache(opts.CacheDir, log)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultSVGTimeout
	}
	run, cancel := context.WithTimeout(ctx, timeout) // see ErrSVGTimeout
	defer cancel()
	cmd := exec.CommandContext(run, helper)
	// Nothing of planet's environment reaches the engine but its cache.
	cmd.Env = []string{"TMPDIR=" + cache}
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(dot)
	stdout := &capped{max: maxSVG}
	stderr := &capped{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// The helper is killed at the deadline; don't wait on pipes after that.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case errors.Is(run.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("svg: %s did not finish within %s and was killed: %w", helper, timeout, ErrSVGTimeout)
	case err != nil:
		return nil, fmt.Errorf("svg: %s: %w: %s", helper, err, bytes.TrimSpace(stderr.buf.Bytes()))
	case stdout.over:
		return nil, fmt.Errorf("svg: %s wrote more than %d bytes", helper, maxSVG)
	}
	out := stdout.buf.Bytes()
	if !bytes.Contains(out[:min(len(out), 4096)], []byte("<svg")) {
		return nil, fmt.Errorf("svg: %s wrote no SVG: %.200q", helper, out)
	}
	log.Debug("svg rendered", "helper", helper, "cache", cache, "took", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// capped keeps at most max bytes and remembers whether more came.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// findHelper locates planet-svg: the one given, else next to the running
// executable (a package installs both in one directory), else in $PATH. As
// root it must be root's: the binary and every directory above it owned by
// root and writable by nobody else (sticky directories excepted).
func findHelper(explicit string) (string, error) {
	path := explicit
	if path == "" {
		if exe, err := os.Executable(); err == nil {
			if real, err := filepath.EvalSymlinks(exe); err == nil {
				exe = real
			}
			cand := filepath.Join(filepath.Dir(exe), HelperName)
			if info, err := os.Stat(cand); err == nil && info.Mode().IsRegular() {
				path = cand
			}
		}
	}
	if path == "" {
		p, err := exec.LookPath(HelperName)
		if err != nil {
			return "", fmt.Errorf("svg: the %s helper is neither next to planet nor in $PATH (go install github.com/planetdeps/planet/cmd/%s@latest), or render -f dot and run Graphviz: dot -Tsvg: %w",
				HelperName, HelperName, err)
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("svg: helper: %w", err)
	}
	if uid := os.Geteuid(); uid == 0 {
		if err := checkTrusted(resolved, uid); err != nil {
			return "", fmt.Errorf("svg: refusing to run %s as root: %w", resolved, err)
		}
	}
	return resolved, nil
}

// checkTrusted returns nil when path and every directory above it are owned
// by uid or root and writable by nobody else (sticky directories excepted),
// walked without following links other users control: trust.Policy.Check.
func checkTrusted(path string, uid int) error {
	return trust.For(uid).Check(path)
}

// DefaultCacheDir is where the engine's compiled code is kept for uid.
func DefaultCacheDir(uid int) string {
	if uid == 0 {
		return "/var/cache/planet"
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "planet")
}

// engineCacheSubdir is where go-graphviz keeps its cache under $TMPDIR.
const engineCacheSubdir = "go-graphviz"

// prepareCache returns the TMPDIR for the helper: the cache directory when
// it is private (created if absent), else a fresh private temp directory,
// with a warning, that cleanup removes.
func prepareCache(dir string, log *slog.Logger) (string, func(), error) {
	uid := os.Geteuid()
	if dir == "" {
		dir = DefaultCacheDir(uid)
	}
	if dir != "" {
		err := ensurePrivate(dir, uid)
		if err == nil {
			return dir, func() {}, nil
		}
		log.Warn("svg: cache directory is not private to this user; using a fresh temporary one (a slower, cold start)",
			"dir", dir, "err", err)
	}
	tmp, err := privateTemp(uid)
	if err != nil {
		return "", nil, fmt.Errorf("svg: no private directory for the SVG engine: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// ensurePrivate creates dir and dir/go-graphviz (0700) where absent, then
// checks both are real directories (not symlinks) owned by uid and not
// writable by group or others, and that the directories above are trusted.
func ensurePrivate(dir string, uid int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if err := checkTrusted(filepath.Dir(dir), uid); err != nil {
		return err
	}
	for _, d := range []string{dir, filepath.Join(dir, engineCacheSubdir)} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := checkPrivate(d, uid); err != nil {
			return err
		}
	}
	return nil
}

// checkPrivate checks one directory is uid's alone, not a symlink:
// trust.Policy.PrivateDir.
func checkPrivate(dir string, uid int) error {
	return trust.For(uid).PrivateDir(dir)
}

// privateTemp makes a fresh 0700 directory in a temp directory whose path
// others cannot tamper with ($TMPDIR if trusted, else /tmp).
func privateTemp(uid int) (string, error) {
	var errs []error
	for _, base := range []string{os.TempDir(), "/tmp"} {
		if err := checkTrusted(base, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		dir, err := os.MkdirTemp(base, "planet-svg-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkPrivate(dir, uid); err != nil {
			os.RemoveAll(dir)
			errs = append(errs, err)
			continue
		}
		return dir, nil
	}
	return "", errors.Join(errs...)
}
