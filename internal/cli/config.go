package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/planetdeps/planet/internal/fetch"
	"github.com/planetdeps/planet/internal/trust"
)

// maxConfig bounds a config file: it holds a few flags.
const maxConfig = 1 << 20

// readConfig finds, reads and checks the config file, and hands viper the
// keys that belong to cmd: see configFor.
func (a *app) readConfig(ctx context.Context, cmd *cobra.Command) error {
	path, doc, err := findConfig(ctx, a.v.GetString("config"))
	if err != nil || path == "" {
		return err
	}
	keys, err := configFor(doc, path, cmd)
	if err != nil {
		return err
	}
	return a.v.MergeConfigMap(keys)
}

// findConfig returns the config file's path and content: the one named
// (--config, PLANET_CONFIG), else the first of /etc/planet/planet.yaml and
// the user config dir's planet/planet.yaml that exists (one in a directory
// this user cannot search counts as absent). Run as root, a file
// found on its own is read only if trust.For(0) accepts it, from the
// descriptor that was checked. Every file is opened without blocking and
// must be a regular file of at most maxConfig bytes.
func findConfig(ctx context.Context, named string) (string, []byte, error) {
	if named != "" {
		doc, err := fetch.ReadFile(ctx, named, maxConfig)
		if err != nil {
			return "", nil, fmt.Errorf("config: %w", err)
		}
		return named, doc, nil
	}
	candidates := []string{systemConfig}
	if dir, err := os.UserConfigDir(); err == nil {
		candidates = append(candidates, filepath.Join(dir, "planet", "planet.yaml"))
	}
	uid := os.Geteuid()
	for _, path := range candidates {
		var doc []byte
		var err error
		if uid == 0 {
			doc, err = readTrusted(path, uid)
		} else {
			doc, err = fetch.ReadFile(ctx, path, maxConfig)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.Is(err, fs.ErrPermission) && unreachable(path):
			// A directory above is closed to this user (another user's
			// home, as HOME stays under setpriv or sudo -u): not a
			// config of this user's. A file it can see but not read
			// is still an error.
			continue
		case err != nil:
			return "", nil, fmt.Errorf("config: %w (pass --config to name a file on purpose)", err)
		}
		return path, doc, nil
	}
	return "", nil, nil
}

// unreachable says whether path cannot even be looked up by this user: a
// directory above it denies search.
func unreachable(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrPermission)
}

// readTrusted reads a config file root found on its own: it, and every
// directory above it, must be owned by uid or root and writable by nobody
// else (sticky directories excepted); the file read is the one checked.
func readTrusted(path string, uid int) ([]byte, error) {
	f, err := trust.For(uid).Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc) > maxConfig {
		return nil, fmt.Errorf("%s: %w (limit %d bytes)", path, fetch.ErrTooLarge, maxConfig)
	}
	return doc, nil
}

// configFor returns the settings of the config file doc that apply to cmd.
//
// A key is a flag's long name. At the top level stand the flags every
// command has (log-level, log-format), a section per command (scan:,
// merge:, render:, diff:) holding that command's flags, and, as a shorthand,
// a flag only one command defines (textfile-dir is scan's). A command reads
// the global keys, its own section and its own shorthand keys, nothing else:
// merge never takes scan's output: from the file. A key no command knows, or
// a top-level key several commands define (output, format), is an error
// naming the file, the key and the closest known key.
func configFor(doc []byte, path string, cmd *cobra.Command) (map[string]any, error) {
	var top map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&top); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	root := cmd.Root()
	globals := flagNames(root.PersistentFlags())
	globals = slices.DeleteFunc(globals, func(n string) bool { return n == "config" })
	sections := map[string][]string{}
	owners := map[string][]string{}
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		names := flagNames(c.LocalNonPersistentFlags())
		sections[c.Name()] = names
		for _, n := range names {
			owners[n] = append(owners[n], c.Name())
		}
	}
	this := cmd
	for this.HasParent() && this.Parent() != root {
		this = this.Parent()
	}
	out := map[string]any{}
	var topKnown []string
	topKnown = append(topKnown, globals...)
	for name := range sections {
		topKnown = append(topKnown, name)
	}
	for n := range owners {
		topKnown = append(topKnown, n)
	}
	for _, key := range sortedKeys(top) {
		val := top[key]
		if own, ok := sections[key]; ok {
			sec, ok := val.(map[string]any)
			if !ok && val != nil {
				return nil, usageError(fmt.Errorf("config %s: %s: want a section of %s flags (key: value lines, indented), got %v", path, key, key, val))
			}
			known := append(slices.Clone(own), globals...)
			for _, k := range sortedKeys(sec) {
				if !slices.Contains(known, k) {
					return nil, usageError(fmt.Errorf("config %s: unknown key %q in section %s:%s", path, k, key, suggest(k, known)))
				}
				if key == this.Name() {
					out[k] = sec[k]
				}
			}
			continue
		}
		if slices.Contains(globals, key) {
			if _, set := out[key]; !set { // a section's value wins
				out[key] = val
			}
			continue
		}
		switch cmds := owners[key]; len(cmds) {
		case 0:
			return nil, usageError(fmt.Errorf("config %s: unknown key %q:%s", path, key, suggest(key, topKnown)))
		case 1:
			if cmds[0] == this.Name() {
				if _, set := out[key]; !set {
					out[key] = val
				}
			}
		default:
			return nil, usageError(fmt.Errorf("config %s: key %q is a flag of %s: put it in the section of the command it is for (%s:)",
				path, key, strings.Join(cmds, ", "), cmds[0]))
		}
	}
	return out, nil
}

func flagNames(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			names = append(names, f.Name)
		}
	})
	return names
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest names the known key closest to key (edit distance), if any is
// reasonably close.
func suggest(key string, known []string) string {
	best, bestD := "", len(key)/2+2
	for _, k := range known {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return " no such flag"
	}
	return fmt.Sprintf(" did you mean %q?", best)
}

// editDistance is the Levenshtein distance of a and b (bytes: flag names
// are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
