package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/planetdeps/planet/scan/procfs"
)

// Bounds on what the host's state can make a scan read.
const (
	// MaxCommand is the longest command line kept, in bytes; a longer one
	// is cut at a character boundary and ends in "…".
	MaxCommand = 1024
	// MaxStateFile bounds one runtime state file (a Docker config.v2.json,
	// Podman's containers.json); a larger one is not read.
	MaxStateFile = 8 << 20
	// MaxDirEntries bounds the names read from one state directory.
	MaxDirEntries = 100_000
)

// Defaults for Resolver's state roots: where the runtimes keep their state
// on a stock install.
const (
	DefaultDockerRoot = "/var/lib/docker"
	DefaultPodmanRoot = "/var/lib/containers/storage"
	DefaultPodLogRoot = "/var/log/pods"
	DefaultCtrLogRoot = "/var/log/containers"
)

// Resolver finds processes' workloads and command lines. It caches per
// cgroup path and per state file, so one Resolver serves one scan. Empty
// roots take the defaults; a root set to "-" is not read.
type Resolver struct {
	ProcRoot   string // default /proc
	DockerRoot string // containers/<id>/config.v2.json: "Name"
	PodmanRoot string // overlay-containers/containers.json: "names"
	// PodLogRoot holds the kubelet's <namespace>_<pod>_<uid> directories
	// and CtrLogRoot its <pod>_<namespace>_<container>-<id>.log links:
	// their names (never their targets) give the pod and container names.
	PodLogRoot string
	CtrLogRoot string

	byPath   map[string]Workload
	docker   map[string]string // id -> name ("" when unknown)
	podman   map[string]string
	pods     map[string][2]string // uid -> namespace, pod
	ctrs     map[string][3]string // id -> namespace, pod, container
	loaded   bool
	problems []string
}

func (r *Resolver) init() {
	if r.byPath != nil {
		return
	}
	r.byPath = map[string]Workload{}
	r.docker = map[string]string{}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&r.ProcRoot, "/proc")
	def(&r.DockerRoot, DefaultDockerRoot)
	def(&r.PodmanRoot, DefaultPodmanRoot)
	def(&r.PodLogRoot, DefaultPodLogRoot)
	def(&r.CtrLogRoot, DefaultCtrLogRoot)
}

// Problems lists the state files and directories that exist but could not
// be read (too large, not a regular file, a link, bad JSON), once each.
// Missing ones are not problems: most hosts run no containers.
func (r *Resolver) Problems() []string { return r.problems }

func (r *Resolver) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// Of returns the workload of process pid; the zero Workload when it has
// none or is gone.
func (r *Resolver) Of(pid int) Workload {
	r.init()
	b, err := procfs.FS{Root: r.ProcRoot}.Cgroup(pid)
	if err != nil {
		return Workload{}
	}
	return r.OfPath(CgroupPath(b))
}

// OfPath returns the workload of a cgroup path, with names from the
// runtimes' state where it has them.
func (r *Resolver) OfPath(path string) Workload {
	r.init()
	if w, ok := r.byPath[path]; ok {
		return w
	}
	w := FromCgroupPath(path)
	if w.ContainerID != "" || w.PodUID != "" {
		r.name(&w)
	}
	r.byPath[path] = w
	return w
}

func (r *Resolver) name(w *Workload) {
	r.loadShared()
	switch w.Runtime {
	case Docker:
		name, ok := r.docker[w.ContainerID]
		if !ok {
			name = r.dockerName(w.ContainerID)
			r.docker[w.ContainerID] = name
		}
		w.ContainerName = name
	case Podman:
		w.ContainerName = r.podman[w.ContainerID]
	}
	if c, ok := r.ctrs[w.ContainerID]; ok && w.ContainerID != "" {
		w.PodNamespace, w.PodName, w.ContainerName = c[0], c[1], c[2]
	}
	if p, ok := r.pods[w.PodUID]; ok && w.PodUID != "" {
		w.PodNamespace, w.PodName = p[0], p[1]
	}
}

