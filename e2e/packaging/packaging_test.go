//go:build e2e

// Package packaging holds the tests of what ships in the deb and rpm (the
// files next to this one, .goreleaser.yml's nfpms section) and of the ansible
// example. The files themselves are not Go: the default config, the systemd
// units, sysusers and tmpfiles snippets and the maintainer scripts.
package packaging

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/planetdeps/planet/internal/cli"
	"github.com/planetdeps/planet/internal/testenv"
)

// The facts every packaging file must agree on.
const (
	configPath  = "/etc/planet/planet.yaml"
	textfileDir = "/var/lib/prometheus/node-exporter" // Debian's node_exporter textfile directory
	stateDir    = "/var/lib/planet"
	serviceUser = "planet"
)

// mdweEnv asks TestMain to act as a launcher: refuse W+X memory the way
// systemd's MemoryDenyWriteExecute= does (prctl PR_SET_MDWE, inherited across
// exec) and exec the rest of the command line.
const mdweEnv = "PLANET_TEST_MDWE_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(mdweEnv) == "1" {
		mdweExec(os.Args[1:])
	}
	os.Exit(m.Run())
}

func mdweExec(argv []string) {
	const prSetMDWE, refuseExecGain = 65, 1
	if _, _, errno := syscall.Syscall6(syscall.SYS_PRCTL, prSetMDWE, refuseExecGain, 0, 0, 0, 0); errno != 0 {
		os.Stderr.WriteString("mdwe launcher: prctl(PR_SET_MDWE): " + errno.Error() + "\n")
		os.Exit(3)
	}
	path, err := exec.LookPath(argv[0])
	if err == nil {
		env := slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, mdweEnv+"=") })
		err = syscall.Exec(path, argv, env)
	}
	os.Stderr.WriteString("mdwe launcher: " + err.Error() + "\n")
	os.Exit(4)
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unit is a parsed systemd unit file: section -> key -> values in order
// (a key may repeat; an empty assignment resets it, as in systemd).
type unit map[string]map[string][]string

func parseUnit(t testing.TB, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d: not a key=value in a section: %q", n, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if v == "" {
				u[section][k] = nil
				continue
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) get(section, key string) string { return strings.Join(u[section][key], " ") }

func serviceUnit(t testing.TB) unit {
	return parseUnit(t, readFile(t, filepath.Join(repoRoot(t), "packaging/systemd/planet.service")))
}

// scanCommand returns `planet scan` from the real command tree.
func scanCommand(t testing.TB) (root, scan *cobra.Command) {
	t.Helper()
	root = cli.NewRoot(cli.BuildInfo{}, strings.NewReader(""), io.Discard, io.Discard)
	scan, _, err := root.Find([]string{"scan"})
	if err != nil {
		t.Fatal(err)
	}
	return root, scan
}

// The default config may only hold keys `planet scan` knows, in its scan:
// section, commented-out examples included, or an admin who uncomments one
// gets an error; and planet itself must accept it, as is and with every
// example uncommented.
func TestDefaultConfigKeysAreFlags(t *testing.T) {
	path := filepath.Join(repoRoot(t), "packaging/planet.yaml")
	root, scan := scanCommand(t)
	known := func(key string) bool {
		return scan.LocalNonPersistentFlags().Lookup(key) != nil || root.PersistentFlags().Lookup(key) != nil
	}
	parse := func(doc string) map[string]any {
		t.Helper()
		var top map[string]any
		if err := yaml.Unmarshal([]byte(doc), &top); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for key := range top {
			if key != "scan" {
				t.Errorf("%s: top-level key %q; the default config holds only a scan: section", path, key)
			}
		}
		sec, _ := top["scan"].(map[string]any)
		for key := range sec {
			if !known(key) {
				t.Errorf("%s: key %q is not a planet scan flag", path, key)
			}
		}
		return sec
	}
	accepts := func(doc string) {
		t.Helper()
		cfg := filepath.Join(t.TempDir(), "planet.yaml")
		if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := cli.Main(context.Background(), cli.BuildInfo{}, []string{"--config", cfg, "version"}, nil, &stdout, &stderr); code != 0 {
			t.Errorf("planet refuses the config: exit %d: %s\n%s", code, stderr.String(), doc)
		}
	}

	sec := parse(readFile(t, path))
	if got := sec["textfile-dir"]; got != textfileDir {
		t.Errorf("scan: textfile-dir is %v, want Debian's %s", got, textfileDir)
	}
	accepts(readFile(t, path))

	commented := regexp.MustCompile(`(?m)^(\s*)#([a-z][a-z-]*):\s*(\S*)`)
	matches := commented.FindAllStringSubmatch(readFile(t, path), -1)
	if len(matches) < 5 {
		t.Errorf("only %d commented-out settings: the default config should show the options", len(matches))
	}
	for _, m := range matches {
		if !known(m[2]) {
			t.Errorf("%s: commented-out key %q is not a planet scan flag", path, m[2])
		}
		if m[2] == "config" || m[2] == "output" {
			t.Errorf("%s: %q belongs on the command line, not in the shared config", path, m[2])
		}
	}
	// Uncommented, every example must still be a valid config.
	uncommented := commented.ReplaceAllString(readFile(t, path), "$1$2: $3")
	sec = parse(uncommented)
	if d, err := time.ParseDuration(fmt.Sprint(sec["timeout"])); err != nil || d <= 0 {
		t.Errorf("example timeout %v does not parse as a duration", sec["timeout"])
	}
	accepts(uncommented)
}

