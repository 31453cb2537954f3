package graph

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/snapshot"
)

// Level says how much a Note matters.
type Level string

const (
	// Info: something the user asked for happened (an older snapshot left out).
	Info Level = "note"
	// Warning: an input was skipped because it could not be used.
	Warning Level = "warning"
)

// Note is something the caller should tell the user; the package never prints.
type Note struct {
	Level Level
	Name  string // the input it is about: a path, "-" or "- (document N)"
	Msg   string
}

func (n Note) String() string { return string(n.Level) + ": " + n.Name + ": " + n.Msg }

// InputOptions controls how inputs are found and chosen.
type InputOptions struct {
	// MaxAge leaves out snapshots scanned longer ago than this before Now;
	// zero keeps all.
	MaxAge time.Duration
	// Now is the reference for MaxAge; zero means time.Now().
	Now time.Time
	// KeepGoing skips unusable inputs (corrupt, truncated, empty, wrong
	// version, unreadable) with a Warning note instead of failing.
	KeepGoing bool
	// Progress, when set, is called after each snapshot is read with the
	// number read so far and the total to read.
	Progress func(done, total int)
}

// ErrNoSnapshots is returned when the inputs hold no usable snapshot.
var ErrNoSnapshots = errors.New("no snapshots to merge")

// maxWalkDepth stops a directory walk that symlinks make endless in a way
// the loop check cannot see (no inode numbers).
const maxWalkDepth = 64

// candidate is one snapshot found in the inputs: a file (read again in the
// second pass) or a document from a stream (kept, since it cannot be re-read).
type candidate struct {
	name      string
	path      string
	snap      *snapshot.Snapshot
	host      snapshot.Host
	ident     string
	scannedAt time.Time
	older     []*candidate // same host, older, newest first: fallbacks
}

type collector struct {
	ctx     context.Context
	opts    InputOptions
	stdin   io.Reader
	notes   []Note
	found   []*candidate
	visited map[[2]uint64]bool
	usedIn  bool
	files   []pendingFile
}

// pendingFile is a snapshot file whose header the first pass reads.
type pendingFile struct {
	path    string
	walking bool // found in a directory rather than named
}

func (c *collector) note(level Level, name, format string, args ...any) {
	c.notes = append(c.notes, Note{Level: level, Name: name, Msg: fmt.Sprintf(format, args...)})
}

// fail reports an unusable input: an error, or a warning with KeepGoing.
func (c *collector) fail(name string, err error) error {
	if !c.opts.KeepGoing {
		return err
	}
	c.note(Warning, name, "skipped: %v", strings.TrimPrefix(err.Error(), name+": "))
	return nil
}

// collect finds every snapshot in the inputs (first pass: only headers of
// files are read) and picks, per host, the newest within MaxAge.
func collect(ctx context.Context, paths []string, stdin io.Reader, opts InputOptions) ([]*candidate, []Note, error) {
	c := &collector{ctx: ctx, opts: opts, stdin: stdin, visited: map[[2]uint64]bool{}}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, c.notes, err
		}
		if err := c.path(p); err != nil {
			return nil, c.notes, err
		}
	}
	if err := c.headers(); err != nil {
		return nil, c.notes, err
	}
	winners := c.choose()
	if len(winners) == 0 {
		return nil, c.notes, fmt.Errorf("%s: %w", strings.Join(paths, ", "), ErrNoSnapshots)
	}
	return winners, c.notes, nil
}

func (c *collector) path(p string) error {
	if p == "-" {
		if c.usedIn {
			return errors.New(`"-" (standard input) given more than once`)
		}
		c.usedIn = true
		if c.stdin == nil {
			return errors.New(`"-": no standard input`)
		}
		return c.stream(fetch.Reader(c.ctx, c.stdin), "-")
	}
	info, err := os.Stat(p)
	if err != nil {
		return err // a path the user typed that is not there is never skipped
	}
	switch {
	case info.IsDir():
		c.markVisited(info)
		return c.walk(p, 0)
	case info.Mode().IsRegular():
		c.files = append(c.files, pendingFile{p, false})
		return nil
	default:
		// Named on the command line, a FIFO or device is what the user
		// wants read: <(ssh host planet scan), /dev/stdin. Waiting for a
		// FIFO's writer, and every read, stop when ctx is done.
		f, err := fetch.OpenStream(c.ctx, p)
		if err != nil {
			if ctxErr := c.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return c.fail(p, err)
		}
		defer f.Close()
		return c.stream(fetch.Reader(c.ctx, f), p)
	}
}