// loadShared reads, once, the state that covers every container: Podman's
// containers.json and the kubelet's log directory names.
func (r *Resolver) loadShared() {
	if r.loaded {
		return
	}
	r.loaded = true
	r.podman = map[string]string{}
	r.pods = map[string][2]string{}
	r.ctrs = map[string][3]string{}
	if b, err := readBeneath(r.PodmanRoot, "overlay-containers/containers.json", MaxStateFile); err == nil {
		var list []struct {
			ID    string   `json:"id"`
			Names []string `json:"names"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			r.problem("%s: %v", filepath.Join(r.PodmanRoot, "overlay-containers/containers.json"), err)
		}
		for _, c := range list {
			if len(c.Names) > 0 {
				r.podman[c.ID] = c.Names[0]
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		r.problem("%v", err)
	}
	for _, n := range r.dirNames(r.PodLogRoot) {
		// <namespace>_<pod>_<uid>: namespaces and pod names have no '_'.
		f := strings.Split(n, "_")
		if len(f) == 3 && isUID(f[2]) {
			r.pods[f[2]] = [2]string{f[0], f[1]}
		}
	}
	for _, n := range r.dirNames(r.CtrLogRoot) {
		// <pod>_<namespace>_<container>-<64 hex>.log
		s, ok := strings.CutSuffix(n, ".log")
		f := strings.Split(s, "_")
		if !ok || len(f) != 3 || len(f[2]) < 66 || f[2][len(f[2])-65] != '-' {
			continue
		}
		id := f[2][len(f[2])-64:]
		if isHexID(id) {
			r.ctrs[id] = [3]string{f[1], f[0], f[2][:len(f[2])-65]}
		}
	}
}

// dockerName reads "Name" from containers/<id>/config.v2.json ("/web").
func (r *Resolver) dockerName(id string) string {
	rel := "containers/" + id + "/config.v2.json"
	b, err := readBeneath(r.DockerRoot, rel, MaxStateFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.problem("%v", err)
		}
		return ""
	}
	var cfg struct{ Name string }
	if err := json.Unmarshal(b, &cfg); err != nil {
		r.problem("%s: %v", filepath.Join(r.DockerRoot, rel), err)
		return ""
	}
	return strings.TrimPrefix(cfg.Name, "/")
}

// dirNames lists a state directory's entry names, at most MaxDirEntries;
// nothing when root is "-" or missing.
func (r *Resolver) dirNames(root string) []string {
	if root == "-" {
		return nil
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			r.problem("%s: %v", root, err)
		}
		return nil
	}
	f := os.NewFile(uintptr(fd), root)
	defer f.Close()
	names, err := f.Readdirnames(MaxDirEntries)
	if err != nil && err != io.EOF {
		r.problem("%s: %v", root, err)
	}
	return names
}

// readBeneath reads rel under root, refusing a path that leaves root or
// goes through a symbolic link (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS),
// anything but a regular file (a FIFO cannot block: it is opened
// non-blocking and refused) and more than limit bytes. A missing file is
// os.ErrNotExist.
func readBeneath(root, rel string, limit int64) ([]byte, error) {
	if root == "-" {
		return nil, os.ErrNotExist
	}
	dfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(dfd)
	path := filepath.Join(root, rel)
	fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return nil, fmt.Errorf("%s: a symbolic link or a path outside %s: not followed", path, root)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d read", path, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	return b, nil
}

// Command returns process pid's command line with its arguments joined by
// spaces, at most MaxCommand bytes (cut at a character boundary, ending in
// "…"); "" when it is gone or a kernel thread.
func (r *Resolver) Command(pid int) string {
	r.init()
	b, err := procfs.FS{Root: r.ProcRoot}.Cmdline(pid, MaxCommand+1)
	if err != nil {
		return ""
	}
	return formatCommand(b)
}

func formatCommand(b []byte) string {
	cut := len(b) > MaxCommand
	if cut {
		b = b[:MaxCommand]
		// Drop the bytes of a character the cut split (at most 3).
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	if cut {
		s += "…"
	}
	return s
}

// UnderRoot returns a Resolver reading the runtimes' state at the default
// places under root ("/" for this machine; a directory where the host's
// filesystem is mounted, when planet runs in a container).
func UnderRoot(root string) *Resolver {
	if root == "" {
		root = "/"
	}
	return &Resolver{
		DockerRoot: filepath.Join(root, DefaultDockerRoot),
		PodmanRoot: filepath.Join(root, DefaultPodmanRoot),
		PodLogRoot: filepath.Join(root, DefaultPodLogRoot),
		CtrLogRoot: filepath.Join(root, DefaultCtrLogRoot),
	}
}
