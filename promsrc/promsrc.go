// Package promsrc rebuilds a fleet's dependency graph from the planet series
// that Prometheus (or Thanos, Mimir: anything with the same HTTP API) scraped
// from every host's node_exporter textfile collector. It is `planet merge
// --prometheus`: the series of each host (one instance) are folded back into
// a snapshot.Snapshot-shaped host record, and those records go through
// graph's Merger exactly as snapshot files do, so both paths share one set
// of merge rules.
//
// # Queries
//
// Every query is an instant query at Options.Time over Options.Lookback:
//
//	max_over_time(planet_upstream{SEL}[LB])               sockets per dependency
//	max_over_time(planet_downstream{SEL}[LB])
//	max_over_time(planet_server_process{SEL}[LB])         listeners
//	max_over_time(planet_traffic_bytes_total{SEL}[LB])    darkstat totals
//	max_over_time(planet_scan_timestamp_seconds{SEL}[LB]) newest scan
//	max_over_time(planet_scan_unowned_sockets{SEL}[LB])
//	min_over_time(planet_scan_success{SEL}[LB])           a source failed in the window
//
// Record series come back each as it is, with every label, not
// aggregated by the server (max by): a series with an invalid value
// (negative, fractional, beyond 2^53, +Inf) is then skipped with a note
// naming it, and another series of the same record still counts, where a
// server-side max would let the invalid value win and drop the record.
//
// A dependency seen at any time in the window is in the graph, with the
// largest socket count it had. The traffic counter is darkstat's lifetime
// total, which a snapshot carries as is; its maximum over the window is that
// total at the newest scan (or before darkstat's last restart, if it
// restarted within the window), the closest equivalent of the snapshot's
// number. increase() would be the bytes of the window only: a different
// quantity from what a file merge reports.
//
// # Splitting and streaming
//
// No single answer may exceed Options.MaxResponseBytes. A census comes
// first: count by (instance, local_address, local_hostgroup, local_domain)
// (last_over_time) of each record family (connections, listeners, traffic), a few rows a
// host, settles every host's record, so every host is declared to the
// merger before any record is added. The per-host series (timestamp,
// success, unowned) follow, split by instance after a count by (instance)
// into queries of at most Options.MaxSeries series. Then each record
// family is fetched in batches of instances, in order, of at most
// Options.MaxSeries series (instance=~"a|b|..."); a host whose every
// family's batch is in goes to the merger at once and is let go, so memory
// holds a few batches of series and the graph, not the fleet. Up to
// Options.Parallel queries are in flight at once, their answers folded in
// order: the server evaluates the next ones while planet decodes.
package promsrc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/metrics"
	"github.com/planetdeps/planet/snapshot"
)

// Options says which server to ask and how.
type Options struct {
	// URL is the server's base URL (http://prometheus:9090, or a path
	// prefix such as http://thanos/query). User and password in it are sent
	// as basic auth and never printed.
	URL string
	// Selector restricts every query, as label matchers in braces:
	// {job="node"}. Empty matches every planet series.
	Selector string
	// Time is the evaluation time; zero means now.
	Time time.Time
	// Lookback is the window of max_over_time; default 1h.
	Lookback time.Duration
	// MaxAge leaves out hosts whose newest scan is older than this before
	// Time (planet_scan_timestamp_seconds); zero keeps all.
	MaxAge time.Duration
	// BearerTokenFile holds a token sent as "Authorization: Bearer".
	BearerTokenFile string
	// Timeout bounds each request, connect to last byte (default 30s); it is
	// also sent as the query's timeout.
	Timeout time.Duration
	// MaxSeries is the most series one query is planned to return (default
	// 20000); MaxResponseBytes the hard limit on one answer (default 64 MiB).
	MaxSeries        int
	MaxResponseBytes int64
	// MaxQueries caps the queries of one merge (default 200). The series
	// counts the server reports decide how finely queries are split; a
	// server (or proxy) claiming absurd counts would otherwise drive
	// thousands of them. A plan that cannot fit is refused before it starts.
	MaxQueries int
	// Parallel is the most queries in flight at once (default 3): sent, or
	// answered and not yet folded in. The server evaluates the next ones
	// while planet decodes an answer; each holds at most one answer (of
	// about MaxSeries series) in memory.
	Parallel int
	// Deadline bounds the whole merge, every query and retry included
	// (default 10m); Timeout bounds each request within it.
	Deadline time.Duration
	// Retries of a 503 or 429 answer (default 3; negative: none), waiting
	// RetryBackoff (default 500ms), then twice as long each time.
	Retries      int
	RetryBackoff time.Duration
	// Client is the HTTP client; nil means a default one.
	Client *http.Client
	// Names names a setting in errors and their advice ("raise the
	// timeout"): the command line passes its flags' names. Nil names them
	// by their Options field.
	Names func(Setting) string
}

