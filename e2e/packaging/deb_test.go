//go:build e2e

package packaging

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/internal/cli"
	"github.com/planetdeps/planet/internal/testenv"
)

// goreleaserModule is the goreleaser scripts/test.sh installs before the
// suite runs (the tests never install it themselves).
const goreleaserModule = "github.com/goreleaser/goreleaser/v2@v2.15.1"

// goreleaser finds goreleaser in PATH or in the Go bin directory; without
// it the test is unavailable (it skips, or fails under PLANET_TEST_STRICT):
// a test writes nothing outside the repository and the temp dir, so it
// does not install it.
func goreleaser(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("goreleaser"); err == nil {
		return p
	}
	gobin := goEnv("GOBIN")
	if gobin == "" {
		gobin = filepath.Join(goEnv("GOPATH"), "bin")
	}
	p := filepath.Join(gobin, "goreleaser")
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, "goreleaser is not installed (go install %s): %v", goreleaserModule, err)
	}
	return p
}

func goEnv(key string) string {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// run runs a command and fails t with its output when it fails.
func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cleanClone copies the working tree's files (tracked and untracked, not
// ignored: what a commit of this tree would hold) into a fresh repository,
// so the build sees no generated leftovers, as in a clean clone.
func cleanClone(t *testing.T) string {
	src := repoRoot(t)
	dst := t.TempDir()
	list := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	list.Dir = src
	out, err := list.Output()
	if err != nil {
		testenv.Unavailable(t, "git ls-files in %s: %v (needs git and the repository)", src, err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if err := copyEntry(filepath.Join(src, rel), filepath.Join(dst, rel)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted in the working tree
			}
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		run(t, dst, "git", append([]string{"-c", "user.name=planet test", "-c", "user.email=test@planet.invalid"}, args...)...)
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "--no-gpg-sign", "-m", "clean clone for the package build")
	// goreleaser reads the remote's URL; a real clone has one.
	git("remote", "add", "origin", "https://github.com/planetdeps/planet.git")
	return dst
}

func copyEntry(src, dst string) error {
	info, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, info.Mode().Perm())
}

// testConfig derives the package build the test needs from the real config:
// linux/amd64 only, which halves a cold build. It fails loudly if the config
// no longer has the shape this edit expects.
func testConfig(t *testing.T, clone string) string {
	real := readFile(t, filepath.Join(clone, ".goreleaser.yml"))
	const arches = "    goarch:\n      - amd64\n      - arm64\n"
	if n := strings.Count(real, "    goarch:\n"); n == 0 || strings.Count(real, arches) != n {
		t.Fatalf(".goreleaser.yml's builds no longer all list goarch amd64, arm64 as this test expects; update testConfig")
	}
	path := filepath.Join(clone, ".goreleaser.test.yml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(real, arches, "    goarch:\n      - amd64\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// expectedFiles is every regular file the package must install.
func expectedFiles() []string {
	files := []string{
		"/usr/bin/planet",
		"/usr/bin/planet-svg",
		configPath,
		"/usr/lib/systemd/system/planet.service",
		"/usr/lib/systemd/system/planet.timer",
		"/usr/lib/systemd/system/planet.socket",
		"/usr/lib/sysusers.d/planet.conf",
		"/usr/lib/tmpfiles.d/planet.conf",
		"/usr/share/bash-completion/completions/planet",
		"/usr/share/zsh/vendor-completions/_planet",
		"/usr/share/fish/vendor_completions.d/planet.fish",
		"/usr/share/man/man1/planet-svg.1.gz",
		"/usr/share/doc/planet/copyright",
		"/usr/share/doc/planet/LICENSE",
		"/usr/share/doc/planet/NOTICE",
		"/usr/share/doc/planet/THIRD_PARTY_NOTICES",
	}
	root := cli.NewRoot(cli.BuildInfo{}, strings.NewReader(""), io.Discard, io.Discard)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		files = append(files, "/usr/share/man/man1/"+strings.ReplaceAll(c.CommandPath(), " ", "-")+".1.gz")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				walk(sub)
			}
		}
	}
	walk(root)
	sort.Strings(files)
	return files
}

