package metrics

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

// TestMigrationPromQL (issue 15, item 11): the textfile's dependency series
// carry the socket count, and the PromQL docs/migrating.md gives
// for the old exporter's meaning (every series 1) gives exactly that, run
// by promtool on the series planet wrote.
func TestMigrationPromQL(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "prometheus")
	readme, err := os.ReadFile("../docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```promql\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("docs/migrating.md: no promql block")
	}
	var exprs []string
	for _, line := range strings.Split(string(block[1]), "\n") {
		if e, _, _ := strings.Cut(line, "#"); strings.TrimSpace(e) != "" {
			exprs = append(exprs, strings.TrimSpace(e))
		}
	}
	if len(exprs) < 3 {
		t.Fatalf("docs/migrating.md promql block: %d expressions, want 3", len(exprs))
	}

	s := &snapshot.Snapshot{
		Schema:    snapshot.Schema,
		ScannedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Host:      snapshot.Host{Hostname: "web-1", Addresses: []netip.Addr{netip.MustParseAddr("10.1.0.5")}, Hostgroup: "web", Domain: "web-1.example"},
		Connections: []snapshot.Connection{
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 5432, Process: "api", RemoteIP: netip.MustParseAddr("10.3.0.9"), RemoteHostgroup: "db", Sockets: 3, States: map[string]int{"ESTABLISHED": 3}},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 6379, Process: "api", RemoteIP: netip.MustParseAddr("10.3.0.10"), RemoteHostgroup: "db", Sockets: 1, States: map[string]int{"ESTABLISHED": 1}},
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 80, Process: "nginx", RemoteIP: netip.MustParseAddr("10.0.0.2"), RemoteHostgroup: "lb", Sockets: 40, States: map[string]int{"ESTABLISHED": 40}},
		},
	}
	text := textfileFor(t, s)

	// The series of the two dependency families, with their values.
	type series struct{ labels, value string }
	fam := map[string][]series{}
	for _, line := range strings.Split(string(text), "\n") {
		for _, name := range []string{"planet_upstream", "planet_downstream"} {
			if rest, ok := strings.CutPrefix(line, name+"{"); ok {
				i := strings.LastIndex(rest, "} ")
				fam[name] = append(fam[name], series{"{" + rest[:i+1], rest[i+2:]})
			}
		}
	}
	if got := fmt.Sprint(fam["planet_upstream"]); !strings.Contains(got, `port="5432"`) || len(fam["planet_upstream"]) != 2 || len(fam["planet_downstream"]) != 1 {
		t.Fatalf("textfile series: %v", fam)
	}
	for name, want := range map[string][]string{"planet_upstream": {"3", "1"}, "planet_downstream": {"40"}} {
		for i, sr := range fam[name] {
			if sr.value != want[i] {
				t.Errorf("%s%s = %s, want the socket count %s", name, sr.labels, sr.value, want[i])
			}
		}
	}

	// promtool evaluates each expression of docs/migrating.md on those series.
	var y strings.Builder
	y.WriteString("rule_files: []\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n")
	for name, ss := range fam {
		for _, sr := range ss {
			fmt.Fprintf(&y, "  - series: '%s%s'\n    values: '%s'\n", name, sr.labels, sr.value)
		}
	}
	y.WriteString("  promql_expr_test:\n")
	for _, e := range exprs[:2] { // one per series, each 1
		name := "planet_upstream"
		if strings.Contains(e, "planet_downstream") {
			name = "planet_downstream"
		}
		fmt.Fprintf(&y, "  - expr: '%s'\n    eval_time: 0m\n    exp_samples:\n", e)
		for _, sr := range fam[name] {
			fmt.Fprintf(&y, "    - labels: '%s'\n      value: 1\n", sr.labels)
		}
	}
	// count by (remote_hostgroup): how many dependencies, 2 to db.
	fmt.Fprintf(&y, "  - expr: '%s'\n    eval_time: 0m\n    exp_samples:\n    - labels: '{remote_hostgroup=\"db\"}'\n      value: 2\n", exprs[2])
	f := filepath.Join(t.TempDir(), "migration_test.yml")
	if err := os.WriteFile(f, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("SUCCESS")) {
		t.Fatalf("promtool test rules: %v\n%s\n%s", err, out, y.String())
	}
}
