//go:build e2e

package packaging

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// licenseFiles are the files the rpm marks %license (rpm -qL lists them;
// --excludedocs keeps them).
var licenseFiles = []string{
	"/usr/share/doc/planet/LICENSE",
	"/usr/share/doc/planet/NOTICE",
	"/usr/share/doc/planet/THIRD_PARTY_NOTICES",
}

// rpmQuery runs rpm -qp with a query format on the package.
func rpmQuery(t *testing.T, rpm, format string) string {
	t.Helper()
	return run(t, "", "rpm", "-qp", "--qf", format, rpm)
}

// checkRPM inspects the rpm built next to the deb the way TestDebPackage
// inspects the deb: its header, files and their modes and flags, scripts,
// dependencies and config files; then installs it into a scratch root
// (rpm --root DIR -i --nodeps --noscripts: the root has no shell for the
// scripts, which the deb's install runs for real), verifies it, and erases
// it again. want is every regular file the package must hold.
func checkRPM(t *testing.T, rpm string, want []string) {
	testenv.NeedCommand(t, "rpm", "rpm")
	root := repoRoot(t)

	if got := rpmQuery(t, rpm, "%{NAME} %{LICENSE}"); got != "planet Apache-2.0" {
		t.Errorf("rpm name and license = %q, want planet Apache-2.0", got)
	}
	if info := run(t, "", "rpm", "-qip", rpm); !strings.Contains(info, "License     : Apache-2.0") {
		t.Errorf("rpm -qip shows no License: Apache-2.0:\n%s", info)
	}

	// Files: regular ones exactly as the deb's, modes, owners and flags.
	type entry struct{ perms, flags, owner string }
	files := map[string]entry{}
	var regular []string
	for _, line := range strings.Split(strings.TrimSpace(rpmQuery(t, rpm, "[%{FILEMODES:perms}\t%{FILEFLAGS:fflags}\t%{FILEUSERNAME}:%{FILEGROUPNAME}\t%{FILENAMES}\n]")), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("rpm file list line %q", line)
		}
		files[f[3]] = entry{f[0], f[1], f[2]}
		if strings.HasPrefix(f[0], "-") {
			regular = append(regular, f[3])
		}
	}
	sort.Strings(regular)
	if !slices.Equal(regular, want) {
		t.Errorf("rpm files:\n got %v\nwant %v", regular, want)
	}
	for _, f := range want {
		e := files[f]
		wantPerms := "-rw-r--r--"
		if strings.HasPrefix(f, "/usr/bin/") {
			wantPerms = "-rwxr-xr-x"
		}
		if e.perms != wantPerms || e.owner != "root:root" {
			t.Errorf("rpm %s: %s %s, want %s root:root", f, e.perms, e.owner, wantPerms)
		}
		wantFlags := ""
		switch {
		case f == configPath:
			wantFlags = "cn" // %config(noreplace)
		case slices.Contains(licenseFiles, f):
			wantFlags = "l" // %license
		}
		if e.flags != wantFlags {
			t.Errorf("rpm %s: flags %q, want %q", f, e.flags, wantFlags)
		}
	}
	if got := strings.TrimSpace(run(t, "", "rpm", "-qpc", rpm)); got != configPath {
		t.Errorf("rpm -qpc (config files) = %q, want %s", got, configPath)
	}
	if got := strings.Fields(run(t, "", "rpm", "-qpL", rpm)); !slices.Equal(got, licenseFiles) {
		t.Errorf("rpm -qpL (license files) = %v, want %v", got, licenseFiles)
	}

	// Dependencies: acl (the postinst's setfacl), nothing else but rpm's own.
	var deps []string
	for _, d := range strings.Split(strings.TrimSpace(run(t, "", "rpm", "-qpR", rpm)), "\n") {
		if d = strings.TrimSpace(d); d != "" && !strings.HasPrefix(d, "rpmlib(") && d != "/bin/sh" {
			deps = append(deps, d)
		}
	}
	if !slices.Equal(deps, []string{"acl"}) {
		t.Errorf("rpm -qpR = %v, want acl (and rpm's own)", deps)
	}

	// Scripts: the same files as the deb's, byte for byte, run by /bin/sh;
	// no pre-install script.
	for _, s := range []struct{ tag, file string }{
		{"POSTIN", "postinstall.sh"}, {"PREUN", "preremove.sh"}, {"POSTUN", "postremove.sh"}, {"PREIN", ""},
	} {
		body := rpmQuery(t, rpm, "%{"+s.tag+"}")
		prog := rpmQuery(t, rpm, "%{"+s.tag+"PROG}")
		if s.file == "" {
			if body != "(none)" {
				t.Errorf("rpm has a %s script:\n%s", s.tag, body)
			}
			continue
		}
		want := readFile(t, filepath.Join(root, "packaging", "scripts", s.file))
		if strings.TrimSpace(body) != strings.TrimSpace(want) {
			t.Errorf("rpm %s script is not packaging/scripts/%s:\n%s", s.tag, s.file, body)
		}
		if prog != "/bin/sh" {
			t.Errorf("rpm %s script runs with %q, want /bin/sh", s.tag, prog)
		}
	}
	if out := run(t, "", "rpm", "-qp", "--scripts", rpm); !strings.Contains(out, "postinstall scriptlet (using /bin/sh)") {
		t.Errorf("rpm -qp --scripts:\n%s", out)
	}

	// Install into a scratch root, with an explicit database inside it
	// (Debian's rpm otherwise keeps it in ~/.rpmdb).
	dir := t.TempDir()
	rpmIn := func(args ...string) string {
		t.Helper()
		return run(t, "", "rpm", append([]string{"--root", dir, "--dbpath", "/var/lib/rpm"}, args...)...)
	}
	rpmIn("-i", "--nodeps", "--noscripts", rpm)
	var got []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(path, dir+"/")
		if d.IsDir() && rel == "/var/lib/rpm" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("rpm --root installed:\n got %v\nwant %v", got, want)
	}
	for _, f := range want {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			continue // reported above
		}
		wantMode := fs.FileMode(0o644)
		if strings.HasPrefix(f, "/usr/bin/") {
			wantMode = 0o755
		}
		if info.Mode().Perm() != wantMode {
			t.Errorf("rpm --root: %s mode %v, want %v", f, info.Mode().Perm(), wantMode)
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("rpm --root: %s owned by %d:%d, want root", f, st.Uid, st.Gid)
		}
	}
	for _, f := range []string{"LICENSE", "NOTICE"} {
		if readFile(t, filepath.Join(dir, "usr/share/doc/planet", f)) != readFile(t, filepath.Join(root, f)) {
			t.Errorf("rpm's /usr/share/doc/planet/%s is not the repository's %s", f, f)
		}
	}
	if out := rpmIn("-q", "planet"); !strings.HasPrefix(out, "planet-") {
		t.Errorf("rpm --root -q planet = %q", out)
	}
	rpmIn("-V", "--nodeps", "planet") // fails t on any difference from the package

	// Erase: every file goes, but an edited config is kept as .rpmsave
	// (%config(noreplace)).
	if err := os.WriteFile(filepath.Join(dir, configPath), []byte("# edited by the admin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rpmIn("-e", "--noscripts", "planet")
	for _, f := range want {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			t.Errorf("rpm -e left %s", f)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, configPath+".rpmsave")); err != nil || string(b) != "# edited by the admin\n" {
		t.Errorf("rpm -e did not keep the edited config as %s.rpmsave: %v %q", configPath, err, b)
	}
}