// Setting is one of Options' settings, as errors name it (Options.Names).
type Setting string

// The settings errors name: Options' fields of those names.
const (
	SettingURL             Setting = "URL"
	SettingSelector        Setting = "Selector"
	SettingBearerTokenFile Setting = "BearerTokenFile"
	SettingTimeout         Setting = "Timeout"
	SettingMaxSeries       Setting = "MaxSeries"
	SettingMaxQueries      Setting = "MaxQueries"
	SettingDeadline        Setting = "Deadline"
)

// name is how errors name s: o.Names(s), else the Options field.
func (o Options) name(s Setting) string {
	if o.Names != nil {
		return o.Names(s)
	}
	return "Options." + string(s)
}

// Defaults of Options.
const (
	DefaultLookback         = time.Hour
	DefaultTimeout          = 30 * time.Second
	DefaultMaxSeries        = 20000
	DefaultMaxResponseBytes = 64 << 20
	DefaultMaxQueries       = 200
	DefaultParallel         = 3
	DefaultDeadline         = 10 * time.Minute
	DefaultRetries          = 3
	DefaultRetryBackoff     = 500 * time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultLookback
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxQueries <= 0 {
		o.MaxQueries = DefaultMaxQueries
	}
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	return o
}

// ErrNoSeries is returned when the selector matches no planet series in the
// window.
var ErrNoSeries = errors.New("no planet series")

// Merge queries the server and merges the hosts it finds into a graph. Each
// host's snapshot goes into the graph's Merger as soon as its batch of
// queries is answered (see Snapshots for the plan), so memory holds one
// batch of series and the graph, not the fleet.
func Merge(ctx context.Context, opts Options, mo graph.MergeOptions) (*graph.Graph, []graph.Note, error) {
	m, err := graph.NewMerger(mo)
	if err != nil {
		return nil, nil, err
	}
	clock := mo.Now
	if clock.IsZero() {
		clock = time.Now()
	}
	notes, err := stream(ctx, opts, clock, m.Declare, m.Add)
	if err != nil {
		return nil, notes, err
	}
	g, err := m.Graph()
	return g, notes, err
}

// Snapshots queries the server and returns one rebuilt snapshot per host,
// sorted by instance; of several instances that are the same host
// (graph.Identity) only the one Merge would merge. See Rebuild for what
// they carry.
//
// The queries run in three steps. A census counts each instance's series of
// the record families (connections, listeners, traffic) by its own labels
// (count by (instance, local_address, local_hostgroup, local_domain)),
// which settles every host's record before any of its records is fetched.
// The per-host families (scan time, success, unowned sockets) are fetched
// next, split as the package documentation says. Then the instances, in
// order, are packed into batches of at most Options.MaxSeries series of
// each record family, and each batch's record families are fetched
// (instance=~"a|b|..."); a host's snapshot is complete when its batch is.
func Snapshots(ctx context.Context, opts Options) ([]*snapshot.Snapshot, []graph.Note, error) {
	var snaps []*snapshot.Snapshot
	notes, err := stream(ctx, opts, time.Now(), func(snapshot.Host) {}, func(s *snapshot.Snapshot) error {
		snaps = append(snaps, s)
		return nil
	})
	if err != nil {
		return nil, notes, err
	}
	return snaps, notes, nil
}

