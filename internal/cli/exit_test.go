package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/promsrc"
)

// TestUsageErrorsExit2: every way to ask planet for something it cannot do
// exits ExitUsage (2), found before any input is read (the paths here do
// not exist), with a message naming the fault; a failure that is not the
// command line's exits ExitError (1), and with diff --exit-code, where 1
// means "changes", any trouble exits 2.
func TestUsageErrorsExit2(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "planet.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.json")
	badKey := filepath.Join(t.TempDir(), "planet.yaml")
	if err := os.WriteFile(badKey, []byte("inventroy: http://x/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string // substring of stderr
	}{
		{"unknown command", []string{"bogus"}, ExitUsage, `unknown command "bogus"`},
		{"unknown command, suggestion", []string{"scna"}, ExitUsage, "Did you mean this?"},
		{"unknown flag", []string{"scan", "--bogus"}, ExitUsage, "unknown flag: --bogus"},
		{"bad flag value", []string{"render", "--depth", "x"}, ExitUsage, `invalid argument "x"`},
		{"bad log level", []string{"--log-level", "loud", "version"}, ExitUsage, "--log-level"},
		{"bad log format", []string{"--log-format", "xml", "version"}, ExitUsage, `--log-format "xml": want text or json`},
		{"legacy flag without value", []string{"scan", "-task-inventory-addr"}, ExitUsage, "needs a value"},
		{"legacy flag, bad boolean", []string{"scan", "-task-darkstat-enabled=maybe"}, ExitUsage, `"maybe" is not a boolean`},
		{"config: unknown key", []string{"--config", badKey, "version"}, ExitUsage, `unknown key "inventroy"`},

		{"scan: an argument", []string{"scan", "extra"}, ExitUsage, `unknown command "extra" for "planet scan"`},
		{"scan: bad format", []string{"scan", "--format", "yaml"}, ExitUsage, `--format "yaml": want json or table`},
		{"scan: bad inventory format", []string{"scan", "--inventory-format", "yaml"}, ExitUsage, `--inventory-format: unknown inventory format "yaml"`},
		{"scan: negative timeout", []string{"scan", "--timeout", "-1s"}, ExitUsage, "--timeout -1s: want a duration"},
		{"scan: -o textfile", []string{"scan", "-o", "x.prom"}, ExitUsage, "--textfile-dir DIR writes"},
		{"scan: extension against format", []string{"scan", "-o", "x.txt", "--format", "json"}, ExitUsage, "the extension .txt means --format table, not json"},

		{"merge: no paths", []string{"merge"}, ExitUsage, "requires at least 1 arg(s)"},
		{"merge: paths with --prometheus", []string{"merge", "--prometheus", "http://127.0.0.1:1", missing}, ExitUsage, "--prometheus takes no PATH"},
		{"merge: --keep-going with --prometheus", []string{"merge", "--prometheus", "http://127.0.0.1:1", "--keep-going"}, ExitUsage, "--keep-going applies to snapshot files"},
		{"merge: bad --time", []string{"merge", "--prometheus", "http://127.0.0.1:1", "--time", "soon"}, ExitUsage, "--time:"},
		{"merge: bad --by", []string{"merge", "--by", "rack", missing}, ExitUsage, `"rack"`},
		{"merge: -o picture", []string{"merge", "-o", "g.svg", missing}, ExitUsage, "planet render -f svg -o FILE"},
		{"merge: negative max-age", []string{"merge", "--max-age", "-1h", missing}, ExitUsage, "--max-age -1h0m0s"},

		{"diff: one argument", []string{"diff", missing}, ExitUsage, "accepts 2 arg(s), received 1"},
		{"diff --exit-code: one argument", []string{"diff", "--exit-code", missing}, ExitUsage, "accepts 2 arg(s), received 1"},
		{"diff: three arguments", []string{"diff", missing, missing, missing}, ExitUsage, "accepts 2 arg(s), received 3"},
		{"diff: bad format", []string{"diff", "--format", "yaml", missing, missing}, ExitUsage, `--format "yaml": want text, json or markdown`},
		{"diff: unknown extension", []string{"diff", "-o", "d.svg", missing, missing}, ExitUsage, "no format is known for the extension .svg"},
		{"diff: negative percent", []string{"diff", "--bytes-change", "-5", missing, missing}, ExitUsage, "--bytes-change -5: want a positive percentage"},

		{"render: two arguments", []string{"render", missing, missing}, ExitUsage, "accepts at most 1 arg(s), received 2"},
		{"render: bad format", []string{"render", "-f", "png", missing}, ExitUsage, `--format "png": want one of textfile, dot, svg, mermaid, json, table`},
		{"render: unknown extension", []string{"render", "-o", "g.png", missing}, ExitUsage, "no format is known for the extension .png"},
		{"render: extension against format", []string{"render", "-f", "table", "-o", "g.svg", missing}, ExitUsage, "the extension .svg means --format svg, not table"},
		{"render: --depth without --focus", []string{"render", "--depth", "2", missing}, ExitUsage, "--depth needs --focus NODE"},
		{"render: negative depth", []string{"render", "--focus", "db", "--depth", "-1", missing}, ExitUsage, "--depth -1: must be 0 (no limit) or more"},
		{"render: bad port", []string{"render", "--exclude-port", "ssh", missing}, ExitUsage, `--exclude-port "ssh": want port numbers`},
		{"render: --diff with json", []string{"render", "-f", "json", "--diff", missing, missing}, ExitUsage, "--diff highlights changes in a picture"},
		{"render: filter with textfile", []string{"render", "-f", "textfile", "--hide-external", missing}, ExitUsage, "--focus, --hide-external and --exclude-port apply to graph formats"},
		{"render: negative svg timeout", []string{"render", "--svg-timeout", "-1s", missing}, ExitUsage, "--svg-timeout -1s: want a duration"},

		{"version: an argument", []string{"version", "extra"}, ExitUsage, `unknown command "extra" for "planet version"`},

		// Not usage errors: the input is missing.
		{"render: missing input", []string{"render", missing}, ExitError, "missing.json"},
		{"diff: missing input", []string{"diff", missing, missing}, ExitError, "missing.json"},
		{"diff --exit-code: missing input", []string{"diff", "--exit-code", missing, missing}, ExitUsage, "missing.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"--config", empty}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Errorf("planet %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.msg)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// TestScanWindowOnProc: a window asked of /proc/net, which cannot give one,
// is refused with the flag that gets past it.
func TestScanWindowOnProc(t *testing.T) {
	code, _, stderr := run(t, "--config", "", "scan", "--socket-source", "proc", "--window", "1s", "-o", os.DevNull)
	if code != ExitError || !strings.Contains(stderr, "/proc/net has neither") || !strings.Contains(stderr, "use --socket-source auto or netlink on the live /proc") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming --socket-source", code, stderr)
	}
}

// TestPromsrcFlags: every setting promsrc names in its errors has a merge
// flag, and merge --prometheus's errors name the flags.
func TestPromsrcFlags(t *testing.T) {
	root := NewRoot(BuildInfo{}, nil, nil, nil)
	merge, _, err := root.Find([]string{"merge"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []promsrc.Setting{promsrc.SettingURL, promsrc.SettingSelector, promsrc.SettingBearerTokenFile,
		promsrc.SettingTimeout, promsrc.SettingMaxSeries, promsrc.SettingMaxQueries, promsrc.SettingDeadline} {
		flag := promsrcFlag(s)
		if !strings.HasPrefix(flag, "--") || merge.Flags().Lookup(flag[2:]) == nil {
			t.Errorf("promsrc setting %s: %q is no flag of planet merge", s, flag)
		}
	}
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--prometheus", "ftp://x"}, `--prometheus "ftp://x": want an http:// or https:// URL`},
		{[]string{"--prometheus", "http://127.0.0.1:1", "--selector", "job=x"}, `--selector "job=x": want label matchers in braces`},
		{[]string{"--prometheus", "http://127.0.0.1:1", "--bearer-token-file", filepath.Join(t.TempDir(), "none")}, "--bearer-token-file: "},
	} {
		code, _, stderr := run(t, append([]string{"--config", "", "merge"}, tt.args...)...)
		if code != ExitError || !strings.Contains(stderr, tt.msg) {
			t.Errorf("merge %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(tt.args, " "), code, stderr, tt.msg)
		}
	}
}
