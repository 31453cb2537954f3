// Package fleet reads a fleet's snapshots from the file system for a merge:
// files, directories walked for *.json, standard input and FIFOs carrying
// snapshots back to back. It chooses the newest snapshot of each host (two
// passes: every document validated and reduced to its header, then the
// chosen ones read again one at a time into a graph.Merger), within a
// bound on the bytes being decoded at once and on the descriptors held.
// The graph package merges; this one owns the file system.
package fleet

import (
	"cmp"
	"context"
	"crypto/sha256"
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

	"github.com/planetdeps/planet/document"
	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/snapshot"
)

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

// maxNoteHostname cuts the hostname the first pass keeps per snapshot for
// its notes, so that what it keeps per file is small whatever the file holds.
const maxNoteHostname = 256

// candidate is one snapshot found in the inputs, reduced to what choosing
// between snapshots needs. The first pass reads and validates every
// document in full but keeps only this (and the host header of the best
// snapshot of each host so far); the second reads each chosen document
// again from where its bytes still are: the descriptor the first pass read
// (held open, so that a file replaced meanwhile does not matter), the spill
// file for a document from a stream, or the file by name when holding one
// more descriptor would come near the process's limit.
type candidate struct {
	name      string
	hostname  string            // cut to maxNoteHostname
	ident     [sha256.Size]byte // digest of the host's Identity
	scannedAt time.Time
	future    bool // scanned_at more than graph.MaxClockSkew after the merge's clock

	path      string   // the file to open again when f is nil
	f         *os.File // the held descriptor of the file, or the spill file
	off, size int64    // where the document's bytes are in f
	spilled   bool     // f is the spill file

	// validated: read in full and found valid (err nil) or not (err set).
	// A file is validated when it loses the choice, or in the second pass.
	validated bool
	err       error
	admitted  bool // not left out by MaxAge
}

// chosen is the best snapshot of one host so far, with its host header.
type chosen struct {
	cd   *candidate
	host snapshot.Host
}

type collector struct {
	ctx     context.Context
	opts    InputOptions // Now set
	stdin   io.Reader
	notes   []graph.Note
	found   []*candidate // every candidate, in input order
	visited map[[2]uint64]bool
	usedIn  bool
	files   []pendingFile
	// recycle: the second pass's fn keeps nothing of a snapshot's
	// connection list and reads no states (a Merger), so its decoder
	// reuses the memory and drops the states.
	recycle bool

	mu   sync.Mutex
	best map[[sha256.Size]byte]*chosen // until the choice is made
	// winners: the choice, sorted by name; each sets an entry nil once
	// the snapshot is read.
	winners []*chosen
	// fallbacks are the valid snapshots that lost, per host: with
	// KeepGoing, the second pass tries them when the chosen one fails.
	fallbacks map[[sha256.Size]byte][]*candidate
	held      int // descriptors held by best candidates
	maxHeld   int
	spill     *os.File // documents from streams that may be chosen
	spillAt   int64
	budget    *byteBudget
}

// pendingFile is a snapshot file the first pass reads.
type pendingFile struct {
	path    string
	walking bool // found in a directory rather than named
}

func (c *collector) note(level graph.Level, name, format string, args ...any) {
	c.notes = append(c.notes, graph.Note{Level: level, Name: name, Msg: fmt.Sprintf(format, args...)})
}

// fail reports an unusable input: an error, or a warning with KeepGoing.
func (c *collector) fail(name string, err error) error {
	if !c.opts.KeepGoing {
		return err
	}
	c.note(graph.Warning, name, "skipped: %v", strings.TrimPrefix(err.Error(), name+": "))
	return nil
}