// stream runs the queries Snapshots describes, passes every host to merge
// to declare first, then each rebuilt snapshot to add as soon as its batch
// is answered, in instance order. clock is the merge's clock, for the
// choice between instances that are the same host.
func stream(ctx context.Context, opts Options, clock time.Time, declare func(snapshot.Host), add func(*snapshot.Snapshot) error) ([]graph.Note, error) {
	opts = opts.withDefaults()
	sel, err := parseSelector(opts.Selector, opts.name)
	if err != nil {
		return nil, err
	}
	token, err := readToken(ctx, opts.BearerTokenFile, opts.name)
	if err != nil {
		return nil, err
	}
	c, err := newClient(opts, token)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Deadline, fmt.Errorf(
		"prometheus %s: %w: the merge took longer than %s (%s); raise it for a slow server or a big fleet, or narrow %s",
		c.name, ErrDeadline, opts.Deadline, opts.name(SettingDeadline), opts.name(SettingSelector)))
	defer cancel()
	var notes []graph.Note
	c.notes = func(msg string) { notes = append(notes, graph.Note{Level: graph.Warning, Name: c.name, Msg: msg}) }
	named := func(ns []graph.Note) {
		for _, n := range ns {
			notes = append(notes, graph.Note{Level: n.Level, Name: c.name, Msg: n.Msg})
		}
	}
	f := &fetcher{c: c, sel: sel, window: promDuration(opts.Lookback), maxSeries: opts.MaxSeries, parallel: opts.Parallel}
	r := newRebuilder()
	r.census = true
	hosts, err := func() ([]*hostAcc, error) {
		if err := f.census(ctx, r); err != nil {
			return nil, err
		}
		for _, fam := range hostFamilies {
			err := f.fetch(ctx, fam, nil, fam.split, func(s series) {
				if msg := r.add(fam.name, s); msg != "" {
					r.skip(fam.name, seriesText(fam.name, s.Metric)+": "+msg)
				}
			})
			if err != nil {
				return nil, err
			}
		}
		if r.hosts() == 0 {
			return nil, fmt.Errorf("prometheus %s: %w matching %s in the %s before %s",
				c.name, ErrNoSeries, cmpOr(opts.Selector, "{}"), opts.Lookback, opts.Time.UTC().Format(time.RFC3339))
		}
		hosts, pnotes := r.plan(opts.Time, opts.Lookback, opts.MaxAge, clock)
		named(pnotes)
		for _, h := range hosts {
			declare(h.host)
		}
		return hosts, f.records(ctx, r, hosts, add)
	}()
	named(r.skipNotes())
	if err != nil {
		if errors.Is(err, ErrDeadline) {
			err = fmt.Errorf("%w (%d queries sent)", err, c.sent())
		}
		return notes, err
	}
	notes = append(notes, graph.Note{Level: graph.Info, Name: c.name, Msg: fmt.Sprintf(
		"%d hosts from %d queries at %s over %s", len(hosts), c.sent(), opts.Time.UTC().Format(time.RFC3339), opts.Lookback)})
	return notes, nil
}

// censusLabels are the labels the census counts series by: the instance
// and the host's own labels, from which its host record is rebuilt.
var censusLabels = []string{metrics.LabelInstance, metrics.LabelLocalAddress, metrics.LabelLocalHostgroup, metrics.LabelLocalDomain}

// censusOver is the function the census counts series through. Any
// *_over_time keeps exactly the series with a sample in the window, so
// the counts are those of the record queries' series; last_over_time is
// the cheapest for the server (Prometheus 2.42, 377,388 series: 2.3-2.4 s
// of CPU against 3.0-3.9 s for max_over_time; docs/performance.md).
const censusOver = "last_over_time"

// census counts every instance's series of each record family by the
// host's own labels (one answer a family: a row per instance and label
// set, a few per host) into r: hostAcc.series, and the counts hostAcc.ident
// settles the host record by.
func (f *fetcher) census(ctx context.Context, r *rebuilder) error {
	expr := func(i int) string {
		fam := recordFamilies[i]
		return "count by (" + strings.Join(censusLabels, ", ") + ") (" + censusOver + "(" + f.selector(fam.name, nil) + "))"
	}
	return f.c.inOrder(ctx, f.parallel, len(recordFamilies), expr, func(i int, rows *vector) error {
		fam := recordFamilies[i]
		return rows.each(func(s series) error {
			m := s.Metric
			instance, ok := m[metrics.LabelInstance]
			if !ok {
				// Such series are never fetched: every record query asks
				// for instances by name.
				r.skip(fam.name, seriesText("count", m)+": no instance label")
				return nil
			}
			v, err := s.value()
			if err != nil {
				return fmt.Errorf("prometheus %s: %w: %s", f.c.name, ErrProtocol, serverText(err.Error()))
			}
			n, ok := seriesCount(v)
			if !ok {
				// Not a count: the host is fetched in a batch of its own,
				// which MaxResponseBytes bounds.
				f.warn(fmt.Sprintf("count of %s series by instance: %s is %s, not a count; fetching that instance alone",
					fam.name, seriesText("", m), valueText(s.Value[1])))
				n = f.maxSeries
			}
			h := r.host(instance)
			h.series[i] += n
			group := m[metrics.LabelLocalHostgroup]
			switch fam.name {
			case metrics.Upstream.Name, metrics.Downstream.Name:
				h.locals[localKey{m[metrics.LabelLocalAddress], group}] += n
			default:
				if group != "" {
					h.groups[group] += n
				}
				if d := m[metrics.LabelLocalDomain]; d != "" && fam.name == metrics.Traffic.Name {
					h.domains[d] += n
				}
			}
			return nil
		})
	})
}

