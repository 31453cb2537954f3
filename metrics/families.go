// Package metrics owns planet's Prometheus metric families: their names,
// types, HELP texts and label names (families.go), the textfile that
// `planet scan --textfile-dir` writes for node_exporter's textfile
// collector (textfile.go, window.go), and the reading back of the series
// Prometheus stored from it (series.go, used by `planet graph --prometheus`).
// Writer and reader share these definitions, so neither spells a metric or
// label name of its own.
//
// It must stay cheap to link: planet scan uses it on every cron run, so
// nothing heavy (no Prometheus client libraries) may be imported here.
package metrics

// Type is a metric family's type in the text exposition format.
type Type string

// The types planet writes.
const (
	Gauge   Type = "gauge"
	Counter Type = "counter"
)

// Family describes one metric family. Dashboards and promsrc query these
// names and labels: never rename them. A Family is a description: callers
// must not modify its Labels.
type Family struct {
	Name   string
	Type   Type
	Help   string
	Labels []string // label names, sorted
}

// Label names.
const (
	LabelBind            = "bind"       // a listener's address:port
	LabelDependency      = "dependency" // upstream or downstream
	LabelDirection       = "direction"  // egress (sent by this host) or ingress
	LabelLocalAddress    = "local_address"
	LabelLocalDomain     = "local_domain"
	LabelLocalHostgroup  = "local_hostgroup"
	LabelPort            = "port"
	LabelProcessName     = "process_name"
	LabelProtocol        = "protocol"
	LabelRemoteAddress   = "remote_address"
	LabelRemoteDomain    = "remote_domain"
	LabelRemoteHostgroup = "remote_hostgroup"
	LabelRemoteIP        = "remote_ip"
	LabelSource          = "source" // a scan source, as snapshot.Source.Name
	// LabelWorkload is the one label planet adds to the original
	// exporter's: the socket owner's systemd unit, container or pod
	// (snapshot v2), empty (so absent to Prometheus) where unknown.
	LabelWorkload = "workload"
	// LabelInstance is the target label Prometheus adds to every series it
	// scrapes from node_exporter; planet never writes it.
	LabelInstance = "instance"
)

// Directions of LabelDirection.
const (
	Egress  = "egress"
	Ingress = "ingress"
)

// connectionLabels are the label names of planet_upstream and
// planet_downstream.
var connectionLabels = []string{LabelLocalAddress, LabelLocalHostgroup, LabelPort, LabelProcessName, LabelProtocol,
	LabelRemoteAddress, LabelRemoteHostgroup, LabelWorkload}

// The instant families: what one scan saw.
var (
	Upstream = Family{"planet_upstream", Gauge,
		"Sockets this host has open to a server it depends on, by the server's port (with the flows only connection tracking shows).", connectionLabels}
	Downstream = Family{"planet_downstream", Gauge,
		"Sockets peers have open to a server process on this host, by the listening port (with the flows only connection tracking shows).", connectionLabels}
	// ServerProcess is 1 per listening process: its socket count
	// (SO_REUSEPORT workers) is not what anyone alerts on, and the old
	// exporter said 1.
	ServerProcess = Family{"planet_server_process", Gauge,
		"A server process listening on this host (1 while it listens).",
		[]string{LabelBind, LabelLocalHostgroup, LabelPort, LabelProcessName, LabelProtocol, LabelWorkload}}
	Traffic = Family{"planet_traffic_bytes_total", Counter,
		"Bytes exchanged with a remote IP since darkstat started, as counted by darkstat.",
		[]string{LabelDirection, LabelLocalDomain, LabelLocalHostgroup, LabelRemoteDomain, LabelRemoteHostgroup, LabelRemoteIP}}
	ScanSuccess = Family{"planet_scan_success", Gauge,
		"Whether the scan's source worked (1) or failed (0); sources the scan did not use are absent.", []string{LabelSource}}
	ScanTimestamp = Family{"planet_scan_timestamp_seconds", Gauge, "When the scan ran, in seconds since the Unix epoch.", nil}
	ScanUnowned   = Family{"planet_scan_unowned_sockets", Gauge,
		"Sockets whose owning process could not be read (usually: the scan did not run as root).", nil}
	// InventoryAge and InventorySkipped are only in the textfile of a scan
	// that used an inventory.
	InventoryAge = Family{"planet_inventory_age_seconds", Gauge,
		"Age of the inventory this scan labelled peers with, in seconds: 0 when the scan fetched it, else the time since the last good copy it fell back on was fetched.", nil}
	InventorySkipped = Family{"planet_inventory_skipped_entries", Gauge,
		"Inventory entries left out as unusable (bad or missing ip_address, neither domain nor hostgroup), each logged as a warning.", nil}
)

// windowLabels: the dependency's labels (as planet_upstream's) with which
// side depends on which (dependency: upstream, downstream) and which way the
// bytes went (direction: egress from this host, ingress to it, as
// planet_traffic_bytes_total says it).
var windowLabels = []string{LabelDependency, LabelDirection, LabelLocalAddress, LabelLocalHostgroup, LabelPort, LabelProcessName,
	LabelProtocol, LabelRemoteAddress, LabelRemoteHostgroup}

// The window families: those of a scan with an observation window (scan
// --window), next to the instant families, which they leave as they are.
var (
	// WindowBytes is a counter per dependency and direction of the TCP
	// payload bytes seen in all windows so far: rate() of it is the
	// dependency's bandwidth. Kept monotonic across runs by CounterState.
	WindowBytes = Family{"planet_traffic_window_bytes_total", Counter,
		"TCP payload bytes moved per dependency and direction (egress: sent by this host) within observation windows, summed over all windows so far; rate() gives bytes per second.", windowLabels}
	// WindowConnections counts the connections opened, likewise (its
	// labels: windowLabels without direction).
	WindowConnections = Family{"planet_traffic_window_connections_total", Counter,
		"TCP connections opened per dependency within observation windows, summed over all windows so far; rate() gives connections per second.",
		[]string{LabelDependency, LabelLocalAddress, LabelLocalHostgroup, LabelPort, LabelProcessName, LabelProtocol, LabelRemoteAddress, LabelRemoteHostgroup}}
	// WindowRate is the last window's bytes per second, a gauge that needs
	// no state.
	WindowRate = Family{"planet_traffic_window_bytes_per_second", Gauge,
		"TCP payload bytes per second over the last observation window, per dependency and direction (egress: sent by this host).", windowLabels}
	// WindowSeconds is the last window's length.
	WindowSeconds = Family{"planet_scan_window_seconds", Gauge, "Length of the last observation window, in seconds.", nil}
)
