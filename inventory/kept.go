package inventory

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/planetdeps/planet/internal/atomicfile"
	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/internal/trust"
)

// keptVersion is the layout of a kept inventory file: a header line (a JSON
// object naming the layout, the source and when it was fetched), then one
// NDJSON entry a line, as Parse reads them.
const keptVersion = 1

// Kept describes the copy of an inventory that Load fell back on because
// the fetch failed.
type Kept struct {
	Path      string    // the state file it was read from
	FetchedAt time.Time // when that copy was fetched
	FetchErr  error     // why this fetch failed
}

// Kept returns what Load fell back on when the fetch failed, or nil when
// the inventory is this fetch's.
func (inv *Inventory) Kept() *Kept {
	if inv == nil {
		return nil
	}
	return inv.kept
}

type keptHeader struct {
	Layout    int       `json:"planet_inventory_kept"`
	Source    string    `json:"source"`
	FetchedAt time.Time `json:"fetched_at"`
	Entries   int       `json:"entries"`
}

// KeptPath is the file in stateDir that holds the last good inventory read
// from source: one file per source, so that switching sources never labels
// with the other's entries.
func KeptPath(stateDir, source string) string {
	sum := sha256.Sum256([]byte(keyOf(source)))
	return filepath.Join(stateDir, "inventory-"+hex.EncodeToString(sum[:8])+".ndjson")
}

// keyOf names source independently of the working directory.
func keyOf(source string) string {
	if fetch.IsURL(source) {
		return source
	}
	if abs, err := filepath.Abs(source); err == nil {
		return abs
	}
	return source
}

// keep writes inv to KeptPath atomically (internal/atomicfile: nothing
// planted at the name can redirect the write), creating stateDir if needed.
func keep(stateDir, source string, fetchedAt time.Time, inv *Inventory) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	entries := inv.entries()
	return atomicfile.Write(KeptPath(stateDir, source), 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		if err := enc.Encode(keptHeader{Layout: keptVersion, Source: keyOf(source), FetchedAt: fetchedAt.UTC(), Entries: len(entries)}); err != nil {
			return err
		}
		for _, e := range entries {
			line := struct {
				IP        string `json:"ip_address"`
				Hostgroup string `json:"hostgroup,omitempty"`
				Domain    string `json:"domain,omitempty"`
			}{e.Prefix.String(), e.Hostgroup, e.Domain}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
}

// readKept reads the inventory kept for source in stateDir. The file is
// opened through trust (it, and every directory above it, owned by this
// user or root and writable by no one else) and bounded by limit; an error
// wrapping fs.ErrNotExist means no copy was kept yet.
func readKept(stateDir, source string, limit int64, logger *slog.Logger) (*Inventory, error) {
	path := KeptPath(stateDir, source)
	f, err := trust.For(os.Geteuid()).Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(doc)) > limit {
		return nil, fmt.Errorf("%s: %w (limit %d bytes)", path, fetch.ErrTooLarge, limit)
	}
	head, rest, _ := bytes.Cut(doc, []byte("\n"))
	var h keptHeader
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || h.Layout != keptVersion {
		return nil, fmt.Errorf("%s: not a kept inventory of layout %d (%v)", path, keptVersion, err)
	}
	if h.Source != keyOf(source) {
		return nil, fmt.Errorf("%s: kept for %q, not %q", path, h.Source, keyOf(source))
	}
	var inv *Inventory
	if len(bytes.TrimSpace(rest)) == 0 {
		inv = &Inventory{} // an empty array was the last good inventory
	} else if inv, err = Parse(rest, path, FormatNDJSON, logger); err != nil {
		return nil, err
	}
	inv.source = source
	inv.kept = &Kept{Path: path, FetchedAt: h.FetchedAt}
	return inv, nil
}

// loadOrKept is Load's fallback: on a successful fetch the inventory is
// kept in opts.StateDir for the next outage; on a failed one (no answer, an
// HTTP error, a document that does not parse) the kept copy is returned
// with a warning, and Kept says so.
func loadOrKept(ctx context.Context, source string, opts Options, inv *Inventory, fetchErr error) (*Inventory, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if fetchErr == nil {
		if err := keep(opts.StateDir, source, now(), inv); err != nil {
			logger.Warn("inventory not kept for the next outage", "source", source, "error", err)
		}
		return inv, nil
	}
	if ctx.Err() != nil {
		return nil, fetchErr
	}
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = fetch.DefaultMaxBytes
	}
	kept, err := readKept(opts.StateDir, source, 2*limit, logger)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fetchErr // nothing kept yet: the first fetch failed
	case err != nil:
		return nil, fmt.Errorf("%w (and the last good copy is unusable: %v)", fetchErr, err)
	}
	kept.kept.FetchErr = fetchErr
	logger.Warn("inventory fetch failed; using the last good copy", "source", source, "error", fetchErr,
		"kept", kept.kept.Path, "fetched_at", kept.kept.FetchedAt.Format(time.RFC3339), "age", now().Sub(kept.kept.FetchedAt).Round(time.Second).String())
	return kept, nil
}

// entries lists what inv holds, sorted by prefix.
func (inv *Inventory) entries() []Entry {
	var out []Entry
	for _, t := range []*table{&inv.v4, &inv.v6} {
		for _, e := range t.exact {
			out = append(out, e)
		}
		for _, m := range t.byLen {
			for _, e := range m {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}