// debFiles lists the regular files in a .deb (dpkg-deb -c).
func debFiles(t *testing.T, deb string) []string {
	var files []string
	for _, line := range strings.Split(run(t, "", "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		files = append(files, strings.TrimPrefix(f[5], "."))
	}
	sort.Strings(files)
	return files
}

// overstrike matches man's bold and underline without a terminal (c BS c).
var overstrike = regexp.MustCompile(".\x08")

func installed(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", pkg).Output()
	return err == nil && strings.TrimSpace(string(out)) != "not-installed" && len(out) > 0
}

// TestDebPackage builds the deb from a clean copy of this tree with
// goreleaser, installs it, checks what landed where, runs the unit's command
// line (as root, and as the unit's user with only the unit's capabilities),
// then removes and purges it. It leaves the machine as it found it.
func TestDebPackage(t *testing.T) {
	testenv.NeedRoot(t)
	// setfacl: the package depends on acl, and dpkg -i installs no dependencies.
	for _, c := range []struct{ cmd, pkg string }{{"dpkg", "dpkg"}, {"dpkg-deb", "dpkg"}, {"git", "git"}, {"setpriv", "util-linux"}, {"setfacl", "acl"}, {"man", "man-db"}} {
		testenv.NeedCommand(t, c.cmd, c.pkg)
	}
	if installed("planet") {
		t.Fatalf("a planet package is already installed here; this test installs and purges its own, so remove it first (dpkg --purge planet)")
	}
	gr := goreleaser(t)

	clone := cleanClone(t)
	config := testConfig(t, clone)
	start := time.Now()
	build := exec.Command(gr, "release", "--snapshot", "--clean", "--skip=publish", "--config", config)
	build.Dir = clone
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, out)
	}
	t.Logf("goreleaser built the linux/amd64 tarball, deb and rpm in %v", time.Since(start).Round(time.Second))
	debs, _ := filepath.Glob(filepath.Join(clone, "dist", "planet_*_amd64.deb"))
	rpms, _ := filepath.Glob(filepath.Join(clone, "dist", "planet-*.x86_64.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("want one amd64 deb and one x86_64 rpm in dist/, have %v %v", debs, rpms)
	}
	deb := debs[0]

	// The tarball: the binaries with the license and notices beside them.
	tars, _ := filepath.Glob(filepath.Join(clone, "dist", "planet_*_linux_amd64.tar.gz"))
	if len(tars) != 1 {
		t.Fatalf("want one linux/amd64 tarball in dist/, have %v", tars)
	}
	var tarList []string
	for _, name := range strings.Fields(run(t, "", "tar", "-tzf", tars[0])) {
		if !strings.HasSuffix(name, "/") {
			tarList = append(tarList, name)
		}
	}
	sort.Strings(tarList)
	// The README and the docs/ it links to, picture included.
	wantTar := []string{"LICENSE", "NOTICE", "README.md", "THIRD_PARTY_NOTICES", "planet", "planet-svg"}
	docs, _ := filepath.Glob(filepath.Join(clone, "docs", "*"))
	if len(docs) == 0 {
		t.Fatal("no docs/ in the clone")
	}
	for _, d := range docs {
		wantTar = append(wantTar, "docs/"+filepath.Base(d))
	}
	sort.Strings(wantTar)
	if want := wantTar; !slices.Equal(tarList, want) {
		t.Errorf("tarball holds %v, want %v", tarList, want)
	}

	// What the package holds, before installing it.
	want := expectedFiles()
	if got := debFiles(t, deb); !slices.Equal(got, want) {
		t.Errorf("deb files:\n got %v\nwant %v", got, want)
	}
	if got := strings.TrimSpace(run(t, "", "dpkg-deb", "-I", deb, "conffiles")); got != configPath {
		t.Errorf("conffiles = %q, want %s (type config|noreplace)", got, configPath)
	}
	if got := strings.TrimSpace(run(t, "", "dpkg-deb", "-f", deb, "License")); got != "Apache-2.0" {
		t.Errorf("deb License field = %q, want Apache-2.0", got)
	}
	if info := run(t, "", "dpkg", "-I", deb); !strings.Contains(info, " License: Apache-2.0\n") {
		t.Errorf("dpkg -I shows no License: Apache-2.0:\n%s", info)
	}
	t.Run("rpm", func(t *testing.T) { checkRPM(t, rpms[0], want) })

	restore := saveHostState(t)
	t.Cleanup(func() {
		if installed("planet") {
			if out, err := exec.Command("dpkg", "--purge", "planet").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge planet: %v\n%s", err, out)
			}
		}
		restore()
	})

	t.Log(run(t, "", "dpkg", "-i", deb))

	// Every file where docs/operations.md says, with its mode.
	for _, f := range want {
		info, err := os.Stat(f)
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		wantMode := fs.FileMode(0o644)
		if strings.HasPrefix(f, "/usr/bin/") {
			wantMode = 0o755
		}
		if info.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", f, info.Mode().Perm(), wantMode)
		}
	}
	checkStatic(t, "/usr/bin/planet")
	checkStatic(t, "/usr/bin/planet-svg")
	if out := run(t, "", "/usr/bin/planet", "version"); strings.Contains(out, "dev") {
		t.Errorf("planet version = %q: the release build's version was not stamped", out)
	}

	// postinst: the user, the state directory, the ACL, the enabled timer.
	u, err := user.Lookup(serviceUser)
	if err != nil {
		t.Fatalf("postinst made no %s user: %v", serviceUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if u.HomeDir != stateDir {
		t.Errorf("user %s home %s, want %s", serviceUser, u.HomeDir, stateDir)
	}
	if info, err := os.Stat(stateDir); err != nil {
		t.Errorf("state dir: %v", err)
	} else if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("%s owned by uid %d, want %s (%d)", stateDir, st.Uid, serviceUser, uid)
	}
	if !aclGrantsUser(t, textfileDir, uid) {
		t.Errorf("%s has no ACL entry letting %s (uid %d) write", textfileDir, serviceUser, uid)
	}
	for _, link := range []string{"/etc/systemd/system/timers.target.wants/planet.timer", "/etc/systemd/system/sockets.target.wants/planet.socket"} {
		if target, err := os.Readlink(link); err != nil {
			t.Errorf("%s not enabled: %v", filepath.Base(link), err)
		} else {
			t.Logf("%s enabled: -> %s", filepath.Base(link), target)
		}
	}

	// Man pages (every installed binary has one) and completions are found
	// the way users find them.
	for _, page := range []string{"planet-scan", "planet-svg"} {
		if got, want := strings.TrimSpace(run(t, "", "man", "-w", page)), "/usr/share/man/man1/"+page+".1.gz"; got != want {
			t.Errorf("man -w %s = %q, want %s", page, got, want)
		}
	}
	manSVG := exec.Command("man", "-P", "cat", "planet-svg")
	manSVG.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
	if out, err := manSVG.Output(); err != nil {
		t.Errorf("man planet-svg: %v", err)
	} else if plain := strings.Join(strings.Fields(overstrike.ReplaceAllString(string(out), "")), " "); !strings.Contains(plain, "planet-svg reads a Graphviz DOT graph on standard input") {
		t.Errorf("man planet-svg does not show planet-svg(1):\n%s", plain)
	}

	// The license where Debian looks for it.
	for _, f := range []struct{ installed, repo string }{
		{"/usr/share/doc/planet/LICENSE", "LICENSE"},
		{"/usr/share/doc/planet/NOTICE", "NOTICE"},
		{"/usr/share/doc/planet/copyright", "packaging/copyright"},
	} {
		if readFile(t, f.installed) != readFile(t, filepath.Join(repoRoot(t), f.repo)) {
			t.Errorf("%s is not the repository's %s", f.installed, f.repo)
		}
	}
	if text := readFile(t, "/usr/share/doc/planet/THIRD_PARTY_NOTICES"); !strings.Contains(text, "github.com/goccy/go-graphviz") {
		t.Errorf("THIRD_PARTY_NOTICES does not list go-graphviz:\n%.500s", text)
	}

	if out := run(t, "", "bash", "-c", "source /usr/share/bash-completion/completions/planet && complete -p planet"); !strings.Contains(out, "planet") {
		t.Errorf("bash completion registers nothing for planet: %q", out)
	}

	verifyUnits(t)

	// A root-owned server (this test process) for the scans to find.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	comm := strings.TrimSpace(readFile(t, "/proc/self/comm"))

	// The unit's command line, by hand, as root: planet.prom lands in the
	// config's textfile directory, the snapshot in the state directory.
	svc := parseUnit(t, readFile(t, "/usr/lib/systemd/system/planet.service"))
	argv := strings.Fields(svc.get("Service", "ExecStart"))
	// The unit watches a window of nearly the timer's period; by hand, a
	// second is enough.
	for i := range argv {
		if argv[i] == "--window" && i+1 < len(argv) {
			argv[i+1] = "1s"
		}
	}
	prom := filepath.Join(textfileDir, "planet.prom")
	os.Remove(prom)
	run(t, "/", argv[0], argv[1:]...)
	checkTextfile(t, prom, 0)
	checkSnapshotFile(t, filepath.Join(stateDir, "snapshot.json"))
	if !ownsPort(t, filepath.Join(stateDir, "snapshot.json"), port, comm) {
		t.Errorf("as root the scan did not name process %q on port %d", comm, port)
	}

	// The same command line the way the unit runs it: as user planet with
	// only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (ambient and bounding),
	// no_new_privs, and memory that may never become executable
	// (MemoryDenyWriteExecute). A socket of this root-owned test process
	// must still get its process name, and planet.prom must be replaced
	// through the directory's ACL.

	caps := "+sys_ptrace,+dac_read_search"
	asUnit := func(withCaps bool, out string) (string, error) {
		args := []string{"setpriv", "--reuid", u.Uid, "--regid", u.Gid, "--init-groups", "--no-new-privs"}
		if withCaps {
			args = append(args, "--inh-caps", caps, "--ambient-caps", caps, "--bounding-set", "-all,"+caps)
		} else {
			args = append(args, "--inh-caps", "-all", "--bounding-set", "-all")
		}
		args = append(args, argv[0])
		args = append(args, slices.Clone(argv[1:])...)
		if out != "" {
			for i := range args {
				if args[i] == "--output" && i+1 < len(args) {
					args[i+1] = out
				}
			}
		}
		c := exec.Command(os.Args[0], args...)
		c.Dir = "/"
		c.Env = append(os.Environ(), mdweEnv+"=1")
		b, err := c.CombinedOutput()
		return string(b), err
	}
	if out, err := asUnit(true, ""); err != nil {
		if strings.Contains(out, "prctl(PR_SET_MDWE)") {
			t.Fatalf("this kernel has no PR_SET_MDWE (Linux 6.3+): %s", out)
		}
		t.Fatalf("planet scan as the unit runs it (user %s, two capabilities, no_new_privs, MDWE): %v\n%s", serviceUser, err, out)
	}
	checkTextfile(t, prom, uid)
	if !ownsPort(t, filepath.Join(stateDir, "snapshot.json"), port, comm) {
		t.Errorf("as %s with CAP_SYS_PTRACE+CAP_DAC_READ_SEARCH the scan did not name process %q on port %d", serviceUser, comm, port)
	}
	// The same two capabilities read the connection-tracking table (the
	// /proc file: ctnetlink would need CAP_NET_ADMIN), where the host has one.
	hasTable := false
	if _, err := os.Stat("/proc/net/nf_conntrack"); err == nil {
		hasTable = true
		ct := readSnapshot(t, filepath.Join(stateDir, "snapshot.json")).Conntrack
		if ct == nil || ct.Source != "/proc/net/nf_conntrack" {
			t.Errorf("as %s the scan did not read the connection-tracking table: %+v", serviceUser, ct)
		}
	}
	// The control: without the capabilities the same socket has no owner,
	// so the capabilities are what made the difference above.
	noCaps := filepath.Join(stateDir, "nocaps.json")
	if out, err := asUnit(false, noCaps); err != nil {
		t.Fatalf("planet scan as %s without capabilities: %v\n%s", serviceUser, err, out)
	}
	if ownsPort(t, noCaps, port, comm) {
		t.Errorf("as %s without capabilities the scan still named root's process: the capability check above proves nothing", serviceUser)
	}
	for _, src := range readSnapshot(t, noCaps).Sources {
		if src.Name == "conntrack" && hasTable && src.OK {
			t.Errorf("as %s without capabilities the scan still read the connection-tracking table", serviceUser)
		}
	}

	// dpkg -r: the program, units, man pages, completions and planet.prom
	// go; the config stays (a conffile) until purge.
	t.Log(run(t, "", "dpkg", "-r", "planet"))
	for _, f := range want {
		_, err := os.Stat(f)
		if f == configPath {
			if err != nil {
				t.Errorf("dpkg -r removed the conffile %s (only purge should)", f)
			}
			continue
		}
		if err == nil {
			t.Errorf("dpkg -r left %s", f)
		}
	}
	for _, f := range []string{prom, "/etc/systemd/system/timers.target.wants/planet.timer", "/etc/systemd/system/sockets.target.wants/planet.socket"} {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("dpkg -r left %s", f)
		}
	}
	t.Log(run(t, "", "dpkg", "--purge", "planet"))
	for _, f := range []string{configPath, filepath.Dir(configPath), stateDir} {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("dpkg --purge left %s", f)
		}
	}
	if installed("planet") {
		t.Errorf("dpkg still lists planet after --purge")
	}
	if aclGrantsUser(t, textfileDir, uid) {
		t.Errorf("dpkg --purge left user %s's ACL entry on %s", serviceUser, textfileDir)
	}
}

