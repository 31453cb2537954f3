// Package snapfixtures holds the snapshots the renderers and the textfile
// writer are tested with (render, metrics): one application host seen
// several ways. Test use only.
package snapfixtures

import (
	"net/netip"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

// Fixture is one snapshot fixture: Name is its golden files' prefix
// (realistic.prom.golden), Snap makes a fresh copy.
type Fixture struct {
	Name string
	Snap func() *snapshot.Snapshot
}

// All are the snapshots every renderer is tested with.
var All = []Fixture{
	{"realistic", Realistic},
	{"hostile", Hostile},
	{"minimal", Minimal},
	{"windowed", Windowed},
	{"containers", Containers},
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// Realistic is an application host as a root scan with an inventory and
// darkstat sees it.
func Realistic() *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Schema:        snapshot.Schema,
		PlanetVersion: "v0.1.0",
		ScannedAt:     time.Date(2025, 3, 1, 12, 34, 56, 500_000_000, time.UTC),
		Host: snapshot.Host{
			Hostname:  "debugapp-1",
			Addresses: []netip.Addr{ip("127.0.0.1"), ip("10.2.3.4"), ip("fe80::1")},
			Hostgroup: "debugapp",
			Domain:    "debugapp.service.consul",
		},
		Sources: []snapshot.Source{
			{Name: snapshot.SourceSockets, OK: true, Detail: "netlink"},
			{Name: snapshot.SourceInventory, OK: true, Detail: "https://inventory.example/hosts.json"},
			{Name: snapshot.SourceDarkstat, OK: true, Detail: "http://127.0.0.1:667"},
		},
		Listeners: []snapshot.Listener{
			{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 22, Process: "sshd", Sockets: 1},
			{Protocol: "tcp", Address: ip("::"), Port: 22, Process: "sshd", Sockets: 1},
			{Protocol: "tcp", Address: ip("::"), Port: 9100, Process: "node_exporter", Sockets: 1},
			{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 80, Process: "debugapp", Sockets: 4},
			{Protocol: "tcp", Address: ip("127.0.0.1"), Port: 5432, Process: "postgres", Sockets: 1},
			{Protocol: "udp", Address: ip("0.0.0.0"), Port: 123, Process: "chronyd", Sockets: 1},
		},
		Connections: []snapshot.Connection{
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "debugapp", RemoteIP: ip("10.1.2.3"),
				RemoteHostgroup: "xyz", RemoteDomain: "xyz.service.consul", Sockets: 1, States: map[string]int{"ESTABLISHED": 1},
				BytesSent: 1500, BytesReceived: 320_000},
			// Same domain, another IP: must be summed into one series.
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "debugapp", RemoteIP: ip("10.1.2.4"),
				RemoteHostgroup: "xyz", RemoteDomain: "xyz.service.consul", Sockets: 2, States: map[string]int{"ESTABLISHED": 1, "TIME_WAIT": 1},
				BytesSent: 800, BytesReceived: 64_000},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432, Process: "debugapp", RemoteIP: ip("127.0.0.1"),
				RemoteHostgroup: "localhost", Sockets: 3, States: map[string]int{"ESTABLISHED": 3}},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, RemoteIP: ip("93.184.216.34"),
				Sockets: 2, States: map[string]int{"TIME_WAIT": 2}},
			{Direction: snapshot.Upstream, Protocol: "udp", Port: 53, Process: "systemd-resolve", RemoteIP: ip("10.0.0.2"),
				RemoteHostgroup: "dns", RemoteDomain: "dns.service.consul", Sockets: 1},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 9100, Process: "node_exporter", RemoteIP: ip("10.9.9.9"),
				RemoteHostgroup: "prometheus", RemoteDomain: "prometheus.service.consul", Sockets: 1, States: map[string]int{"ESTABLISHED": 1}},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 22, Process: "sshd", RemoteIP: ip("192.168.1.50"),
				Sockets: 1, States: map[string]int{"ESTABLISHED": 1}},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "debugapp", RemoteIP: ip("10.5.0.1"),
				RemoteHostgroup: "lb", RemoteDomain: "lb.service.consul", Sockets: 5, States: map[string]int{"ESTABLISHED": 2, "TIME_WAIT": 3},
				BytesSent: 9_876_543_210, BytesReceived: 1_234_567},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "debugapp", RemoteIP: ip("2001:db8::7"),
				Sockets: 1, States: map[string]int{"ESTABLISHED": 1}, BytesSent: 512, BytesReceived: 100},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 5432, Process: "postgres", RemoteIP: ip("127.0.0.1"),
				RemoteHostgroup: "localhost", Sockets: 3, States: map[string]int{"ESTABLISHED": 3}},
		},
		UnownedSockets: 2,
		ByteCounters:   snapshot.ByteCountersMeaning,
		Traffic: &snapshot.Traffic{
			Source: "http://127.0.0.1:667/hosts/?full=yes",
			Format: "html",
			Peers: []snapshot.Peer{
				{RemoteIP: ip("10.1.2.3"), RemoteHostgroup: "xyz", RemoteDomain: "xyz.service.consul", IngressBytes: 4096, EgressBytes: 2005},
				{RemoteIP: ip("10.5.0.1"), RemoteHostgroup: "lb", RemoteDomain: "lb.service.consul", IngressBytes: 126_014_316, EgressBytes: 9_876_543_210},
				{RemoteIP: ip("93.184.216.34"), IngressBytes: 0, EgressBytes: 1_000_000},
			},
		},
	}
}