// collect finds every snapshot in the inputs (first pass: every document is
// read and validated in full) and picks, per host, the newest within MaxAge.
// The caller must call close once done with the winners.
func collect(ctx context.Context, paths []string, stdin io.Reader, opts InputOptions) (*collector, []*chosen, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	c := &collector{
		ctx: ctx, opts: opts, stdin: stdin, visited: map[[2]uint64]bool{},
		best: map[[sha256.Size]byte]*chosen{}, fallbacks: map[[sha256.Size]byte][]*candidate{},
		maxHeld: descriptorBudget(),
		budget:  newByteBudget(snapshot.MaxSize),
	}
	err := c.collect(paths)
	if err != nil {
		c.close()
		return c, nil, err
	}
	winners := c.choose()
	// What only the first pass needs goes: at 100,000 files it is tens
	// of MiB. The second pass drops each winner once read (each).
	c.files, c.visited, c.found = nil, nil, nil
	c.mu.Lock()
	c.best, c.winners = nil, winners
	c.mu.Unlock()
	if len(winners) == 0 {
		c.close()
		return c, nil, fmt.Errorf("%s: %w", strings.Join(paths, ", "), ErrNoSnapshots)
	}
	return c, winners, nil
}

func (c *collector) collect(paths []string) error {
	for _, p := range paths {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if err := c.path(p); err != nil {
			return err
		}
	}
	return c.readFiles()
}

// close releases the descriptors still held and the spill file.
func (c *collector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.best {
		c.release(b.cd)
	}
	for _, w := range c.winners {
		if w != nil {
			c.release(w.cd)
		}
	}
	if c.spill != nil {
		c.spill.Close()
		c.spill = nil
	}
}

// descriptorBudget is how many first-pass descriptors may be held open for
// the second: the soft limit (which Go raises to the hard one at start)
// less a margin for everything else.
var descriptorBudget = func() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(max(min(rl.Cur, 1<<20), 64) - 64)
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

// stream reads the snapshots of a stream (stdin, a named FIFO). A document
// that is, when read, its host's best is copied to the spill file (a
// temporary file removed at once, so only this process can reach it), so
// that a stream costs the memory of one document, as files do.
func (c *collector) stream(r io.Reader, name string) error {
	n := 0
	err := snapshot.ReadStreamDocs(r, name, func(doc []byte, s *snapshot.Snapshot) error {
		n++
		if testHookParsed != nil {
			testHookParsed(s)
		}
		cd := newCandidate(fmt.Sprintf("%s (document %d)", name, n), s)
		cd.validated = true
		ns, ok := c.admit(cd)
		c.notes = append(c.notes, ns...)
		if !ok {
			return c.ctx.Err()
		}
		c.found = append(c.found, cd)
		if c.wouldWin(cd) {
			if err := c.spillDoc(cd, doc); err != nil {
				return err
			}
		}
		if loser, _, _ := c.offer(cd, s.Host, nil); loser != nil {
			c.lost(loser)
		}
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

// spillDoc appends doc to the spill file and points cd at it.
func (c *collector) spillDoc(cd *candidate, doc []byte) error {
	if c.spill == nil {
		f, err := os.CreateTemp("", "planet-merge-*.spill")
		if err != nil {
			return fmt.Errorf("spill file for streamed snapshots: %w", err)
		}
		// Unnamed from now on: nobody else can open it, and it is gone
		// when the merge ends, however it ends.
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return fmt.Errorf("spill file for streamed snapshots: %w", err)
		}
		c.spill = f
	}
	if _, err := c.spill.WriteAt(doc, c.spillAt); err != nil {
		return fmt.Errorf("spill file for streamed snapshots: %w", err)
	}
	cd.f, cd.off, cd.size, cd.spilled = c.spill, c.spillAt, int64(len(doc)), true
	c.spillAt += int64(len(doc))
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
		c.note(graph.Warning, dir, "deeper than %d directories (a symlink loop?), not walked", maxWalkDepth)
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
					c.note(graph.Warning, p, "symlink loop, skipped")
				} else if strings.HasSuffix(p, ".json") {
					c.note(graph.Warning, p, "skipped: %v", err)
				}
				continue
			}
			typ = info.Mode().Type()
			if typ.IsDir() {
				c.note(graph.Info, p, "a symbolic link to a directory, not followed")
				continue
			}
		}
		switch {
		case typ.IsDir():
			if info == nil {
				if info, err = e.Info(); err != nil {
					c.note(graph.Warning, p, "skipped: %v", err)
					continue
				}
			}
			if c.markVisited(info) {
				c.note(graph.Warning, p, "directory already walked (symlink loop), not followed")
				continue
			}
			if err := c.walk(p, depth+1); err != nil {
				return err
			}
		case !strings.HasSuffix(e.Name(), ".json"):
		case typ.IsRegular():
			c.files = append(c.files, pendingFile{p, true})
		default:
			c.note(graph.Warning, p, "not a regular file (%s), skipped", typ.Type())
		}
	}
	return nil
}