// The service, the timer, the sysusers and tmpfiles snippets and the
// maintainer scripts all name the same user, directories and file.
func TestUnitsAgree(t *testing.T) {
	root := repoRoot(t)
	svc := serviceUnit(t)

	argv := strings.Fields(svc.get("Service", "ExecStart"))
	if len(argv) < 2 || argv[0] != "/usr/bin/planet" || argv[1] != "scan" {
		t.Fatalf("ExecStart=%v: want /usr/bin/planet scan ...", argv)
	}
	if !containsSeq(argv, "--config", configPath) {
		t.Errorf("ExecStart=%v does not name %s", argv, configPath)
	}
	// The config decides where the textfile goes, so the unit must not pin it.
	for _, a := range argv {
		if strings.HasPrefix(a, "--textfile-dir") {
			t.Errorf("ExecStart=%v hard-codes --textfile-dir; the config sets it", argv)
		}
	}
	if !containsSeq(argv, "--output", stateDir+"/snapshot.json") {
		t.Errorf("ExecStart=%v does not write the snapshot into %s", argv, stateDir)
	}

	want := map[string]string{
		"Type":                    "oneshot",
		"User":                    serviceUser,
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"ReadWritePaths":          "-" + textfileDir,
		"StateDirectory":          filepath.Base(stateDir),
		"AmbientCapabilities":     "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH",
		"CapabilityBoundingSet":   "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
	}
	for k, v := range want {
		if got := svc.get("Service", k); got != v {
			t.Errorf("planet.service %s=%q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"DynamicUser", "PrivateNetwork", "ProtectProc", "ProcSubset"} {
		if got := svc.get("Service", k); got != "" {
			// PrivateNetwork hides the host's sockets; ProtectProc and
			// ProcSubset hide other processes or /proc/sys; DynamicUser
			// cannot be named in the textfile directory's ACL.
			t.Errorf("planet.service sets %s=%s, which breaks the scan", k, got)
		}
	}

	timer := parseUnit(t, readFile(t, filepath.Join(root, "packaging/systemd/planet.timer")))
	if got := timer.get("Timer", "OnCalendar"); got != "*:0/5" {
		t.Errorf("planet.timer OnCalendar=%q, want every 5 minutes (*:0/5)", got)
	}
	// Coverage with no gaps: every TCP connection that ends on the host
	// falls in some run's window. Each run watches a window of the timer's
	// period and hands the sockets it leaves alive on through the state
	// directory; planet.socket holds the destroy events between runs and
	// is passed to every run (Sockets=), so the next window starts where
	// the last one ended (scan's TestWindowContinues shows the hand-on);
	// systemd's start timeout must not cut the window.
	const period = 5 * time.Minute
	window := time.Duration(0)
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "--window" {
			window, _ = time.ParseDuration(argv[i+1])
		}
	}
	if window != period {
		t.Errorf("ExecStart=%v: --window %v, want the timer's %v, so that windows abut", argv, window, period)
	}
	if !containsSeq(argv, "--state-dir", stateDir) {
		t.Errorf("ExecStart=%v does not keep the window counters and hand-on state in %s", argv, stateDir)
	}
	if d, err := time.ParseDuration(strings.ReplaceAll(svc.get("Service", "TimeoutStartSec"), "min", "m")); err != nil || d <= period {
		t.Errorf("planet.service TimeoutStartSec=%q, want longer than the timer's period", svc.get("Service", "TimeoutStartSec"))
	}
	sock := parseUnit(t, readFile(t, filepath.Join(root, "packaging/systemd/planet.socket")))
	for _, kv := range [][3]string{
		// NETLINK_SOCK_DIAG bound to groups 1 and 3 (mask 5): the IPv4 and
		// IPv6 TCP destroy groups, what sockdiag.Inherited takes.
		{"Socket", "ListenNetlink", "inet-diag 5"},
		{"Socket", "Service", "planet.service"},
		{"Install", "WantedBy", "sockets.target"},
	} {
		if got := sock.get(kv[0], kv[1]); got != kv[2] {
			t.Errorf("planet.socket %s=%q, want %q", kv[1], got, kv[2])
		}
	}
	if got := svc.get("Service", "Sockets"); got != "planet.socket" {
		t.Errorf("planet.service Sockets=%q, want planet.socket: every run, timer-started too, must be handed the held events", got)
	}
	if timer.get("Timer", "RandomizedDelaySec") == "" {
		t.Errorf("planet.timer has no RandomizedDelaySec")
	}
	if got := timer.get("Install", "WantedBy"); got != "timers.target" {
		t.Errorf("planet.timer WantedBy=%q", got)
	}

	sysusers := readFile(t, filepath.Join(root, "packaging/sysusers.conf"))
	if !regexp.MustCompile(`(?m)^u ` + serviceUser + ` - "[^"]+" ` + stateDir + ` `).MatchString(sysusers) {
		t.Errorf("sysusers.conf does not create user %s with home %s:\n%s", serviceUser, stateDir, sysusers)
	}
	tmpfiles := readFile(t, filepath.Join(root, "packaging/tmpfiles.conf"))
	if line := "d " + stateDir + " 0755 " + serviceUser + " " + serviceUser + " -"; !strings.Contains(tmpfiles, line+"\n") {
		t.Errorf("tmpfiles.conf lacks %q", line)
	}
	postinst := readFile(t, filepath.Join(root, "packaging/scripts/postinstall.sh"))
	for _, s := range []string{"textfile_dir=" + textfileDir + "\n", `setfacl -P -m u:` + serviceUser + `:rwx "$textfile_dir"`, "systemctl enable planet.timer planet.socket"} {
		if !strings.Contains(postinst, s) {
			t.Errorf("postinstall.sh lacks %q", s)
		}
	}
	postrm := readFile(t, filepath.Join(root, "packaging/scripts/postremove.sh"))
	if !strings.Contains(postrm, "textfile="+textfileDir+"/planet.prom") {
		t.Errorf("postremove.sh does not remove %s/planet.prom", textfileDir)
	}
}

func containsSeq(s []string, a, b string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == a && s[i+1] == b {
			return true
		}
	}
	return false
}