// hostile has names that break naive renderers: quotes, backslashes,
// newlines, braces, markup, terminal escapes, unicode and invalid UTF-8.
func Hostile() *snapshot.Snapshot {
	evilDomain := "x\"}\n{y=\"z\\.example"
	return &snapshot.Snapshot{
		Schema:        snapshot.Schema,
		PlanetVersion: "v0.0.0-\"dev\"",
		ScannedAt:     time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		Host: snapshot.Host{
			Hostname:  "<html>",
			Addresses: []netip.Addr{ip("10.66.6.6")},
			Hostgroup: "grp{a=\"b\"}",
			Domain:    "web\"1\\.svc\n.consul",
		},
		Sources: []snapshot.Source{
			{Name: snapshot.SourceSockets, OK: true},
			{Name: snapshot.SourceDarkstat, OK: false, Error: "GET http://127.0.0.1:667/metrics: 500 \"<html>\\n</html>\"\nline two"},
		},
		Listeners: []snapshot.Listener{
			{Protocol: "tcp", Address: ip("::"), Port: 8080, Process: "a\"b\\c\nd", Sockets: 1},
			{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 8443, Process: "<html><b>", Sockets: 2},
			{Protocol: "udp", Address: ip("0.0.0.0"), Port: 5353, Process: "日本語プロセス", Sockets: 1},
			// Listed twice (a broken scan): still one series, value 1.
			{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 8443, Process: "<html><b>", Sockets: 2},
		},
		Connections: []snapshot.Connection{
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, Process: "{}", RemoteIP: ip("10.7.0.1"),
				RemoteHostgroup: "h\\g", RemoteDomain: evilDomain, Sockets: 1},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 443, Process: "{}", RemoteIP: ip("10.7.0.2"),
				RemoteHostgroup: "h\\g", RemoteDomain: evilDomain, Sockets: 4},
			// Two invalid spellings of one name collapse once made valid.
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 25, Process: "bad\xffutf8", RemoteIP: ip("10.7.0.3"), Sockets: 1},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 25, Process: "bad\xfeutf8", RemoteIP: ip("10.7.0.3"), Sockets: 2},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 6379, Process: "tab\there\r", RemoteIP: ip("::1"),
				RemoteDomain: "not-used-for-loopback", Sockets: 1},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8080, Process: "a\"b\\c\nd", RemoteIP: ip("2001:db8::1"),
				RemoteHostgroup: "ünïcödé", RemoteDomain: "ünïcödé.example", Sockets: 1, States: map[string]int{"ESTA\x1b[31mBLISHED": 1}},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8443, Process: "\x1b[31mred\u202etxt", RemoteIP: ip("10.8.0.1"),
				RemoteHostgroup: "", RemoteDomain: "", Sockets: 1},
		},
		Traffic: &snapshot.Traffic{
			Source: "http://127.0.0.1:667/metrics",
			Format: "metrics",
			Peers: []snapshot.Peer{
				{RemoteIP: ip("10.7.0.1"), RemoteHostgroup: "h\\g", RemoteDomain: evilDomain, IngressBytes: 1 << 40, EgressBytes: 1},
				{RemoteIP: ip("10.8.0.1"), RemoteDomain: "<script>alert(1)</script>", IngressBytes: 7, EgressBytes: 0},
			},
		},
		Warnings: []string{"inventory entry 3: neither domain nor hostgroup\n\x1b[2J"},
	}
}