// Hooks for tests: testHookParsed sees every snapshot parsed in full,
// testHookHeader every host header the first pass decodes alone.
var (
	testHookParsed func(*snapshot.Snapshot)
	testHookHeader func(*snapshot.Host)
)

// readFiles runs the first pass on every file found, in parallel (on a
// fleet it is mostly open and read system calls) but with at most
// snapshot.MaxSize bytes of documents being decoded at once. Each file's
// header is offered to the choice as it is read; every file that loses is
// read in full and validated then, from the descriptor its header came
// from. Notes and the error reported come in the order the files were
// found.
func (c *collector) readFiles() error {
	type result struct {
		cd    *candidate
		notes []graph.Note
		err   error
	}
	results := make([]result, len(c.files))
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
	)
	for range min(len(c.files), 2*runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				r := &results[i]
				r.cd, r.notes, r.err = c.readFile(c.files[i])
				if r.err != nil && !c.opts.KeepGoing {
					stop.Store(true)
				}
			}
		})
	}
feed:
	for i := range c.files {
		if stop.Load() {
			break
		}
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
		r := results[i]
		c.notes = append(c.notes, r.notes...)
		err := r.err
		if err == nil && r.cd != nil {
			err = r.cd.err
		}
		if err != nil {
			if err := c.fail(f.path, err); err != nil {
				return err
			}
			continue
		}
		if r.cd != nil && r.cd.admitted {
			c.found = append(c.found, r.cd)
		}
	}
	return nil
}

// readFile runs the first pass on one file: its size is checked before a
// byte is read, its header (schema, scanned_at, host) is read and offered
// to the choice, and what loses is validated in full. It returns no
// candidate, with a note, for a graph found by a walk.
func (c *collector) readFile(pf pendingFile) (cd *candidate, notes []graph.Note, err error) {
	f, err := openRegular(pf.path)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := info.Size()
	if size > snapshot.MaxSize {
		if schema := sniffPrefix(f); pf.walking && document.IsGraphSchema(schema) {
			return nil, []graph.Note{{Level: graph.Info, Name: pf.path, Msg: fmt.Sprintf("a graph (%s), not a snapshot: skipped", schema)}}, nil
		}
		return nil, nil, &snapshot.Error{Name: pf.path, Offset: -1, Err: fmt.Errorf("larger than %d bytes", snapshot.MaxSize)}
	}
	n := c.budget.acquire(size)
	h, herr := snapshot.ReadHeader(io.NewSectionReader(f, 0, size))
	c.budget.release(n)
	if pf.walking && document.IsGraphSchema(h.Schema) {
		return nil, []graph.Note{{Level: graph.Info, Name: pf.path, Msg: fmt.Sprintf("a graph (%s), not a snapshot: skipped", h.Schema)}}, nil
	}
	cd = &candidate{name: pf.path, path: pf.path, off: 0, size: size}
	var host snapshot.Host
	if h.Host != nil && testHookHeader != nil {
		testHookHeader(h.Host)
	}
	if herr == nil && h.Complete() && snapshot.IsSchema(h.Schema) && len(h.Host.Addresses) <= snapshot.MaxAddresses {
		cd.fill(*h.Host, *h.ScannedAt)
		host = *h.Host
	} else {
		// The header is not where planet writes it, or the file is
		// broken: a full read gives the precise error (or the header
		// after all).
		s, err := c.validate(cd, f)
		if err != nil {
			return nil, nil, err
		}
		host = s.Host
	}
	notes, cd.admitted = c.admit(cd)
	if !cd.admitted {
		if !cd.validated {
			cd.err = c.check(cd, f)
		}
		return cd, notes, nil
	}
	loser, lf, kept := c.offer(cd, host, f)
	if kept {
		f = nil // held for the second pass (cd.f may change under c.mu now)
	}
	if loser == cd {
		if !cd.validated {
			cd.err = c.check(cd, f)
		}
		c.lost(cd)
		return cd, notes, nil
	}
	if loser != nil {
		if !loser.validated {
			loser.err = c.check(loser, lf)
		}
		if lf != nil {
			lf.Close()
		}
		c.lost(loser)
	}
	return cd, notes, nil
}

