package metrics

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/planetdeps/planet/snapshot"
)

// labelSet makes a label set from name, value pairs.
func labelSet(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestReadConnection(t *testing.T) {
	full := labelSet(LabelLocalAddress, "10.1.0.5", LabelLocalHostgroup, "web", LabelPort, "5432", LabelProcessName, "api",
		LabelProtocol, "tcp", LabelRemoteAddress, "db.example", LabelRemoteHostgroup, "db", LabelWorkload, "api.service")
	got, err := ReadConnection(Downstream.Name, full)
	want := ConnectionSeries{Direction: snapshot.Downstream, LocalAddress: "10.1.0.5", LocalHostgroup: "web", Port: 5432,
		Process: "api", Protocol: "tcp", RemoteAddress: "db.example", RemoteHostgroup: "db", Workload: "api.service"}
	if err != nil || got != want {
		t.Errorf("ReadConnection = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := ReadConnection(Upstream.Name, full); got.Direction != snapshot.Upstream {
		t.Errorf("an upstream series read as %s", got.Direction)
	}
	for _, tt := range []struct {
		name    string
		labels  map[string]string
		wantErr string
	}{
		{"no port", labelSet(LabelProtocol, "tcp", LabelRemoteAddress, "x"), `port ""`},
		{"port too big", labelSet(LabelPort, "65536", LabelProtocol, "tcp", LabelRemoteAddress, "x"), `port "65536"`},
		{"no protocol", labelSet(LabelPort, "22", LabelRemoteAddress, "x"), "no protocol or remote_address"},
		{"no remote address", labelSet(LabelPort, "22", LabelProtocol, "tcp"), "no protocol or remote_address"},
	} {
		if _, err := ReadConnection(Upstream.Name, tt.labels); err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestReadServer(t *testing.T) {
	for _, tt := range []struct {
		bind, port string
		want       netip.Addr
		wantErr    string
	}{
		{bind: "0.0.0.0:22", port: "22", want: netip.IPv4Unspecified()},
		{bind: ":::9100", port: "9100", want: netip.IPv6Unspecified()},
		{bind: "10.1.0.5:80", port: "80", want: netip.MustParseAddr("10.1.0.5")},
		{bind: "22", port: "22", wantErr: `bind "22"`},
		{bind: "host:22", port: "22", wantErr: `bind "host:22"`},
		{bind: "0.0.0.0:22", port: "ssh", wantErr: `port "ssh"`},
	} {
		got, err := ReadServer(labelSet(LabelBind, tt.bind, LabelPort, tt.port, LabelProcessName, "sshd", LabelProtocol, "tcp"))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("bind %q port %q: err = %v, want %q", tt.bind, tt.port, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Bind != tt.want || got.Process != "sshd" || got.Protocol != "tcp" {
			t.Errorf("bind %q: %+v, %v; want address %s", tt.bind, got, err, tt.want)
		}
	}
}

func TestReadTraffic(t *testing.T) {
	got, err := ReadTraffic(labelSet(LabelRemoteIP, "::ffff:10.0.0.9", LabelDirection, Egress, LabelRemoteHostgroup, "db"))
	if err != nil || got.RemoteIP != netip.MustParseAddr("10.0.0.9") || got.Direction != Egress || got.RemoteHostgroup != "db" {
		t.Errorf("ReadTraffic = %+v, %v; want 10.0.0.9 (unmapped), egress, db", got, err)
	}
	if _, err := ReadTraffic(labelSet(LabelRemoteIP, "db.example")); err == nil || !strings.Contains(err.Error(), `remote_ip "db.example"`) {
		t.Errorf("a remote_ip that is no IP: err = %v", err)
	}
}

func TestReadScanSuccess(t *testing.T) {
	if src, err := ReadScanSuccess(labelSet(LabelSource, snapshot.SourceSockets)); src != snapshot.SourceSockets || err != nil {
		t.Errorf("ReadScanSuccess = %q, %v", src, err)
	}
	if _, err := ReadScanSuccess(labelSet()); err == nil || err.Error() != "no source label" {
		t.Errorf("no source: err = %v", err)
	}
}

// TestFamiliesWellFormed: every family's labels are sorted and distinct,
// and its name says its type the way Prometheus expects (counters end in
// _total).
func TestFamiliesWellFormed(t *testing.T) {
	all := []Family{Upstream, Downstream, ServerProcess, Traffic, ScanSuccess, ScanTimestamp, ScanUnowned,
		InventoryAge, InventorySkipped, WindowBytes, WindowConnections, WindowRate, WindowSeconds}
	seen := map[string]bool{}
	for _, f := range all {
		if seen[f.Name] || !strings.HasPrefix(f.Name, "planet_") || f.Help == "" {
			t.Errorf("%s: duplicate, unprefixed or without HELP", f.Name)
		}
		seen[f.Name] = true
		if (f.Type == Counter) != strings.HasSuffix(f.Name, "_total") {
			t.Errorf("%s: a %s", f.Name, f.Type)
		}
		for i := 1; i < len(f.Labels); i++ {
			if f.Labels[i-1] >= f.Labels[i] {
				t.Errorf("%s: labels %v not sorted and distinct", f.Name, f.Labels)
			}
		}
	}
}
