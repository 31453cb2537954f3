// Package darkstat reads per-host byte counters from a darkstat on this
// host (docs/scan.md, "Bandwidth (darkstat)") and turns them into snapshot
// peers.
//
// darkstat 3.0.719, the version Debian and Ubuntu ship, serves them only as
// an HTML table at /hosts/ (paged by 30 rows unless full=yes). Newer builds
// also serve Prometheus text at /metrics (host_bytes_total). Read accepts a
// URL to either page or to darkstat's base, and detects which it got:
//
//  1. A path ending in /metrics is read as Prometheus text, nothing else.
//  2. A path ending in /hosts or /hosts/ is read as the HTML table, with
//     full=yes added (other parameters such as sort are kept).
//  3. Any other URL is fetched as given. Prometheus text with
//     host_bytes_total is used as is.
//  4. darkstat's host table is used if complete, else fetched again with
//     full=yes.
//  5. Another darkstat page (a base URL gives the graphs page) names the
//     hosts page in its menu, which finds it even under --base. The
//     /metrics next to it is tried first, since a build that has it gives
//     exact, machine-readable numbers; when that fails (404 on 3.0.719),
//     /hosts/?full=yes is read.
//  6. Anything else is ErrNotDarkstat.
//
// All requests of one Read share one Timeout budget, so detection never
// makes a slow darkstat slower than the limit the caller chose.
package darkstat

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/snapshot"
)

// Formats, as recorded in Result.Format and snapshot.Traffic.Format.
const (
	FormatHTML    = "html"
	FormatMetrics = "metrics"
)

// Host holds darkstat's own counters for one remote host: In = bytes
// darkstat counted going in to that host (this host's egress), Out = bytes
// out of it (this host's ingress).
type Host struct {
	IP      netip.Addr
	In, Out uint64
}

// Result is one read of a darkstat.
type Result struct {
	URL    string // the URL actually read (after detection)
	Format string // FormatHTML or FormatMetrics
	Hosts  []Host // sorted by IP, one per IP
}