// lost records a valid snapshot that lost the choice as a fallback.
func (c *collector) lost(cd *candidate) {
	if cd.err != nil || (cd.path == "" && !cd.spilled) {
		return
	}
	c.mu.Lock()
	c.fallbacks[cd.ident] = append(c.fallbacks[cd.ident], cd)
	c.mu.Unlock()
}

// validate reads the document in f in full and parses it (a file without
// a usable header): cd gets its host digest and time from it.
func (c *collector) validate(cd *candidate, f *os.File) (*snapshot.Snapshot, error) {
	s, err := c.parse(cd, f)
	if err != nil {
		return nil, err
	}
	cd.fill(s.Host, s.ScannedAt)
	return s, nil
}

// check validates cd in full from f (nil: the file by name, or the spill
// file) and checks it holds what its header said.
func (c *collector) check(cd *candidate, f *os.File) error {
	if f == nil {
		_, err := c.load(nil, cd)
		cd.validated = true
		return err
	}
	s, err := c.parse(cd, f)
	if err != nil {
		return err
	}
	if identDigest(s.Host) != cd.ident || !s.ScannedAt.Equal(cd.scannedAt) {
		return fmt.Errorf("%s: written over in place while being merged", cd.name)
	}
	return nil
}

// parse reads and strictly parses cd's document from f, within the budget.
func (c *collector) parse(cd *candidate, f *os.File) (*snapshot.Snapshot, error) {
	n := c.budget.acquire(cd.size)
	defer c.budget.release(n)
	cd.validated = true
	s, err := snapshot.Read(io.NewSectionReader(f, cd.off, cd.size), cd.name)
	if err != nil {
		return nil, err
	}
	if testHookParsed != nil {
		testHookParsed(s)
	}
	return s, nil
}

// sniffPrefix returns the schema named at the start of f, if planet wrote
// it there (planet writes "schema" first).
func sniffPrefix(f *os.File) string {
	h, _ := snapshot.ReadHeader(io.NewSectionReader(f, 0, 4096))
	return h.Schema
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

func newCandidate(name string, s *snapshot.Snapshot) *candidate {
	cd := &candidate{name: name}
	cd.fill(s.Host, s.ScannedAt)
	return cd
}

// fill sets what choosing needs from a snapshot's header.
func (cd *candidate) fill(h snapshot.Host, scannedAt time.Time) {
	cd.hostname = h.Hostname
	if len(cd.hostname) > maxNoteHostname {
		cd.hostname = strings.ToValidUTF8(cd.hostname[:maxNoteHostname], "") + "..."
	}
	cd.ident, cd.scannedAt = identDigest(h), scannedAt
}

func identDigest(h snapshot.Host) [sha256.Size]byte {
	return sha256.Sum256([]byte(graph.Identity(h)))
}

// admit applies the merge's clock: it marks a snapshot dated in the future,
// and leaves out (ok false) what MaxAge excludes.
func (c *collector) admit(cd *candidate) (notes []graph.Note, ok bool) {
	now := c.opts.Now
	if ahead := cd.scannedAt.Sub(now); ahead > graph.MaxClockSkew {
		cd.future = true
		at := cd.scannedAt.UTC().Format(time.RFC3339)
		if c.opts.MaxAge > 0 {
			return []graph.Note{{Level: graph.Warning, Name: cd.name, Msg: fmt.Sprintf("left out: host %s scanned_at %s is %s ahead of this machine's clock, so its age is unknown (max-age %s)",
				cd.hostname, at, ahead.Round(time.Second), c.opts.MaxAge)}}, false
		}
		return []graph.Note{{Level: graph.Warning, Name: cd.name, Msg: fmt.Sprintf("host %s scanned_at %s is %s ahead of this machine's clock: any snapshot of the host with a sane time wins over it, and it does not set generated_at",
			cd.hostname, at, ahead.Round(time.Second))}}, true
	}
	if c.opts.MaxAge > 0 && now.Sub(cd.scannedAt) > c.opts.MaxAge {
		return []graph.Note{{Level: graph.Info, Name: cd.name, Msg: fmt.Sprintf("left out: host %s scanned %s, older than max-age %s",
			cd.hostname, cd.scannedAt.UTC().Format(time.RFC3339), c.opts.MaxAge)}}, false
	}
	return nil, true
}

// beats orders the snapshots of one host: a sane scan time before one in
// the future, then the newest, then (a tie) the smaller name, so the choice
// does not depend on the order inputs are read in.
func (cd *candidate) beats(o *candidate) bool {
	if cd.future != o.future {
		return o.future
	}
	if c := cd.scannedAt.Compare(o.scannedAt); c != 0 {
		return c > 0
	}
	return cd.name < o.name
}

func (c *collector) wouldWin(cd *candidate) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.best[cd.ident]
	return b == nil || cd.beats(b.cd)
}

