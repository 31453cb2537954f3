package render

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	goldenfile "github.com/planetdeps/planet/internal/golden"
	"github.com/planetdeps/planet/snapshot"
)

// fixtures are the snapshots every renderer is tested with.
var fixtures = []struct {
	name string
	snap func() *snapshot.Snapshot
}{
	{"realistic", realistic},
	{"hostile", hostile},
	{"minimal", minimal},
	{"windowed", windowed},
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// realistic is an application host as a root scan with an inventory and
// darkstat sees it.
func realistic() *snapshot.Snapshot {
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
func hostile() *snapshot.Snapshot {
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

// minimal is a scan that found nothing: no sources recorded, no sockets.
func minimal() *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Schema:    snapshot.Schema,
		ScannedAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		Host:      snapshot.Host{Hostname: "empty"},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}