func (c *collector) stream(r io.Reader, name string) error {
	n := 0
	err := snapshot.ReadStream(r, name, func(s *snapshot.Snapshot) error {
		n++
		c.found = append(c.found, &candidate{
			name: fmt.Sprintf("%s (document %d)", name, n), snap: s,
			host: s.Host, ident: Identity(s.Host), scannedAt: s.ScannedAt,
		})
		return c.ctx.Err()
	})
	if err != nil {
		if ctxErr := c.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return c.fail(name, err)
	}
	return nil
}

// markVisited records a directory; it reports whether it was seen before.
func (c *collector) markVisited(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
	seen := c.visited[key]
	c.visited[key] = true
	return seen
}

// walk finds *.json files under dir. It never leaves dir: a symbolic link
// to a directory is not followed (one link to / would make a root merge
// read the whole file system), while a link to a *.json regular file is
// read. A directory already walked (a bind mount loop) is not entered
// again; FIFOs, devices and sockets are skipped with a warning, never
// opened, so a walk cannot block.
func (c *collector) walk(dir string, depth int) error {
	if depth > maxWalkDepth {
		c.note(Warning, dir, "deeper than %d directories (a symlink loop?), not walked", maxWalkDepth)
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return c.fail(dir, err)
	}
	for _, e := range entries {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(dir, e.Name())
		typ := e.Type()
		var info fs.FileInfo
		if typ&fs.ModeSymlink != 0 {
			if info, err = os.Stat(p); err != nil {
				if errors.Is(err, syscall.ELOOP) {
					c.note(Warning, p, "symlink loop, skipped")
				} else if strings.HasSuffix(p, ".json") {
					c.note(Warning, p, "skipped: %v", err)
				}
				continue
			}
			typ = info.Mode().Type()
			if typ.IsDir() {
				c.note(Info, p, "a symbolic link to a directory, not followed")
				continue
			}
		}
		switch {
		case typ.IsDir():
			if info == nil {
				if info, err = e.Info(); err != nil {
					c.note(Warning, p, "skipped: %v", err)
					continue
				}
			}
			if c.markVisited(info) {
				c.note(Warning, p, "directory already walked (symlink loop), not followed")
				continue
			}
			if err := c.walk(p, depth+1); err != nil {
				return err
			}
		case !strings.HasSuffix(e.Name(), ".json"):
		case typ.IsRegular():
			c.files = append(c.files, pendingFile{p, true})
		default:
			c.note(Warning, p, "not a regular file (%s), skipped", typ.Type())
		}
	}
	return nil
}

// headers reads the header of every file found, in parallel (on a fleet the
// first pass is mostly open and read system calls), then handles them in
// the order they were found.
func (c *collector) headers() error {
	type result struct {
		h   header
		err error
	}
	results := make([]result, len(c.files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(c.files), 2*runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				results[i].h, results[i].err = readHeader(c.files[i].path)
			}
		})
	}
feed:
	for i := range c.files {
		select {
		case next <- i:
		case <-c.ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := c.ctx.Err(); err != nil {
		return err
	}
	for i, f := range c.files {
		if err := c.file(f.path, f.walking, results[i].h, results[i].err); err != nil {
			return err
		}
	}
	return nil
}

// file takes the header of one snapshot file. In a directory walk, a graph
// document (a previous merge's output) is skipped with a note.
func (c *collector) file(p string, walking bool, h header, err error) error {
	if err == nil && h.complete() && snapshot.IsSchema(h.Schema) {
		c.found = append(c.found, &candidate{name: p, path: p, host: *h.Host, ident: Identity(*h.Host), scannedAt: *h.ScannedAt})
		return nil
	}
	if walking && strings.HasPrefix(h.Schema, "planet.graph/") {
		c.note(Info, p, "a graph (%s), not a snapshot: skipped", h.Schema)
		return nil
	}
	// The header is not where planet writes it, or the file is broken: a
	// full strict read gives the precise error (or the header after all).
	s, err := readSnapshot(p)
	if err != nil {
		return c.fail(p, err)
	}
	c.found = append(c.found, &candidate{name: p, path: p, host: s.Host, ident: Identity(s.Host), scannedAt: s.ScannedAt})
	return nil
}

func readSnapshot(p string) (*snapshot.Snapshot, error) {
	f, err := openRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return snapshot.Read(f, p)
}

// openRegular opens a file found by the walk without blocking and checks
// its type on the descriptor: a FIFO swapped in after the walk looked at
// the name cannot hang the merge.
func openRegular(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: no longer a regular file (%v)", p, info.Mode().Type())
		}
		return nil, err
	}
	return f, nil
}