// offer makes cd its host's best snapshot if it beats the best so far, and
// then keeps f, its open file, for the second pass if the descriptor budget
// allows. It returns the snapshot that lost (cd, or the best so far; nil
// when there was none) with the descriptor it held (the caller closes it),
// and whether f is now held (the caller no longer owns it).
func (c *collector) offer(cd *candidate, host snapshot.Host, f *os.File) (loser *candidate, lf *os.File, kept bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.best[cd.ident]
	if b != nil && !cd.beats(b.cd) {
		return cd, nil, false
	}
	if b != nil {
		loser = b.cd
		if !loser.spilled && loser.f != nil {
			lf = loser.f
			loser.f = nil
			c.held--
		}
	}
	c.best[cd.ident] = &chosen{cd: cd, host: host}
	if f != nil && c.held < c.maxHeld {
		cd.f = f
		c.held++
		kept = true
	}
	return loser, lf, kept
}

// release closes the file descriptor a candidate holds; with c.mu held.
func (c *collector) release(cd *candidate) {
	if cd.f != nil && !cd.spilled {
		cd.f.Close()
		c.held--
		cd.f = nil
	}
}

// choose returns the best snapshot of each host, sorted by name, and notes
// every other snapshot as left out.
func (c *collector) choose() []*chosen {
	winners := make([]*chosen, 0, len(c.best))
	for _, b := range c.best {
		winners = append(winners, b)
	}
	slices.SortFunc(winners, func(a, b *chosen) int { return strings.Compare(a.cd.name, b.cd.name) })
	for _, o := range c.found {
		w := c.best[o.ident].cd
		if w == o {
			continue
		}
		if o.future && !w.future {
			c.note(graph.Info, o.name, "left out: host %s is merged from %s, whose scan time (%s) is sane",
				o.hostname, w.name, w.scannedAt.UTC().Format(time.RFC3339))
			continue
		}
		c.note(graph.Info, o.name, "left out: host %s (scanned %s) is merged from the newer %s (scanned %s)",
			o.hostname, o.scannedAt.UTC().Format(time.RFC3339), w.name, w.scannedAt.UTC().Format(time.RFC3339))
	}
	return winners
}

