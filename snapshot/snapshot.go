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
	// SourceNamespaces says how many of the host's network namespaces were
	// read, and which could not be and why (v2).
	SourceNamespaces = "namespaces"
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
	// Namespaces are the network namespaces the scan covered, sorted by
	// inode, the host's own first (v2).
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Workloads describes every workload name that records use, sorted by
	// name (v2).
	Workloads []Workload `json:"workloads,omitempty"`
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
	Hostname  string       `json:"hostname"`
	Addresses []netip.Addr `json:"addresses"`
	Hostgroup string       `json:"hostgroup,omitempty"`
	Domain    string       `json:"domain,omitempty"`
}

// Source records how one input of the scan went.
type Source struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
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
