// Package snapshot defines planet.snapshot/v2 (and reads v1): what one scan
// of one host found, and the strict reader and writer for it. scan produces snapshots, merge and
// render consume them; this package is the contract between them.
package snapshot

import (
	"net/netip"
	"strconv"
	"time"
)

// Schema is the snapshot schema this build writes. v2 adds, to v1, the
// host's network namespaces and the workloads owning its sockets
// (Namespaces, Workloads, and Netns and Workload on listeners and
// connections); a v1 document has none of them and reads as a scan of one
// namespace with no workloads known.
const Schema = "planet.snapshot/v2"

// SchemaV1 is the earlier schema, still read.
const SchemaV1 = "planet.snapshot/v1"

// IsSchema reports whether s names a snapshot schema this build reads.
func IsSchema(s string) bool { return s == Schema || s == SchemaV1 }

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
	SourceConntrack = "conntrack"
	// SourceNamespaces says how many of the host's network namespaces were
	// read, and which could not be and why (v2).
	SourceNamespaces = "namespaces"
)

// ByteCountersConntrack is added to ByteCountersMeaning when records also
// carry conntrack's per-flow counters.
const ByteCountersConntrack = "; records with flows also sum conntrack's byte counters (IP bytes each way, nf_conntrack_acct) of those flows"

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
	// Conntrack says what the connection-tracking table added; nil when
	// the scan did not read it (older snapshots, or no table on the host).
	Conntrack *Conntrack `json:"conntrack,omitempty"`
	Warnings  []string   `json:"warnings,omitempty"`
	// Window is set when the scan watched an observation window (scan
	// --window) rather than one instant; see window.go.
	Window *Window `json:"window,omitempty"`
	// Namespaces are the network namespaces the scan covered, sorted by
	// inode, the host's own first (v2).
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Workloads describes every workload name that records use, sorted by
	// name (v2).
	Workloads []Workload `json:"workloads,omitempty"`
}

// Conntrack summarises one read of the kernel's connection-tracking table
// (netfilter conntrack, /proc/net/nf_conntrack) of the scanned network
// namespace. Entries counts every flow read; the other counts are of the
// TCP and UDP flows among them.
type Conntrack struct {
	Source  string `json:"source"`  // the file read
	Entries int    `json:"entries"` // flows in the table
	// FlowsAdded counts flows no socket of this host shows, now counted in
	// connections' flows (published ports, masqueraded and unconnected UDP
	// flows, connections closed since).
	FlowsAdded int `json:"flows_added"`
	// EndedFlows counts, of FlowsAdded, the TCP flows that had closed.
	EndedFlows int `json:"ended_flows"`
	// SocketsRedirected counts sockets moved to the record their flow's
	// NAT puts them under: an upstream socket to its actual destination
	// behind a DNAT (the address dialled kept next to it), a container's
	// socket of a port the host publishes to the published port.
	SocketsRedirected int `json:"sockets_redirected"`
	// Shown counts flows a socket of this host already shows.
	Shown int `json:"shown"`
	// Unanswered counts TCP flows never answered (connection attempts) and
	// UDP flows to a port nothing here serves: not dependencies.
	Unanswered int `json:"unanswered"`
	// Foreign counts flows whose addresses are neither this host's nor its
	// containers' (traffic a router forwards): ignored.
	Foreign int `json:"foreign"`
	// Dropped counts flows left out because the records reached a bound.
	Dropped int `json:"dropped,omitempty"`
	// Truncated says the table was longer than the scan reads.
	Truncated bool `json:"truncated,omitempty"`
	// ByteCounters says the flows carried byte counters (nf_conntrack_acct).
	ByteCounters bool `json:"byte_counters"`
}