// load reads the chosen snapshot again (second pass) from where the first
// pass found it, and checks it is what the first pass chose. dec, when not
// nil, is the worker's decoder (sharing strings between its snapshots).
func (c *collector) load(dec *snapshot.Decoder, cd *candidate) (*snapshot.Snapshot, error) {
	var r io.Reader
	reopened := cd.f == nil
	if reopened {
		f, err := openRegular(cd.path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	} else {
		r = io.NewSectionReader(cd.f, cd.off, cd.size)
		defer func() {
			c.mu.Lock()
			c.release(cd)
			c.mu.Unlock()
		}()
	}
	if dec == nil {
		dec = new(snapshot.Decoder)
	}
	s, err := dec.Read(r, cd.size, cd.name)
	if err != nil {
		return nil, err
	}
	if identDigest(s.Host) != cd.ident || !s.ScannedAt.Equal(cd.scannedAt) {
		if reopened {
			return nil, fmt.Errorf("%s: replaced while being merged (more files than descriptors to keep open)", cd.name)
		}
		return nil, fmt.Errorf("%s: written over in place while being merged", cd.name)
	}
	return s, nil
}

// loadOrFallBack loads the chosen snapshot of a host; with KeepGoing, one
// that fails is noted and the host's next best valid snapshot is tried
// (nil when none is left).
func (c *collector) loadOrFallBack(dec *snapshot.Decoder, w *candidate) (*snapshot.Snapshot, []graph.Note, error) {
	s, err := c.load(dec, w)
	if err == nil || !c.opts.KeepGoing {
		return s, nil, err
	}
	skipped := func(cd *candidate, err error) graph.Note {
		return graph.Note{Level: graph.Warning, Name: cd.name, Msg: "skipped: " + strings.TrimPrefix(err.Error(), cd.name+": ")}
	}
	notes := []graph.Note{skipped(w, err)}
	c.mu.Lock()
	older := slices.Clone(c.fallbacks[w.ident])
	c.mu.Unlock()
	slices.SortFunc(older, func(a, b *candidate) int {
		if a.beats(b) {
			return -1
		}
		return 1
	})
	for _, cd := range older {
		s, err := c.load(dec, cd)
		if err != nil {
			notes = append(notes, skipped(cd, err))
			continue
		}
		return s, append(notes, graph.Note{Level: graph.Info, Name: cd.name, Msg: "used instead for host " + cd.hostname}), nil
	}
	return nil, notes, nil
}

// byteBudget bounds the bytes of documents the workers of a pass hold at
// once, so that a few large snapshots are decoded one after the other.
type byteBudget struct {
	mu          sync.Mutex
	cond        sync.Cond
	free, total int64
}

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{free: n, total: n}
	b.cond.L = &b.mu
	return b
}