// maxBatchHosts bounds the instances one record query names, so its
// matcher stays a reasonable size however few series each host has.
const maxBatchHosts = 1000

// span is one record query: the hosts[start:end] of a family's batch, of
// which names have series of the family.
type span struct {
	start, end int
	names      []string
}

// spans packs hosts, in order, into one family's batches of at most
// maxSeries series (a host with more is a batch of its own:
// MaxResponseBytes is the hard limit) and maxBatchHosts instances. Hosts
// without series of the family are named by no query.
func spans(hosts []*hostAcc, family, maxSeries int) []span {
	var out []span
	cur, n := span{}, 0
	for i, h := range hosts {
		c := h.series[family]
		if c == 0 {
			continue
		}
		if len(cur.names) > 0 && (n+c > maxSeries || len(cur.names) >= maxBatchHosts) {
			cur.end = i
			out = append(out, cur)
			cur, n = span{start: i}, 0
		}
		cur.names = append(cur.names, h.instance)
		n += c
	}
	if len(cur.names) > 0 {
		cur.end = len(hosts)
		out = append(out, cur)
	}
	return out
}

// records fetches the record families of hosts, each family in batches of
// its own (spans), refusing a plan that cannot fit the query limit before
// it starts. The family whose batches cover the fewest hosts is fetched
// next, and every host all families have covered is complete: its snapshot
// is rebuilt, passed to add and let go. So memory holds the hosts between
// the families' fronts, about one batch of series, and the answers of the
// f.parallel queries in flight.
func (f *fetcher) records(ctx context.Context, r *rebuilder, hosts []*hostAcc, add func(*snapshot.Snapshot) error) error {
	plans := make([][]span, len(recordFamilies))
	covered := make([]int, len(recordFamilies)) // hosts[:covered[i]] have family i in
	need, total := 0, 0
	for i := range recordFamilies {
		plans[i] = spans(hosts, i, f.maxSeries)
		need += len(plans[i])
		for _, h := range hosts {
			total += h.series[i]
		}
		if len(plans[i]) == 0 {
			covered[i] = len(hosts)
		}
	}
	if left := f.c.maxQueries - f.c.sent(); f.c.maxQueries > 0 && need > left {
		return fmt.Errorf("prometheus %s: %w: the server counts %d record series of %d hosts, which take %d queries of at most %s %d series; %d of the limit (%s %d) are left; %s",
			f.c.name, ErrTooManyQueries, total, len(hosts), need, f.c.opt(SettingMaxSeries), f.maxSeries, left, f.c.opt(SettingMaxQueries), f.c.maxQueries, f.c.tooManyHint())
	}
	// The order of the queries, and after each how many hosts are
	// complete: the family whose batches cover the fewest hosts goes next.
	type step struct {
		family, ready int
		sp            span
	}
	var steps []step
	for {
		fi := 0
		for i := range covered {
			if covered[i] < covered[fi] {
				fi = i
			}
		}
		if covered[fi] == len(hosts) {
			break
		}
		sp := plans[fi][0]
		plans[fi] = plans[fi][1:]
		covered[fi] = sp.end
		if len(plans[fi]) == 0 {
			covered[fi] = len(hosts)
		}
		steps = append(steps, step{family: fi, ready: slices.Min(covered), sp: sp})
	}
	done := 0
	merge := func(ready int) error {
		for _, h := range hosts[done:ready] {
			err := add(h.snapshot())
			// The records are in the merger now; the host's are let go.
			h.conns, h.listeners, h.peers = nil, nil, nil
			delete(r.byInstance, h.instance)
			if err != nil {
				return err
			}
		}
		done = max(done, ready)
		return nil
	}
	// Hosts with no record series at all are complete before any query.
	if len(steps) == 0 {
		return merge(len(hosts))
	}
	// Several queries are in flight while the answers before them are
	// folded in and their complete hosts merged: Prometheus evaluates
	// while planet decodes.
	expr := func(i int) string {
		st := steps[i]
		fam := recordFamilies[st.family]
		return fam.record(f.selector(fam.name, []string{matchAny(metrics.LabelInstance, st.sp.names)}))
	}
	return f.c.inOrder(ctx, f.parallel, len(steps), expr, func(i int, res *vector) error {
		st := steps[i]
		fam := recordFamilies[st.family]
		in := make(map[string]bool, len(st.sp.names))
		for _, n := range st.sp.names {
			in[n] = true
		}
		err := res.each(func(s series) error {
			// A server applying the matcher sends no other instance;
			// one that does is not let grow a host outside the batch.
			if !in[s.Metric[metrics.LabelInstance]] {
				return nil
			}
			if msg := r.add(fam.name, s); msg != "" {
				r.skip(fam.name, seriesText(fam.name, s.Metric)+": "+msg)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return merge(st.ready)
	})
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maxToken bounds Options.BearerTokenFile: a token is a line, not a file.
const maxToken = 64 << 10

// readToken reads Options.BearerTokenFile: opened without blocking, a
// regular file (checked on the descriptor) of at most maxToken bytes. name
// names the setting in errors.
func readToken(ctx context.Context, path string, name func(Setting) string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := fetch.ReadFile(ctx, path, maxToken)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name(SettingBearerTokenFile), err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s %s: empty", name(SettingBearerTokenFile), path)
	}
	return tok, nil
}

// parseSelector returns the matchers inside a selector's braces. The
// matchers themselves are Prometheus' to judge: a bad one comes back as a 400
// whose message is passed through. name names the setting in errors.
func parseSelector(s string, name func(Setting) string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return "", fmt.Errorf("%s %q: want label matchers in braces, like {job=\"node\"}", name(SettingSelector), s)
	}
	return strings.TrimSpace(strings.TrimSuffix(s[1:len(s)-1], ",")), nil
}

// promDuration formats d for a PromQL range: whole milliseconds.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(max(1, d.Milliseconds()), 10) + "ms"
}

// family is one metric family and how its samples over the window reduce.
type family struct {
	name  string
	over  string   // max_over_time or min_over_time
	split []string // labels to split big answers on, in order
}

// record is the query of a record family's series matching sel (a range
// selector): the maximum over the window of every series.
func (fam family) record(sel string) string {
	return fam.over + "(" + sel + ")"
}

// recordFamilies carry a host's records: a series each; they are fetched
// in batches of hosts (fetcher.records), planned by the census.
var recordFamilies = [...]family{
	{metrics.Upstream.Name, "max_over_time", nil},
	{metrics.Downstream.Name, "max_over_time", nil},
	{metrics.ServerProcess.Name, "max_over_time", nil},
	{metrics.Traffic.Name, "max_over_time", nil},
}

// hostFamilies carry a few series a host; they are fetched first, split by
// instance.
var hostFamilies = []family{
	// A source that failed once in the window counts as failed.
	{metrics.ScanSuccess.Name, "min_over_time", []string{metrics.LabelInstance}},
	{metrics.ScanTimestamp.Name, "max_over_time", []string{metrics.LabelInstance}},
	{metrics.ScanUnowned.Name, "max_over_time", []string{metrics.LabelInstance}},
}

// families are all the families read, record families first.
var families = append(recordFamilies[:len(recordFamilies):len(recordFamilies)], hostFamilies...)

// fetcher runs a family's query in pieces of at most maxSeries series.
type fetcher struct {
	c         *client
	sel       string
	window    string
	maxSeries int
	parallel  int // queries in flight at once (Options.Parallel)
}

func (f *fetcher) selector(metric string, extra []string) string {
	ms := make([]string, 0, len(extra)+1)
	if f.sel != "" {
		ms = append(ms, f.sel)
	}
	ms = append(ms, extra...)
	return metric + "{" + strings.Join(ms, ",") + "}[" + f.window + "]"
}

// fetch calls fn for every series of fam matching extra. With labels left
// to split on, it first counts the series per value of the first one and
// packs values into queries of at most maxSeries series; a value with more
// is split on the next label. A value with more and no label left is
// fetched alone: MaxResponseBytes is the hard limit.
func (f *fetcher) fetch(ctx context.Context, fam family, extra, split []string, fn func(series)) error {
	data := func(extra []string) error {
		res, err := f.c.query(ctx, fam.over+"("+f.selector(fam.name, extra)+")")
		if err != nil {
			return err
		}
		return res.each(func(s series) error {
			fn(s)
			return nil
		})
	}
	if len(split) == 0 {
		return data(extra)
	}
	label := split[0]
	counts, err := f.c.query(ctx, "count by ("+label+") ("+fam.over+"("+f.selector(fam.name, extra)+"))")
	if err != nil {
		return err
	}
	type group struct {
		value string
		n     int
	}
	groups := make([]group, 0, counts.len())
	total := 0
	err = counts.each(func(s series) error {
		v, err := s.value()
		if err != nil {
			return fmt.Errorf("prometheus %s: %w: %s", f.c.name, ErrProtocol, serverText(err.Error()))
		}
		n, ok := seriesCount(v)
		if !ok {
			// Not a count: the group is fetched in a query of its own,
			// which MaxResponseBytes bounds.
			f.warn(fmt.Sprintf("count of %s series by %s: %s is %s, not a count; fetching that group alone",
				fam.name, label, seriesText("", s.Metric), valueText(s.Value[1])))
			n = f.maxSeries
		}
		groups = append(groups, group{s.Metric[label], n})
		total += n
		return nil
	})
	if err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	if total <= f.maxSeries {
		return data(extra)
	}
	slices.SortFunc(groups, func(a, b group) int { return strings.Compare(a.value, b.value) })
	// The fewest queries this plan takes: one a batch, as the loop below
	// packs them, and for a group split further its count and at least one
	// fetch. Refused now if that cannot fit, not after the limit's worth.
	need, big, fill, open := 0, 0, 0, false
	for _, g := range groups {
		switch {
		case g.n > f.maxSeries && len(split) > 1:
			big++
			need += 2
		case g.n > f.maxSeries:
			need++
		case !open || fill+g.n > f.maxSeries:
			need++
			fill, open = g.n, true
		default:
			fill += g.n
		}
	}
	if left := f.c.maxQueries - f.c.sent(); f.c.maxQueries > 0 && need > left {
		return fmt.Errorf("prometheus %s: %w: the server counts %d %s series in %d groups by %s (%d of them above %s %d), which takes at least %d more queries; %d of the limit (%s %d) are left; %s",
			f.c.name, ErrTooManyQueries, total, fam.name, len(groups), label, big, f.c.opt(SettingMaxSeries), f.maxSeries, need, left, f.c.opt(SettingMaxQueries), f.c.maxQueries, f.c.tooManyHint())
	}
	var batch []string
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := data(append(slices.Clip(extra), matchAny(label, batch)))
		batch, n = batch[:0], 0
		return err
	}
	for _, g := range groups {
		if g.n > f.maxSeries {
			if err := f.fetch(ctx, fam, append(slices.Clip(extra), label+"="+strconv.Quote(g.value)), split[1:], fn); err != nil {
				return err
			}
			continue
		}
		if n+g.n > f.maxSeries {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, g.value)
		n += g.n
	}
	return flush()
}

