// Package snapshot defines planet.snapshot/v1: what one scan of one host found,
// and the strict reader and writer for it. scan produces snapshots, merge and
// render consume them; this package is the contract between them.
package snapshot

import (
	"net/netip"
	"strconv"
	"time"
)

// Schema is the only snapshot schema this build reads and writes.
const Schema = "planet.snapshot/v1"

// Direction says who depends on whom.
type Direction string

const (
	// Upstream: this host is the client; it depends on the peer.
	Upstream Direction = "upstream"
	// Downstream: this host serves the peer; the peer depends on it.
	Downstream Direction = "downstream"
)

// Source names used in Snapshot.Sources.
const (
	SourceSockets   = "sockets"
	SourceInventory = "inventory"
	SourceDarkstat  = "darkstat"
)

// ByteCountersMeaning is recorded in every snapshot that carries per-connection
// byte counters, so a reader never mistakes them for a rate or a host total.
const ByteCountersMeaning = "bytes_sent/bytes_received: lifetime totals (tcpi_bytes_acked/tcpi_bytes_received) of the TCP sockets alive at scan time, summed per record; closed sockets are not included"

// Snapshot is one host's dependencies at one moment.
type Snapshot struct {
	Schema        string    `json:"schema"`
	PlanetVersion string    `json:"planet_version"`
	ScannedAt     time.Time `json:"scanned_at"`
	Host          Host      `json:"host"`
	// Sources says which inputs the scan used and whether each worked.
	Sources     []Source     `json:"sources"`
	Listeners   []Listener   `json:"listeners"`
	Connections []Connection `json:"connections"`
	// UnownedSockets counts sockets that have an owner in the kernel but
	// whose process could not be read (usually: not root).
	UnownedSockets int `json:"unowned_sockets"`
	// ByteCounters explains bytes_sent/bytes_received when any record has them.
	ByteCounters string   `json:"byte_counters,omitempty"`
	Traffic      *Traffic `json:"traffic,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	// Window is set when the scan watched an observation window (scan
	// --window) rather than one instant; see window.go.
	Window *Window `json:"window,omitempty"`
}

// Host identifies the scanned machine.
type Host struct {
	Hostname string `json:"hostname"`
	// Addresses are the host's own addresses, loopback and link-local
	// left out. The first is its identity (planet scan: the source address
	// of the default route, IPv4 first); the rest are sorted.
	Addresses []netip.Addr `json:"addresses"`
	Hostgroup string       `json:"hostgroup,omitempty"`
	Domain    string       `json:"domain,omitempty"`
	// LinkLocal are the host's IPv6 link-local addresses (fe80::/10), each
	// zoned with its interface ("fe80::2%eth1"), from /proc/net/if_inet6.
	// They are not part of the host's identity or label (every link may
	// reuse them); merge uses them to resolve peers between scanned hosts.
	// Absent in snapshots of older planet versions.
	LinkLocal []netip.Addr `json:"link_local,omitempty"`
}

// Source records how one input of the scan went.
type Source struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	// FetchedAt is set only when the source's data is not this scan's own:
	// an inventory kept from an earlier run, used because this run's fetch
	// failed (OK is false and Error says why). Its age is the textfile's
	// planet_inventory_age_seconds.
	FetchedAt *time.Time `json:"fetched_at,omitempty"`
	// Skipped counts the source's entries left out as unusable (an
	// inventory entry with a bad address, say), each with a warning.
	Skipped int `json:"skipped,omitempty"`
}

// Listener is a server process: a listening TCP socket or a bound,
// unconnected UDP socket outside the ephemeral port range.
type Listener struct {
	Protocol string     `json:"protocol"`
	Address  netip.Addr `json:"address"`
	Port     uint16     `json:"port"`
	Process  string     `json:"process"`
	Sockets  int        `json:"sockets"`
}

// Bind is the listener's address the way the original exporter printed it:
// IP:port without brackets, so the IPv6 wildcard is ":::9100".
func (l Listener) Bind() string {
	return l.Address.Unmap().String() + ":" + strconv.Itoa(int(l.Port))
}

// Connection aggregates the sockets of one dependency: one record per
// (direction, protocol, port, process, remote IP).
type Connection struct {
	Direction Direction `json:"direction"`
	Protocol  string    `json:"protocol"`
	// Port is the server's port: the remote port upstream, the local
	// (listening) port downstream.
	Port            uint16     `json:"port"`
	Process         string     `json:"process"`
	RemoteIP        netip.Addr `json:"remote_ip"`
	RemoteHostgroup string     `json:"remote_hostgroup,omitempty"`
	RemoteDomain    string     `json:"remote_domain,omitempty"`
	Sockets         int        `json:"sockets"`
	// States counts the sockets by TCP state name (ESTABLISHED, TIME_WAIT...).
	States        map[string]int `json:"states,omitempty"`
	BytesSent     uint64         `json:"bytes_sent,omitempty"`
	BytesReceived uint64         `json:"bytes_received,omitempty"`
	// Window is this dependency's activity within the snapshot's window; a
	// record with Sockets 0 is a dependency whose connections all ended in it.
	Window *ConnWindow `json:"window,omitempty"`
}

// Traffic is per-peer bandwidth from darkstat.
type Traffic struct {
	// Source is the URL the numbers were read from; Format is "html" or "metrics".
	Source string `json:"source"`
	Format string `json:"format"`
	Peers  []Peer `json:"peers"`
}

// Peer is the bytes exchanged with one remote IP since darkstat started.
type Peer struct {
	RemoteIP        netip.Addr `json:"remote_ip"`
	RemoteHostgroup string     `json:"remote_hostgroup,omitempty"`
	RemoteDomain    string     `json:"remote_domain,omitempty"`
	// IngressBytes came from the peer to this host; EgressBytes went to it.
	IngressBytes uint64 `json:"ingress_bytes"`
	EgressBytes  uint64 `json:"egress_bytes"`
}

// Source returns the named source record, if the scan used it.
func (s *Snapshot) Source(name string) (Source, bool) {
	for _, src := range s.Sources {
		if src.Name == name {
			return src, true
		}
	}
	return Source{}, false
}

// Label is how the host appears as local_address in metrics and as a node
// name when it has no hostgroup: its inventory domain, else its first
// non-loopback address, else its hostname.
func (h Host) Label() string {
	if h.Domain != "" {
		return h.Domain
	}
	for _, a := range h.Addresses {
		if !a.IsLoopback() {
			return a.String()
		}
	}
	return h.Hostname
}