type header struct {
	Schema    string
	ScannedAt *time.Time
	Host      *snapshot.Host
}

func (h header) complete() bool { return h.ScannedAt != nil && h.Host != nil }

// readHeader decodes schema, scanned_at and host from the start of a
// snapshot file, stopping as soon as it has them: planet writes them first,
// so this reads a few hundred bytes, not the whole file.
func readHeader(p string) (header, error) {
	var h header
	f, err := openRegular(p)
	if err != nil {
		return h, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 4096))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return h, errors.New("not an object")
	}
	for dec.More() && !(h.Schema != "" && h.complete()) {
		tok, err := dec.Token()
		if err != nil {
			return h, err
		}
		key, _ := tok.(string)
		switch key {
		case "schema":
			err = dec.Decode(&h.Schema)
		case "scanned_at":
			err = dec.Decode(&h.ScannedAt)
		case "host":
			err = dec.Decode(&h.Host)
		case "connections", "listeners", "traffic":
			return h, errors.New("header not first")
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return h, err
		}
		if h.Schema != "" && !snapshot.IsSchema(h.Schema) {
			return h, errors.New("schema")
		}
	}
	return h, nil
}

// choose applies MaxAge, then keeps the newest snapshot of each host (a tie
// goes to the smaller name, so the choice does not depend on input order).
// Winners come back sorted by name.
func (c *collector) choose() []*candidate {
	now := c.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	byHost := map[string][]*candidate{}
	var idents []string
	for _, cd := range c.found {
		if c.opts.MaxAge > 0 && now.Sub(cd.scannedAt) > c.opts.MaxAge {
			c.note(Info, cd.name, "left out: host %s scanned %s, older than max-age %s",
				cd.host.Hostname, cd.scannedAt.UTC().Format(time.RFC3339), c.opts.MaxAge)
			continue
		}
		if _, ok := byHost[cd.ident]; !ok {
			idents = append(idents, cd.ident)
		}
		byHost[cd.ident] = append(byHost[cd.ident], cd)
	}
	var winners []*candidate
	for _, id := range idents {
		list := byHost[id]
		slices.SortFunc(list, func(a, b *candidate) int {
			return cmp.Or(b.scannedAt.Compare(a.scannedAt), strings.Compare(a.name, b.name))
		})
		w := list[0]
		w.older = list[1:]
		for _, o := range w.older {
			c.note(Info, o.name, "left out: host %s (scanned %s) is merged from the newer %s (scanned %s)",
				o.host.Hostname, o.scannedAt.UTC().Format(time.RFC3339), w.name, w.scannedAt.UTC().Format(time.RFC3339))
		}
		winners = append(winners, w)
	}
	slices.SortFunc(winners, func(a, b *candidate) int { return strings.Compare(a.name, b.name) })
	return winners
}

// load returns the candidate's snapshot (second pass), checking that the
// file still holds what its header promised.
func (cd *candidate) load() (*snapshot.Snapshot, error) {
	if cd.snap != nil {
		return cd.snap, nil
	}
	s, err := readSnapshot(cd.path)
	if err != nil {
		return nil, err
	}
	if Identity(s.Host) != cd.ident || !s.ScannedAt.Equal(cd.scannedAt) {
		return nil, fmt.Errorf("%s: changed while being merged", cd.path)
	}
	return s, nil
}

