package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/planetdeps/planet/internal/cli"
)

// commandPages lists the man page every available command must get, and
// planet-svg's.
func commandPages() []string {
	root := cli.NewRoot(cli.BuildInfo{}, strings.NewReader(""), io.Discard, io.Discard)
	var pages []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		pages = append(pages, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1.gz")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				walk(sub)
			}
		}
	}
	walk(root)
	return append(pages, "planet-svg.1.gz")
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

func TestManPagesForEveryCommand(t *testing.T) {
	out := t.TempDir()
	if err := run([]string{"-out", out, "-version", "1.2.3", "-date", "1764100000"}); err != nil {
		t.Fatal(err)
	}
	pages := commandPages()
	if len(pages) < 2 {
		t.Fatalf("command tree has %v: expected planet and its subcommands", pages)
	}
	entries, err := os.ReadDir(filepath.Join(out, "man"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(pages) {
		t.Errorf("man/ holds %d files, want %d (%v)", len(entries), len(pages), pages)
	}
	for _, page := range pages {
		text := gunzip(t, filepath.Join(out, "man", page))
		title := strings.ToUpper(strings.TrimSuffix(page, ".1.gz"))
		// 1764100000 is 2025-11-25: the header carries the release's date
		// and version, not the build machine's clock.
		if want := `.TH "` + title + `" "1" "Nov 2025" "planet 1.2.3" "planet manual"`; !strings.Contains(text, want) {
			t.Errorf("%s: no header %s in:\n%.300s", page, want, text)
		}
		if !strings.Contains(text, ".SH SYNOPSIS") || !strings.Contains(text, ".SH OPTIONS") {
			t.Errorf("%s: no SYNOPSIS or OPTIONS section", page)
		}
		if strings.Contains(text, "Auto generated") {
			t.Errorf("%s: carries cobra's dated auto-generated footer", page)
		}
	}
	if text := gunzip(t, filepath.Join(out, "man", "planet-scan.1.gz")); !strings.Contains(text, "textfile-dir") {
		t.Errorf("planet-scan(1) does not document --textfile-dir")
	}
}

// planet-svg(1) is written by hand: its synopsis and input limit must be
// the ones cmd/planet-svg has, and man must format it without complaint.
func TestHelperManPage(t *testing.T) {
	out := t.TempDir()
	if err := run([]string{"-out", out, "-version", "1.2.3", "-date", "1764100000"}); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(out, "man", "planet-svg.1.gz")
	text := gunzip(t, page)
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "cmd", "planet-svg", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	usage := regexp.MustCompile(`"usage: (planet-svg[^"]*)"`).FindSubmatch(src)
	limit := regexp.MustCompile(`maxDOT = (\d+) << 20`).FindSubmatch(src)
	if usage == nil || limit == nil {
		t.Fatalf("cmd/planet-svg/main.go no longer has the usage line or maxDOT this test reads; update the test")
	}
	// The page's synopsis, roff fonts stripped, is the helper's usage.
	syn := regexp.MustCompile(`(?s)\.SH SYNOPSIS\n(.*?)\n\.SH`).FindStringSubmatch(text)
	if syn == nil {
		t.Fatalf("no SYNOPSIS in:\n%s", text)
	}
	var words []string
	for _, line := range strings.Split(syn[1], "\n") {
		words = append(words, strings.Fields(strings.TrimPrefix(strings.TrimPrefix(line, ".B "), ".I "))...)
	}
	if got := strings.Join(words, " "); got != string(usage[1]) {
		t.Errorf("synopsis %q, planet-svg's usage %q", got, usage[1])
	}
	if want := "larger than " + string(limit[1]) + " MiB"; !strings.Contains(text, want) {
		t.Errorf("page does not say %q", want)
	}
	man, err := exec.LookPath("man")
	if err != nil {
		t.Logf("man not installed: planet-svg(1) not formatted")
		return
	}
	cmd := exec.Command(man, "--warnings", "-l", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	formatted, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Errorf("man --warnings -l planet-svg.1.gz: %v\n%s", err, stderr.String())
	}
	// Without a terminal man overstrikes bold and underlined text (c BS c).
	plain := regexp.MustCompile(".\x08").ReplaceAllString(string(formatted), "")
	for _, want := range []string{"PLANET-SVG(1)", "EXIT STATUS", "TMPDIR", "planet-render(1)"} {
		if !strings.Contains(plain, want) {
			t.Errorf("formatted page lacks %q:\n%s", want, plain)
		}
	}
}

// A release build must give the same bytes twice: packages are compared by
// checksum, and a man page that changes with the clock would differ.
func TestReproducible(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := run([]string{"-out", dir, "-version", "1.2.3", "-date", "1764100000"}); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(a, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, path)
		x, _ := os.ReadFile(path)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompletions(t *testing.T) {
	out := t.TempDir()
	if err := run([]string{"-out", out}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"planet.bash", "_planet", "planet.fish"} {
		b, err := os.ReadFile(filepath.Join(out, "completions", name))
		if err != nil {
			t.Fatal(err)
		}
		// Every cobra completion asks the binary itself; the scripts are
		// thin, so flags added later complete without regenerating.
		if !bytes.Contains(b, []byte("__complete")) {
			t.Errorf("%s does not call planet __complete", name)
		}
	}
	// The shells' own parsers, where installed (bash always is on Debian).
	for _, sh := range []struct{ shell, file string }{
		{"bash", "planet.bash"}, {"zsh", "_planet"}, {"fish", "planet.fish"},
	} {
		path, err := exec.LookPath(sh.shell)
		if err != nil {
			t.Logf("%s not installed: %s not syntax-checked", sh.shell, sh.file)
			continue
		}
		out, err := exec.Command(path, "-n", filepath.Join(out, "completions", sh.file)).CombinedOutput()
		if err != nil {
			t.Errorf("%s -n %s: %v\n%s", sh.shell, sh.file, err, out)
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-date", "yesterday"},
		{"-out", t.TempDir(), "extra"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
	// goreleaser's zero CommitTimestamp means "unknown", not year 1.
	out := t.TempDir()
	if err := run([]string{"-out", out, "-date", "-62135596800"}); err != nil {
		t.Fatal(err)
	}
	if text := gunzip(t, filepath.Join(out, "man", "planet.1.gz")); strings.Contains(text, `"Jan 0001"`) {
		t.Errorf("a zero date reached the header")
	}
}

// THIRD_PARTY_NOTICES covers every module the release binaries link, with
// the NOTICE files Apache-2.0 modules ask to be passed on, and what
// go-graphviz embeds.
func TestThirdPartyNotices(t *testing.T) {
	out := t.TempDir()
	if err := run([]string{"-out", out, "-version", "1.2.3", "-date", "1764100000"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "doc", "THIRD_PARTY_NOTICES"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	list := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}",
		"github.com/planetdeps/planet/cmd/planet", "github.com/planetdeps/planet/cmd/planet-svg")
	list.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	mods, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, m := range strings.Split(strings.TrimSpace(string(mods)), "\n") {
		if m == "" {
			continue
		}
		n++
		if !strings.Contains(text, "\n"+m+"\nin: ") {
			t.Errorf("no section for module %s", m)
		}
	}
	if n < 10 {
		t.Errorf("go list found only %d modules: %s", n, mods)
	}
	for _, want := range []string{
		"The Go standard library go1.",
		"Copyright 2020-2023 wazero authors",       // wazero's NOTICE
		"Copyright 2011-2016 Canonical Ltd.",       // yaml's NOTICE
		"Graphviz 12.1.2, compiled to WebAssembly", // go-graphviz's graphviz.version
		"Eclipse Public License - v 1.0",
		"Thai Open Source Software Center", // expat
		"expat 2.6.3, compiled",            // from go-graphviz's Dockerfile
		"wasi-libc from wasi-sdk-",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("THIRD_PARTY_NOTICES lacks %q", want)
		}
	}
}

// A module without a license file fails the release build, naming it.
func TestNoticesNeedALicense(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("no license here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err := appendLicenses(&b, dir, true)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("appendLicenses of a directory without a license: %v, want an error naming %s", err, dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "COPYING.txt"), []byte("terms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := appendLicenses(&b, dir, true); err != nil || !strings.Contains(b.String(), "--- COPYING.txt\n\nterms\n") {
		t.Errorf("appendLicenses = %v, %q", err, b.String())
	}
}
