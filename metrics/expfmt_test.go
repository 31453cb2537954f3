package metrics

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/planetdeps/planet/snapshot"
)

func TestTextfileExpfmt(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			s := fx.Snap()
			checkExpfmt(t, textfileFor(t, s), s)
		})
	}
}

// checkExpfmt parses out with Prometheus' own parser and checks that the
// label values come back exactly as the snapshot has them (after the one
// allowed change: invalid UTF-8 replaced), and that summing lost nothing.
func checkExpfmt(t *testing.T, out []byte, s *snapshot.Snapshot) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, out)
	}
	for name, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
		for _, m := range f.Metric {
			if m.TimestampMs != nil {
				t.Errorf("%s: sample has a timestamp", name)
			}
		}
	}
	valid := func(v string) string { return strings.ToValidUTF8(v, "\uFFFD") }

	// Connections: every expected label value is found, totals agree.
	for _, dir := range []snapshot.Direction{snapshot.Upstream, snapshot.Downstream} {
		name := "planet_" + string(dir)
		var wantTotal float64
		wantProcesses, wantRemotes := map[string]bool{}, map[string]bool{}
		for _, c := range s.Connections {
			if c.Direction != dir {
				continue
			}
			wantTotal += float64(c.Sockets)
			wantProcesses[valid(c.Process)] = true
			switch ip := c.RemoteIP.Unmap(); {
			case ip.IsLoopback() || c.RemoteDomain == "":
				wantRemotes[ip.String()] = true
			default:
				wantRemotes[valid(c.RemoteDomain)] = true
			}
		}
		f := families[name]
		if wantTotal == 0 {
			if f != nil {
				t.Errorf("%s present without records", name)
			}
			continue
		}
		if f == nil || f.GetType() != dto.MetricType_GAUGE {
			t.Fatalf("%s missing or not a gauge: %v", name, f)
		}
		var gotTotal float64
		gotProcesses, gotRemotes := map[string]bool{}, map[string]bool{}
		for _, m := range f.Metric {
			gotTotal += m.GetGauge().GetValue()
			l := labels(m)
			gotProcesses[l["process_name"]] = true
			gotRemotes[l["remote_address"]] = true
			if l["local_address"] != valid(s.Host.Label()) || l["local_hostgroup"] != valid(s.Host.Hostgroup) {
				t.Errorf("%s: local labels %q, %q", name, l["local_address"], l["local_hostgroup"])
			}
		}
		if gotTotal != wantTotal {
			t.Errorf("%s: sockets sum to %v, want %v", name, gotTotal, wantTotal)
		}
		if !maps.Equal(gotProcesses, wantProcesses) {
			t.Errorf("%s: process_name values %q, want %q", name, slices.Sorted(maps.Keys(gotProcesses)), slices.Sorted(maps.Keys(wantProcesses)))
		}
		if !maps.Equal(gotRemotes, wantRemotes) {
			t.Errorf("%s: remote_address values %q, want %q", name, slices.Sorted(maps.Keys(gotRemotes)), slices.Sorted(maps.Keys(wantRemotes)))
		}
	}

	// Listeners: one series per distinct listener, bind as Listener.Bind.
	if len(s.Listeners) > 0 {
		want := map[string]bool{}
		for _, l := range s.Listeners {
			want[l.Bind()+" "+l.Protocol+" "+valid(l.Process)] = true
		}
		got := map[string]bool{}
		for _, m := range families["planet_server_process"].GetMetric() {
			l := labels(m)
			got[l["bind"]+" "+l["protocol"]+" "+l["process_name"]] = true
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("planet_server_process %v = %v, want 1", l, m.GetGauge().GetValue())
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("planet_server_process: %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}

	// Traffic: a counter; per direction, the bytes add up and the domains
	// come back exactly.
	if s.Traffic != nil && len(s.Traffic.Peers) > 0 {
		f := families["planet_traffic_bytes_total"]
		if f.GetType() != dto.MetricType_COUNTER {
			t.Fatalf("planet_traffic_bytes_total: type %v, want counter", f.GetType())
		}
		var wantIn, wantOut, gotIn, gotOut float64
		wantDomains, gotDomains := map[string]bool{}, map[string]bool{}
		for _, p := range s.Traffic.Peers {
			wantIn += float64(p.IngressBytes)
			wantOut += float64(p.EgressBytes)
			wantDomains[valid(p.RemoteDomain)] = true
		}
		for _, m := range f.Metric {
			l := labels(m)
			gotDomains[l["remote_domain"]] = true
			if l["local_domain"] != valid(s.Host.Domain) {
				t.Errorf("local_domain %q, want %q", l["local_domain"], s.Host.Domain)
			}
			switch l["direction"] {
			case "ingress":
				gotIn += m.GetCounter().GetValue()
			case "egress":
				gotOut += m.GetCounter().GetValue()
			default:
				t.Errorf("direction %q", l["direction"])
			}
		}
		if gotIn != wantIn || gotOut != wantOut {
			t.Errorf("traffic in/out %v/%v, want %v/%v", gotIn, gotOut, wantIn, wantOut)
		}
		if !maps.Equal(gotDomains, wantDomains) {
			t.Errorf("remote_domain values %q, want %q", slices.Sorted(maps.Keys(gotDomains)), slices.Sorted(maps.Keys(wantDomains)))
		}
	}

	// Scan health.
	for _, src := range s.Sources {
		var got *dto.Metric
		for _, m := range families["planet_scan_success"].GetMetric() {
			if labels(m)["source"] == src.Name {
				got = m
			}
		}
		want := 0.0
		if src.OK {
			want = 1
		}
		if got == nil || got.GetGauge().GetValue() != want {
			t.Errorf("planet_scan_success{source=%q}: %v, want %v", src.Name, got, want)
		}
	}
	ts := families["planet_scan_timestamp_seconds"].GetMetric()
	if len(ts) != 1 || ts[0].GetGauge().GetValue() != float64(s.ScannedAt.UnixMilli())/1e3 {
		t.Errorf("planet_scan_timestamp_seconds: %v, want %v", ts, float64(s.ScannedAt.UnixMilli())/1e3)
	}
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}