// each runs the second pass: fn gets the chosen snapshot of every host.
// GOMAXPROCS workers read and decode files and call fn under a lock, so
// each holds one snapshot at a time and nothing waits on a hand-off; fn
// must not depend on the order of calls (a Merger does not). Notes and the
// error reported do not depend on timing: notes come in name order, and the
// error is the one of the first failing file by name. With KeepGoing, a
// snapshot that fails to read now is replaced by the host's next newest one.
func each(ctx context.Context, winners []*candidate, notes *[]Note, opts InputOptions, fn func(*snapshot.Snapshot) error) (int, error) {
	var (
		mu       sync.Mutex
		used     int
		done     int
		failed   = -1
		firstErr error
		perFile  = make([][]Note, len(winners))
		next     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for range min(len(winners), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(winners) {
					return
				}
				s, ns, err := winners[i].loadOrFallBack(opts.KeepGoing)
				mu.Lock()
				perFile[i] = ns
				if err == nil && s != nil {
					err = fn(s)
					used++
				}
				if err != nil {
					if failed < 0 || i < failed {
						failed, firstErr = i, err
					}
					stop.Store(true)
				}
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(winners))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, ns := range perFile {
		*notes = append(*notes, ns...)
	}
	if firstErr != nil {
		return used, firstErr
	}
	if err := ctx.Err(); err != nil {
		return used, err
	}
	if used == 0 {
		return 0, ErrNoSnapshots
	}
	return used, nil
}

// loadOrFallBack loads the chosen snapshot of a host; with keepGoing, one
// that fails is noted and the next newest is tried (nil when none is left).
func (w *candidate) loadOrFallBack(keepGoing bool) (*snapshot.Snapshot, []Note, error) {
	var notes []Note
	older := w.older
	for cd := w; ; {
		s, err := cd.load()
		if err == nil {
			return s, notes, nil
		}
		if !keepGoing {
			return nil, notes, err
		}
		notes = append(notes, Note{Level: Warning, Name: cd.name, Msg: "skipped: " + strings.TrimPrefix(err.Error(), cd.name+": ")})
		if len(older) == 0 {
			return nil, notes, nil
		}
		cd, older = older[0], older[1:]
		notes = append(notes, Note{Level: Info, Name: cd.name, Msg: "used instead for host " + cd.host.Hostname})
	}
}

// ReadInputs reads every snapshot in paths into memory: files, directories
// (walked recursively for *.json, not following symbolic links to
// directories, skipping FIFOs and devices with a warning) and "-" for stdin, which may carry
// several snapshots back to back. Per host the newest snapshot is kept, and
// those older than MaxAge are left out, each with a note. Use it for a few
// snapshots; MergeInputs merges a fleet without holding it.
func ReadInputs(ctx context.Context, paths []string, stdin io.Reader, opts InputOptions) ([]*snapshot.Snapshot, []Note, error) {
	winners, notes, err := collect(ctx, paths, stdin, opts)
	if err != nil {
		return nil, notes, err
	}
	var out []*snapshot.Snapshot
	_, err = each(ctx, winners, &notes, opts, func(s *snapshot.Snapshot) error {
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, notes, err
	}
	// Workers finish in any order; hand the snapshots back in the inputs'.
	pos := make(map[string]int, len(winners))
	for i, w := range winners {
		pos[w.ident] = i
	}
	slices.SortStableFunc(out, func(a, b *snapshot.Snapshot) int {
		return cmp.Compare(pos[Identity(a.Host)], pos[Identity(b.Host)])
	})
	return out, notes, nil
}

// MergeInputs is ReadInputs followed by Merge without holding the snapshots:
// a first pass reads only each file's header (host and scanned_at) to choose
// the newest snapshot per host and learn every host's addresses, a second
// reads the chosen files one at a time into a Merger. What `planet merge`
// runs. Snapshots from stdin or a FIFO are held, since they cannot be re-read.
func MergeInputs(ctx context.Context, paths []string, stdin io.Reader, in InputOptions, mo MergeOptions) (*Graph, []Note, error) {
	m, err := NewMerger(mo)
	if err != nil {
		return nil, nil, err
	}
	winners, notes, err := collect(ctx, paths, stdin, in)
	if err != nil {
		return nil, notes, err
	}
	for _, w := range winners {
		m.Declare(w.host)
	}
	if amb := m.AmbiguousAddresses(); len(amb) > 0 {
		notes = append(notes, Note{Level: Info, Name: "merge", Msg: fmt.Sprintf(
			"%d address(es) belong to several hosts and resolve no peer (e.g. %s)", len(amb), amb[0])})
	}
	if _, err := each(ctx, winners, &notes, in, m.Add); err != nil {
		return nil, notes, err
	}
	g, err := m.Graph()
	if err != nil {
		return nil, notes, err
	}
	return g, notes, nil
}