// saveHostState records what installing the package changes outside its own
// files, and returns the function that puts it back: the planet user (kept by
// purge, as Debian does with system users), the textfile directory and its
// ACL, and a planet.prom that was there before.
func saveHostState(t *testing.T) (restore func()) {
	_, userErr := user.Lookup(serviceUser)
	hadUser := userErr == nil
	_, dirErr := os.Stat(textfileDir)
	hadDir := dirErr == nil
	_, parentErr := os.Stat(filepath.Dir(textfileDir))
	hadParent := parentErr == nil
	acl, aclErr := getxattr(textfileDir, "system.posix_acl_access")
	prom := filepath.Join(textfileDir, "planet.prom")
	oldProm, promErr := os.ReadFile(prom)
	return func() {
		if !hadUser {
			if out, err := exec.Command("userdel", serviceUser).CombinedOutput(); err != nil {
				t.Errorf("cleanup: userdel %s: %v\n%s", serviceUser, err, out)
			}
			exec.Command("groupdel", serviceUser).Run() // gone with the user where USERGROUPS_ENAB
		}
		switch {
		case !hadDir:
			os.Remove(textfileDir)
			if !hadParent {
				os.Remove(filepath.Dir(textfileDir))
			}
		case aclErr == nil:
			syscall.Setxattr(textfileDir, "system.posix_acl_access", acl, 0)
		default:
			syscall.Removexattr(textfileDir, "system.posix_acl_access")
		}
		if promErr == nil {
			os.WriteFile(prom, oldProm, 0o644)
		}
	}
}

func getxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(path, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// aclGrantsUser reads the directory's POSIX access ACL (the kernel's xattr
// format: a 4-byte version, then 8-byte entries of tag, perm, id) and reports
// whether uid has its own rwx entry and the mask lets it through.
func aclGrantsUser(t *testing.T, dir string, uid int) bool {
	b, err := getxattr(dir, "system.posix_acl_access")
	if err != nil {
		t.Logf("%s: no access ACL: %v", dir, err)
		return false
	}
	const tagUser, tagMask = 0x02, 0x10
	user, mask := false, fs.FileMode(7)
	for off := 4; off+8 <= len(b); off += 8 {
		tag := binary.LittleEndian.Uint16(b[off:])
		perm := fs.FileMode(binary.LittleEndian.Uint16(b[off+2:]))
		id := binary.LittleEndian.Uint32(b[off+4:])
		switch {
		case tag == tagUser && int(id) == uid:
			user = perm&7 == 7
		case tag == tagMask:
			mask = perm & 7
		}
	}
	return user && mask&3 == 3 // write and execute: create and rename entries
}

func checkStatic(t *testing.T, path string) {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has PT_INTERP); want static (CGO_ENABLED=0)", path)
		}
	}
}

// verifyUnits runs systemd-analyze on the installed units where it exists.
func verifyUnits(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not found: skipping systemd-analyze verify of the units")
		return
	}
	units := []string{"/usr/lib/systemd/system/planet.service", "/usr/lib/systemd/system/planet.timer", "/usr/lib/systemd/system/planet.socket"}
	out, err := exec.Command(sa, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score of the sandbox, for the log (systemd 250+).
	if out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", units[0]).CombinedOutput(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("systemd-analyze security: %s", lines[len(lines)-1])
	} else {
		t.Logf("systemd-analyze security --offline: %v (older systemd?)", err)
	}
}