// Read detects what url points at (see the package doc), reads every host
// darkstat knows and returns them. opts bounds the whole detection: one
// Timeout for all requests, MaxBytes for each. Errors name the URL and say
// what was wrong; ErrNotDarkstat, ErrNoHostTable, ErrTruncated and
// fetch.ErrTooLarge can be told apart with errors.Is, a timeout with
// context.DeadlineExceeded. url may also be a file holding a saved page.
func Read(ctx context.Context, rawURL string, opts fetch.Options) (*Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = fetch.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	if !fetch.IsURL(rawURL) {
		body, err := fetch.Get(ctx, rawURL, opts)
		if err != nil {
			return nil, err
		}
		return parseAny(rawURL, body)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	switch {
	case strings.HasSuffix(u.Path, "/metrics"):
		return readMetrics(ctx, rawURL, opts)
	case strings.HasSuffix(u.Path, "/hosts") || strings.HasSuffix(u.Path, "/hosts/"):
		return readHTML(ctx, fullTable(u), opts)
	}

	body, err := fetch.Get(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	if !looksLikeHTML(body) {
		return parseAny(rawURL, body)
	}
	p, err := scanPage(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	hosts, err := p.hosts()
	switch {
	case err == nil:
		return &Result{URL: rawURL, Format: FormatHTML, Hosts: hosts}, nil
	case errors.Is(err, ErrPartial):
		return readHTML(ctx, fullTable(u), opts)
	case !errors.Is(err, ErrNoHostTable):
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}

	// A darkstat page without the table: find the base from its menu.
	hostsURL := u.ResolveReference(&url.URL{Path: "hosts/"})
	if p.hostsLink != "" {
		if l, err := url.Parse(p.hostsLink); err == nil {
			hostsURL = u.ResolveReference(l)
		}
	}
	metricsURL := hostsURL.ResolveReference(&url.URL{Path: "../metrics"}).String()
	res, metricsErr := readMetrics(ctx, metricsURL, opts)
	if metricsErr == nil {
		return res, nil
	}
	res, err = readHTML(ctx, fullTable(hostsURL), opts)
	if err != nil {
		return nil, fmt.Errorf("%s is darkstat, but its hosts are not readable: %w (and %v)", rawURL, err, metricsErr)
	}
	return res, nil
}

func readMetrics(ctx context.Context, u string, opts fetch.Options) (*Result, error) {
	body, err := fetch.Get(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	hosts, err := ParseMetrics(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &Result{URL: u, Format: FormatMetrics, Hosts: hosts}, nil
}

func readHTML(ctx context.Context, u string, opts fetch.Options) (*Result, error) {
	body, err := fetch.Get(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	hosts, err := ParseHTML(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &Result{URL: u, Format: FormatHTML, Hosts: hosts}, nil
}

// parseAny parses a body by its look: HTML or Prometheus text.
func parseAny(source string, body []byte) (*Result, error) {
	parse, format := ParseMetrics, FormatMetrics
	if looksLikeHTML(body) {
		parse, format = ParseHTML, FormatHTML
	}
	hosts, err := parse(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &Result{URL: source, Format: format, Hosts: hosts}, nil
}

func looksLikeHTML(body []byte) bool {
	s := strings.TrimLeft(string(body[:min(len(body), 512)]), " \t\r\n\ufeff")
	return strings.HasPrefix(s, "<")
}

// fullTable is u asking for every row: full=yes, no start, and the
// trailing slash darkstat needs (it answers 404 to /hosts).
func fullTable(u *url.URL) string {
	c := *u
	if strings.HasSuffix(c.Path, "/hosts") {
		c.Path += "/"
		c.RawPath = ""
	}
	q := c.Query()
	q.Del("start")
	q.Set("full", "yes")
	c.RawQuery = q.Encode()
	c.Fragment = ""
	return c.String()
}

// Peers maps the result to this host's view: IngressBytes = Out,
// EgressBytes = In, sorted by IP. IPv4-mapped IPv6 becomes IPv4 (and is
// merged with the plain IPv4 entry). Skipped: this host's own addresses
// (isLocal, may be nil), loopback, and addresses that are no peer at all
// (unspecified, multicast, 255.255.255.255), which darkstat lists for
// DHCP, neighbour discovery and the like. RemoteHostgroup and
// RemoteDomain are left for the caller to fill from the inventory.
func (r *Result) Peers(isLocal func(netip.Addr) bool) []snapshot.Peer {
	byIP := make(map[netip.Addr]*snapshot.Peer)
	for _, h := range r.Hosts {
		ip := h.IP.Unmap()
		if !isPeer(ip) || isLocal != nil && (isLocal(ip) || ip != h.IP && isLocal(h.IP)) {
			continue
		}
		p := byIP[ip]
		if p == nil {
			p = &snapshot.Peer{RemoteIP: ip}
			byIP[ip] = p
		}
		p.IngressBytes = addSat(p.IngressBytes, h.Out)
		p.EgressBytes = addSat(p.EgressBytes, h.In)
	}
	peers := make([]snapshot.Peer, 0, len(byIP))
	for _, p := range byIP {
		peers = append(peers, *p)
	}
	slices.SortFunc(peers, func(a, b snapshot.Peer) int { return a.RemoteIP.Compare(b.RemoteIP) })
	return peers
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func isPeer(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLoopback() && !ip.IsMulticast() && ip != limitedBroadcast
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// accumulator sums counters per IP, refusing to wrap around.
type accumulator map[netip.Addr]*Host

func newAccumulator() accumulator { return make(accumulator) }

func (acc accumulator) add(ip netip.Addr, in, out uint64) error {
	h := acc[ip]
	if h == nil {
		acc[ip] = &Host{IP: ip, In: in, Out: out}
		return nil
	}
	if h.In > math.MaxUint64-in || h.Out > math.MaxUint64-out {
		return fmt.Errorf("counters of %s overflow 64 bits when summed", ip)
	}
	h.In += in
	h.Out += out
	return nil
}

func (acc accumulator) sorted() []Host {
	hosts := make([]Host, 0, len(acc))
	for _, h := range acc {
		hosts = append(hosts, *h)
	}
	slices.SortFunc(hosts, func(a, b Host) int { return a.IP.Compare(b.IP) })
	return hosts
}