// tooManyHint says what to do when the query limit is reached.
func (c *client) tooManyHint() string {
	return fmt.Sprintf("check the counts (count by (instance) of each planet_ family) against the fleet's size, narrow %s, or raise %s or %s",
		c.opt(SettingSelector), c.opt(SettingMaxSeries), c.opt(SettingMaxQueries))
}

// warn passes a note about the answers on, if anyone listens.
func (f *fetcher) warn(msg string) {
	f.c.note(msg)
}

// maxCount is the largest series count or socket count taken as one: far
// above any real fleet, and small enough that sums over millions of them
// cannot overflow an int.
const maxCount = math.MaxInt32

// seriesCount is v as a count, if it is one: a whole number from 0 to
// maxCount (not NaN, not ±Inf, not 1e300, not -1).
func seriesCount(v float64) (int, bool) {
	if !(v >= 0 && v <= maxCount) || v != math.Trunc(v) {
		return 0, false
	}
	return int(v), true
}

// matchAny is a matcher for any of values; "" matches series without the
// label, as in PromQL.
func matchAny(label string, values []string) string {
	if len(values) == 1 {
		return label + "=" + strconv.Quote(values[0])
	}
	qs := make([]string, len(values))
	for i, v := range values {
		qs[i] = regexp.QuoteMeta(v)
	}
	return label + "=~" + strconv.Quote(strings.Join(qs, "|"))
}