// Namespace is one network namespace of the host.
type Namespace struct {
	// Inode is the namespace's inode number (the N of "net:[N]" in
	// /proc/<pid>/ns/net): listeners and connections name it in netns.
	Inode uint64 `json:"inode"`
	// Host marks the namespace the scan ran in: the host's own, whose
	// addresses are Host.Addresses.
	Host bool `json:"host,omitempty"`
	// PID is the process through which the namespace was read.
	PID int `json:"pid"`
	// Addresses are the namespace's own addresses (loopback left out):
	// for a container, its bridge addresses, private to this host.
	Addresses []netip.Addr `json:"addresses,omitempty"`
	// Source is how its sockets were read: "netlink" (sock_diag inside the
	// namespace, with byte counters) or "proc" (/proc/<pid>/net, without).
	Source string `json:"source,omitempty"`
	// Sockets is the number of TCP and UDP sockets read in it.
	Sockets int `json:"sockets"`
	// Error says why the namespace could not be read; it then has no
	// records.
	Error string `json:"error,omitempty"`
}

// Workload is what owns a socket: a systemd unit, a container, a pod.
// Name is the value of the records' workload fields; the other fields are
// what the scan found out about it (empty where unknown).
type Workload struct {
	Name          string `json:"name"`
	Unit          string `json:"unit,omitempty"`
	Runtime       string `json:"runtime,omitempty"`
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	PodUID        string `json:"pod_uid,omitempty"`
	PodName       string `json:"pod_name,omitempty"`
	PodNamespace  string `json:"pod_namespace,omitempty"`
	// Processes are its socket-owning processes, one entry per distinct
	// (name, command).
	Processes []Process `json:"processes,omitempty"`
}

// Process is a socket-owning process of a workload.
type Process struct {
	// Name is the kernel's comm (at most 15 bytes), as in records' process.
	Name string `json:"name"`
	// Command is the command line, arguments joined by spaces, at most
	// 1024 bytes (a longer one is cut and ends in "…").
	Command string `json:"command,omitempty"`
	// PIDs counts the processes with this name and command.
	PIDs int `json:"pids"`
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
	// Workload owns the listening process (v2; "" when unknown).
	Workload string `json:"workload,omitempty"`
	// Netns is the inode of the network namespace it listens in (v2).
	Netns uint64 `json:"netns,omitempty"`
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

	// The fields below come from the connection-tracking table (see
	// Snapshot.Conntrack); a snapshot without it has none of them.

	// Flows counts connections no socket of this host shows: the flows of
	// a published port or of a masquerade, unconnected UDP clients, TCP
	// connections closed recently. EndedFlows counts the closed ones.
	Flows      int `json:"flows,omitempty"`
	EndedFlows int `json:"ended_flows,omitempty"`
	// DialledIP, DialledPort (upstream): the address the client dialled
	// when a DNAT sent the flow elsewhere; RemoteIP and Port are then the
	// actual destination.
	DialledIP   netip.Addr `json:"dialled_ip,omitzero"`
	DialledPort uint16     `json:"dialled_port,omitempty"`
	// BackendIP, BackendPort (downstream, a published port): where this
	// host forwards the flows it takes on Port: a container of this host,
	// or another host behind this one (a DNAT router).
	BackendIP   netip.Addr `json:"backend_ip,omitzero"`
	BackendPort uint16     `json:"backend_port,omitempty"`
	// OriginIP (upstream): the address behind this host's masquerade that
	// made the flow, usually one of its containers.
	OriginIP netip.Addr `json:"origin_ip,omitzero"`

	// Window is this dependency's activity within the snapshot's window; a
	// record with Sockets 0 is a dependency whose connections all ended in it.
	Window *ConnWindow `json:"window,omitempty"`
	// Workload owns the local process (v2; "" when unknown).
	Workload string `json:"workload,omitempty"`
	// Netns is the inode of the network namespace of the local end (v2).
	Netns uint64 `json:"netns,omitempty"`
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

// PrivateAddresses are the addresses of the host's other network
// namespaces (containers' bridge addresses) that are not also the host's
// own: they mean this host only to the host itself.
func (s *Snapshot) PrivateAddresses() []netip.Addr {
	own := make(map[netip.Addr]bool, len(s.Host.Addresses))
	for _, a := range s.Host.Addresses {
		own[a.Unmap()] = true
	}
	var out []netip.Addr
	for _, ns := range s.Namespaces {
		for _, a := range ns.Addresses {
			if a = a.Unmap(); !own[a] && !a.IsLoopback() {
				own[a] = true
				out = append(out, a)
			}
		}
	}
	return out
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