// acquire waits until n bytes (at least 1, at most the total) are free and
// takes them; it returns what it took, for release.
func (b *byteBudget) acquire(n int64) int64 {
	n = min(max(n, 1), b.total)
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < n {
		b.cond.Wait()
	}
	b.free -= n
	return n
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// each runs the second pass: fn gets the chosen snapshot of every host.
// GOMAXPROCS workers read and decode documents (within the byte budget) and
// call fn under a lock, so each holds one snapshot at a time and nothing
// waits on a hand-off; fn must not depend on the order of calls (a Merger
// does not). Notes and the error reported do not depend on timing: notes
// come in name order, and the error is the one of the first failing
// snapshot by name. With KeepGoing, a snapshot that fails to read now (it
// was valid in the first pass) is left out with a warning.
func (c *collector) each(winners []*chosen, notes *[]graph.Note, fn func(*snapshot.Snapshot) error) (int, error) {
	ctx, opts := c.ctx, c.opts
	var (
		mu       sync.Mutex
		used     int
		done     int
		failed   = -1
		firstErr error
		perFile  = make([][]graph.Note, len(winners))
		next     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for range min(len(winners), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			dec := snapshot.Decoder{DropStates: c.recycle}
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(winners) {
					return
				}
				cd := winners[i].cd
				n := c.budget.acquire(cd.size)
				s, ns, err := c.loadOrFallBack(&dec, cd)
				mu.Lock()
				perFile[i] = ns
				if err == nil && s != nil {
					err = fn(s)
					used++
					if c.recycle {
						dec.Recycle(s)
					}
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
				winners[i] = nil // read, its descriptor closed
				mu.Unlock()
				s = nil
				c.budget.release(n)
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

// ReadInputs reads every snapshot in paths into memory: files, directories
// (walked recursively for *.json, not following symbolic links to
// directories, skipping FIFOs and devices with a warning) and "-" for stdin,
// which may carry several snapshots back to back. Every document is
// validated in full; per host the newest snapshot is kept, and those older
// than MaxAge are left out, each with a note. Use it for a few snapshots;
// MergeInputs merges a fleet without holding it.
func ReadInputs(ctx context.Context, paths []string, stdin io.Reader, opts InputOptions) ([]*snapshot.Snapshot, []graph.Note, error) {
	c, winners, err := collect(ctx, paths, stdin, opts)
	if err != nil {
		return nil, c.notes, err
	}
	defer c.close()
	// Workers finish in any order; the snapshots are handed back in the
	// inputs' (each forgets the winners as it goes).
	pos := make(map[[sha256.Size]byte]int, len(winners))
	for i, w := range winners {
		pos[w.cd.ident] = i
	}
	var out []*snapshot.Snapshot
	notes := c.notes
	_, err = c.each(winners, &notes, func(s *snapshot.Snapshot) error {
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, notes, err
	}
	keys := make(map[*snapshot.Snapshot]int, len(out))
	for _, s := range out {
		keys[s] = pos[identDigest(s.Host)]
	}
	slices.SortStableFunc(out, func(a, b *snapshot.Snapshot) int { return cmp.Compare(keys[a], keys[b]) })
	return out, notes, nil
}

// MergeInputs is ReadInputs followed by graph.Merge without holding the snapshots:
// a first pass reads and validates every document in full, keeping only
// what choosing needs (per file: name, host digest, scan time; per host:
// the best snapshot's host header and open descriptor), to choose the
// newest snapshot per host and learn every host's addresses; a second
// reads the chosen documents again, from the same descriptors, one at a
// time into a graph.Merger. Documents from stdin or a FIFO that may be chosen are
// kept in a private temporary file, not in memory. MergeFleet is what `planet merge` runs.
func MergeInputs(ctx context.Context, paths []string, stdin io.Reader, in InputOptions, mo graph.MergeOptions) (*graph.Graph, []graph.Note, error) {
	m, notes, err := mergeInputs(ctx, paths, stdin, in, mo)
	if err != nil {
		return nil, notes, err
	}
	g, err := m.Finish()
	if err != nil {
		return nil, notes, err
	}
	return g, notes, nil
}

// mergeInputs is MergeInputs up to the graph: every chosen snapshot added.
func mergeInputs(ctx context.Context, paths []string, stdin io.Reader, in InputOptions, mo graph.MergeOptions) (*graph.Merger, []graph.Note, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if mo.Now.IsZero() {
		mo.Now = in.Now
	}
	m, err := graph.NewMerger(mo)
	if err != nil {
		return nil, nil, err
	}
	c, winners, err := collect(ctx, paths, stdin, in)
	if err != nil {
		return nil, c.notes, err
	}
	defer c.close()
	for _, w := range winners {
		m.Declare(w.host)
		w.host = snapshot.Host{}
	}
	notes := c.notes
	if amb := m.AmbiguousAddresses(); len(amb) > 0 {
		notes = append(notes, graph.Note{Level: graph.Info, Name: "merge", Msg: fmt.Sprintf(
			"%d address(es) belong to several hosts and resolve no peer (e.g. %s)", len(amb), amb[0])})
	}
	c.recycle = true // m.Add keeps copies of records, never pointers into them
	if _, err := c.each(winners, &notes, m.Add); err != nil {
		return nil, notes, err
	}
	return m, notes, nil
}

// MergeFleet is MergeInputs for `planet merge`: the same merge, finished
// into a graph.Merged that writes the graph without holding its edges twice.
func MergeFleet(ctx context.Context, paths []string, stdin io.Reader, in InputOptions, mo graph.MergeOptions) (*graph.Merged, []graph.Note, error) {
	m, notes, err := mergeInputs(ctx, paths, stdin, in, mo)
	if err != nil {
		return nil, notes, err
	}
	r, err := m.FinishMerged()
	return r, notes, err
}