// The maintainer scripts run under /bin/sh, which is dash on Debian.
func TestScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(repoRoot(t), "packaging/scripts/*.sh"))
	if err != nil || len(scripts) != 3 {
		t.Fatalf("want 3 maintainer scripts, have %v (%v)", scripts, err)
	}
	shells := []string{"sh"}
	if _, err := exec.LookPath("dash"); err == nil {
		shells = append(shells, "dash")
	}
	for _, s := range scripts {
		info, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
		if !strings.HasPrefix(readFile(t, s), "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh", s)
		}
		for _, sh := range shells {
			if out, err := exec.Command(sh, "-n", s).CombinedOutput(); err != nil {
				t.Errorf("%s -n %s: %v\n%s", sh, s, err, out)
			}
		}
	}
}

func TestGoreleaserCheck(t *testing.T) {
	gr := goreleaser(t)
	c := exec.Command(gr, "check")
	c.Dir = repoRoot(t)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
}

// TestNetnsDropIn: the drop-in docs/operations.md gives for watching
// containers' network namespaces (CAP_SYS_ADMIN, RestrictNamespaces=net)
// is one systemd accepts on top of the shipped units, and grants that and
// nothing else: systemd-analyze verify of the units with it says nothing.
// The units' ExecStart runs /bin/true instead of the planet not installed
// here (verify checks that the command exists).
func TestNetnsDropIn(t *testing.T) {
	testenv.NeedCommand(t, "systemd-analyze", "systemd")
	root := repoRoot(t)
	doc := readFile(t, filepath.Join(root, "docs/operations.md"))
	const marker = "# /etc/systemd/system/planet.service.d/netns.conf\n"
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("docs/operations.md has no drop-in starting %q", marker)
	}
	dropIn, _, ok := strings.Cut(doc[i:], "```")
	if !ok {
		t.Fatal("docs/operations.md: the drop-in's code block does not end")
	}
	d := parseUnit(t, dropIn)
	want := map[string]string{"AmbientCapabilities": "CAP_SYS_ADMIN", "CapabilityBoundingSet": "CAP_SYS_ADMIN", "RestrictNamespaces": "net"}
	if len(d["Service"]) != len(want) || len(d) != 1 {
		t.Errorf("drop-in %v: want exactly %v in [Service]", d, want)
	}
	for k, v := range want {
		if got := d.get("Service", k); got != v {
			t.Errorf("drop-in %s=%q, want %q", k, got, v)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"planet.service", "planet.socket", "planet.timer"} {
		text := readFile(t, filepath.Join(root, "packaging/systemd", name))
		text = strings.ReplaceAll(text, "ExecStart=/usr/bin/planet ", "ExecStart=/bin/true ")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "planet.service.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "planet.service.d", "netns.conf"), []byte(dropIn), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", "./planet.service", "./planet.socket", "./planet.timer")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify with the drop-in: %v\n%s", err, out)
	}
}