// Containers is a docker host (snapshot v2): app.service on the host and
// the container docker/app call the container docker/web over the bridge;
// docker/app also calls a database through the host's masquerade.
func Containers() *snapshot.Snapshot {
	est := map[string]int{"ESTABLISHED": 1}
	id := "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100"
	return &snapshot.Snapshot{
		Schema:        snapshot.Schema,
		PlanetVersion: "v0.2.0",
		ScannedAt:     time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Host:          snapshot.Host{Hostname: "docker-1", Addresses: []netip.Addr{ip("10.0.0.1"), ip("172.17.0.1")}, Hostgroup: "docker"},
		Sources: []snapshot.Source{{Name: snapshot.SourceSockets, OK: true, Detail: "netlink"},
			{Name: snapshot.SourceNamespaces, OK: true, Detail: "2 network namespaces read: 0 by netlink, 2 from /proc/<pid>/net without byte counters"}},
		Namespaces: []snapshot.Namespace{
			{Inode: 4026531840, Host: true, PID: 900, Addresses: []netip.Addr{ip("10.0.0.1"), ip("172.17.0.1")}, Source: "netlink", Sockets: 2},
			{Inode: 4026532300, PID: 812, Addresses: []netip.Addr{ip("172.17.0.2")}, Source: "proc", Sockets: 3},
			{Inode: 4026532400, PID: 850, Addresses: []netip.Addr{ip("172.17.0.3")}, Source: "proc", Sockets: 2},
		},
		Workloads: []snapshot.Workload{
			{Name: "app.service", Unit: "app.service", Processes: []snapshot.Process{{Name: "java", Command: "/usr/bin/java -jar /srv/app.jar", PIDs: 1}}},
			{Name: "docker/app", Runtime: "docker", ContainerID: "aa" + id[2:], ContainerName: "app", Processes: []snapshot.Process{{Name: "python3", Command: "python3 app.py", PIDs: 1}}},
			{Name: "docker/web", Runtime: "docker", ContainerID: id, ContainerName: "web", Processes: []snapshot.Process{{Name: "nginx", Command: "nginx: master process nginx -g daemon off;", PIDs: 1}}},
		},
		Listeners: []snapshot.Listener{{Protocol: "tcp", Address: ip("0.0.0.0"), Port: 80, Process: "nginx", Sockets: 1, Workload: "docker/web", Netns: 4026532300}},
		Connections: []snapshot.Connection{
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: ip("172.17.0.1"), Sockets: 1, States: est, Workload: "docker/web", Netns: 4026532300},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: ip("172.17.0.3"), Sockets: 1, States: est, Workload: "docker/web", Netns: 4026532300},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "java", RemoteIP: ip("172.17.0.2"), Sockets: 1, States: est, Workload: "app.service", Netns: 4026531840, BytesSent: 100, BytesReceived: 2000},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 80, Process: "python3", RemoteIP: ip("172.17.0.2"), Sockets: 1, States: est, Workload: "docker/app", Netns: 4026532400},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432, Process: "python3", RemoteIP: ip("10.0.0.9"), RemoteHostgroup: "db", Sockets: 1, States: est, Workload: "docker/app", Netns: 4026532400},
		},
		ByteCounters: snapshot.ByteCountersMeaning,
	}
}

// Minimal is a scan that found nothing: no sources recorded, no sockets.
func Minimal() *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Schema:    snapshot.Schema,
		ScannedAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		Host:      snapshot.Host{Hostname: "empty"},
	}
}

// Windowed is Realistic() scanned with a 300 s window: two of its records
// carry window figures, and one dependency only lived within the window.
func Windowed() *snapshot.Snapshot {
	s := Realistic()
	start := s.ScannedAt.Add(-300 * time.Second)
	s.Window = &snapshot.Window{Start: start, Seconds: 300, Requested: 300, Method: snapshot.WindowEvents,
		Opened: 40, Closed: 40, BytesMeaning: snapshot.WindowBytesMeaning}
	cw := func(opened int, sent, recv uint64) *snapshot.ConnWindow {
		return &snapshot.ConnWindow{Opened: opened, Closed: opened, OpenedPerSecond: float64(opened) / 300,
			BytesSent: sent, BytesReceived: recv, BytesSentPerSecond: float64(sent) / 300, BytesReceivedPerSecond: float64(recv) / 300,
			FirstSeen: start, LastSeen: s.ScannedAt}
	}
	s.Connections[0].Window = cw(0, 3000, 600_000)
	s.Connections = append(s.Connections, snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432,
		Process: "backup", RemoteIP: ip("10.9.9.9"), RemoteHostgroup: "db", RemoteDomain: "db.service.consul", Window: cw(40, 480_000_000, 1_200_000)})
	return s
}
