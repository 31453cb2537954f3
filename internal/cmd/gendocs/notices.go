package main

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
	"time"
)

// binaries are the release's programs, by import path.
var binaries = []string{
	"github.com/planetdeps/planet/cmd/planet",
	"github.com/planetdeps/planet/cmd/planet-svg",
}

// licenseFile matches the names of the files in a module's root that hold
// its license terms and the notices its license asks to be passed on.
var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice|patents)([._-].*)?$`)

// licenseDirs are directories in a module's root whose files are more
// license texts: gonum's THIRD_PARTY_LICENSES, freetype's licenses.
var licenseDirs = regexp.MustCompile(`(?i)^(licen[cs]es|third_party_licen[cs]es)$`)

// maxLicenseFile bounds one license file read from the module cache.
const maxLicenseFile = 1 << 20

// embedded is code compiled into a module's data rather than linked as Go:
// go-graphviz embeds Graphviz, expat and wasi-libc as one WebAssembly
// module (its internal/wasm/build builds it). Their license texts live in
// packaging/licenses; versionFile, when set, names the module file that
// holds the version: all of it, or versionRe's first group.
var embedded = map[string][]struct {
	name, versionFile, versionRe, source, license string
}{
	"github.com/goccy/go-graphviz": {
		{"Graphviz", "graphviz.version", "", "https://gitlab.com/graphviz/graphviz", "EPL-1.0"},
		{"expat", "internal/wasm/build/Dockerfile", `expat-([0-9][0-9.]*[0-9])\.tar`, "https://github.com/libexpat/libexpat", "expat"},
		{"wasi-libc from", "internal/wasm/build/Dockerfile", `wasi-sdk:(wasi-sdk-[0-9]+)`, "https://github.com/WebAssembly/wasi-libc", "wasi-libc"},
	},
}

// module is one Go module linked into the release binaries.
type module struct {
	path, version, dir string
	in                 []string // the binaries that link it
}

// writeNotices writes OUT/doc/THIRD_PARTY_NOTICES: every part of the
// release binaries that is not planet's own code (the Go standard library,
// each module from go list -deps, what go-graphviz embeds) with the
// binaries holding it and its license and notice files verbatim. It fails
// when a module has no license file, so a new dependency cannot ship
// unlicensed. repo is planet's source tree (for packaging/licenses).
func writeNotices(ctx context.Context, repo, dir string) error {
	mods, err := linkedModules(ctx, repo)
	if err != nil {
		return err
	}
	goroot, err := goOutput(ctx, repo, "env", "GOROOT")
	if err != nil {
		return err
	}
	goVersion, err := goOutput(ctx, repo, "env", "GOVERSION")
	if err != nil {
		return err
	}

	var b bytes.Buffer
	b.WriteString(`Third-party software in planet's release binaries
=================================================

planet and planet-svg are statically linked Go programs. Besides planet's own
code (Apache License 2.0: LICENSE, NOTICE) they contain the parts below, each
under its own license. For each part: its version, the binaries holding it,
then its license and notice files, verbatim.
`)
	sep := "\n" + strings.Repeat("=", 79) + "\n"
	fmt.Fprintf(&b, "%sThe Go standard library %s\nin: %s\n", sep, goVersion, strings.Join(binaryNames(binaries), ", "))
	if err := appendLicenses(&b, goroot, false); err != nil {
		return fmt.Errorf("the Go standard library: %w", err)
	}
	for _, m := range mods {
		fmt.Fprintf(&b, "%s%s %s\nin: %s\n", sep, m.path, m.version, strings.Join(binaryNames(m.in), ", "))
		if err := appendLicenses(&b, m.dir, true); err != nil {
			return fmt.Errorf("module %s %s: %w", m.path, m.version, err)
		}
		for _, e := range embedded[m.path] {
			version := ""
			if e.versionFile != "" {
				v, err := readBounded(filepath.Join(m.dir, filepath.FromSlash(e.versionFile)))
				if err != nil {
					return fmt.Errorf("module %s: version of embedded %s: %w", m.path, e.name, err)
				}
				if e.versionRe != "" {
					match := regexp.MustCompile(e.versionRe).FindSubmatch(v)
					if match == nil {
						return fmt.Errorf("module %s: no version of embedded %s in %s (want %s)", m.path, e.name, e.versionFile, e.versionRe)
					}
					v = match[1]
				}
				version = " " + strings.TrimSpace(string(v))
			}
			text, err := os.ReadFile(filepath.Join(repo, "packaging", "licenses", e.license))
			if err != nil {
				return fmt.Errorf("license of %s embedded in %s: %w", e.name, m.path, err)
			}
			fmt.Fprintf(&b, "%s%s%s, compiled to WebAssembly and embedded in %s\nin: %s\nsource: %s\nlicense: %s\n\n%s",
				sep, e.name, version, m.path, strings.Join(binaryNames(m.in), ", "), e.source, e.license, text)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "THIRD_PARTY_NOTICES"), b.Bytes())
}

// linkedModules lists the modules (not planet's own) that the release
// binaries link, sorted by path, from go list -deps run in repo.
func linkedModules(ctx context.Context, repo string) ([]module, error) {
	byPath := map[string]*module{}
	for _, bin := range binaries {
		out, err := goOutput(ctx, repo, "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", bin)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 3 {
				continue
			}
			if f[2] == "" {
				return nil, fmt.Errorf("module %s %s is not downloaded (run go mod download)", f[0], f[1])
			}
			m := byPath[f[0]]
			if m == nil {
				m = &module{path: f[0], version: f[1], dir: f[2]}
				byPath[f[0]] = m
			}
			if !slices.Contains(m.in, bin) {
				m.in = append(m.in, bin)
			}
		}
	}
	mods := make([]module, 0, len(byPath))
	for _, m := range byPath {
		mods = append(mods, *m)
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.path, b.path) })
	return mods, nil
}

// appendLicenses appends the license and notice files in dir's root (and,
// when deep, in its license directories), each under its name.
func appendLicenses(b *bytes.Buffer, dir string, deep bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []string
	for _, e := range entries {
		switch {
		case e.Type().IsRegular() && licenseFile.MatchString(e.Name()):
			files = append(files, e.Name())
		case deep && e.IsDir() && licenseDirs.MatchString(e.Name()):
			sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			for _, s := range sub {
				if s.Type().IsRegular() {
					files = append(files, e.Name()+"/"+s.Name())
				}
			}
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("no license file (LICENSE, COPYING, ...) in %s", dir)
	}
	for _, name := range files {
		text, err := readBounded(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "\n--- %s\n\n%s", name, text)
		if !bytes.HasSuffix(text, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxLicenseFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(text) > maxLicenseFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxLicenseFile)
	}
	return text, nil
}

func binaryNames(paths []string) []string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// goOutput runs the go command in dir and returns its trimmed output.
func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	// What the release builds: static linux binaries.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}