// checkTextfile wants a complete textfile with planet's families, owned by
// uid (the last writer).
func checkTextfile(t *testing.T, path string, uid int) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the unit's command wrote no textfile: %v", err)
	}
	if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("%s owned by uid %d, want %d", path, st.Uid, uid)
	}
	if info.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("%s mode %v: node_exporter (its own user) cannot read it", path, info.Mode().Perm())
	}
	text := readFile(t, path)
	for _, family := range []string{"planet_server_process", "planet_scan_success"} {
		if !strings.Contains(text, "# TYPE "+family+" ") {
			t.Errorf("%s has no %s family:\n%.400s", path, family, text)
		}
	}
}

type snapshotDoc struct {
	Schema    string `json:"schema"`
	Listeners []struct {
		Port    int    `json:"port"`
		Process string `json:"process"`
	} `json:"listeners"`
	Sources []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	} `json:"sources"`
	Conntrack *struct {
		Source string `json:"source"`
	} `json:"conntrack"`
}

func readSnapshot(t *testing.T, path string) snapshotDoc {
	t.Helper()
	var s snapshotDoc
	if err := json.Unmarshal([]byte(readFile(t, path)), &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func checkSnapshotFile(t *testing.T, path string) {
	t.Helper()
	if s := readSnapshot(t, path); s.Schema != "planet.snapshot/v2" {
		t.Errorf("%s: schema %q", path, s.Schema)
	}
}

// ownsPort reports whether the snapshot names process comm as the listener
// on port.
func ownsPort(t *testing.T, path string, port int, comm string) bool {
	for _, l := range readSnapshot(t, path).Listeners {
		if l.Port == port {
			return l.Process == comm
		}
	}
	t.Errorf("%s: no listener on port %d at all", path, port)
	return false
}
