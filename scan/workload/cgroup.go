// Package workload names what a process belongs to: its systemd unit, its
// container (runtime, ID and, where the runtime's state on the host gives
// it, name) and its Kubernetes pod. The facts come from the process's
// cgroup path (/proc/<pid>/cgroup), which every runtime sets the same way on
// cgroup v2 and on the v1 name=systemd hierarchy, and from state files the
// runtimes keep on the host, read with a size bound and never through a
// symbolic link or outside their root.
package workload

import (
	"bufio"
	"bytes"
	"strings"
)

// Runtimes, as Workload.Runtime names them.
const (
	Docker     = "docker"
	Podman     = "podman"
	Containerd = "containerd"
	CRIO       = "cri-o"
	// CRI is a Kubernetes container whose runtime the cgroup path does not
	// say (the cgroupfs driver: kubepods/<qos>/pod<uid>/<id>).
	CRI = "cri"
)

// Workload is what a process belongs to. The zero value means nothing is
// known (a host process outside any service unit).
type Workload struct {
	// Unit is the innermost systemd unit of the cgroup path ending in
	// .service ("nginx.service", "user@1000.service"); empty for containers.
	Unit string `json:"unit,omitempty"`
	// Runtime is the container runtime (Docker, Podman, Containerd, CRIO, CRI).
	Runtime string `json:"runtime,omitempty"`
	// ContainerID is the runtime's 64-hex-digit container ID.
	ContainerID string `json:"container_id,omitempty"`
	// ContainerName comes from the runtime's state on the host, when found.
	ContainerName string `json:"container_name,omitempty"`
	// PodUID is the Kubernetes pod UID from the kubepods cgroup path.
	PodUID string `json:"pod_uid,omitempty"`
	// PodName and PodNamespace come from the kubelet's log directories.
	PodName      string `json:"pod_name,omitempty"`
	PodNamespace string `json:"pod_namespace,omitempty"`
}

// IsZero reports whether nothing is known.
func (w Workload) IsZero() bool { return w == Workload{} }

// Name is the workload's one-string name, the value of the snapshot's
// workload fields and of the textfile's workload label:
//
//	k8s/<namespace>/<pod>/<container>   a pod whose names the kubelet state gives
//	k8s/pod-<uid>                       a pod known only by its UID
//	<runtime>/<container name>          docker/web, podman/db
//	<runtime>/<first 12 hex of the ID>  when the name is unknown
//	<unit>                              nginx.service
//	""                                  nothing known
func (w Workload) Name() string {
	switch {
	case w.PodName != "":
		n := "k8s/" + w.PodNamespace + "/" + w.PodName
		if w.ContainerName != "" {
			n += "/" + w.ContainerName
		}
		return n
	case w.PodUID != "":
		return "k8s/pod-" + w.PodUID
	case w.ContainerID != "" && w.ContainerName != "":
		return w.Runtime + "/" + w.ContainerName
	case w.ContainerID != "":
		return w.Runtime + "/" + shortID(w.ContainerID)
	}
	return w.Unit
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// CgroupPath picks the path to parse from the content of /proc/<pid>/cgroup:
// the cgroup v2 entry ("0::/path") when it is not the root, else the v1
// name=systemd hierarchy's (where systemd and the runtimes name units and
// scopes on a hybrid host), else the first other non-root entry.
func CgroupPath(content []byte) string {
	var v2, systemd, other string
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 1024), 64<<10)
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		ctrl, path, ok := strings.Cut(rest, ":")
		if !ok || path == "" || path == "/" {
			continue
		}
		switch {
		case id == "0" && ctrl == "":
			v2 = path
		case ctrl == "name=systemd":
			systemd = path
		case other == "":
			other = path
		}
	}
	switch {
	case v2 != "":
		return v2
	case systemd != "":
		return systemd
	}
	return other
}

// FromCgroupPath reads the workload a cgroup path names. Container and pod
// cgroups are recognised in the forms the runtimes make with either cgroup
// driver:
//
//	systemd driver                              cgroupfs driver
//	.../docker-<id>.scope                       /docker/<id>
//	.../libpod-<id>.scope                       /libpod_parent/libpod-<id>
//	.../cri-containerd-<id>.scope               /kubepods/<qos>/pod<uid>/<id>
//	.../crio-<id>.scope
//	kubepods-<qos>-pod<uid with _>.slice        pod<uid>
//
// A runtime's conmon/shim scope (libpod-conmon-, crio-conmon-) is not the
// container. Without a container, the innermost *.service component is
// the unit. Anything else is the zero Workload.
func FromCgroupPath(path string) Workload {
	var w Workload
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if uid, ok := podUID(p); ok {
			w.PodUID = uid
			continue
		}
		if rt, id, ok := containerScope(p); ok {
			w.Runtime, w.ContainerID = rt, id
			continue
		}
		if isHexID(p) && i > 0 {
			switch prev := parts[i-1]; {
			case prev == "docker":
				w.Runtime, w.ContainerID = Docker, p
			case w.PodUID != "" && strings.HasPrefix(prev, "pod"):
				w.Runtime, w.ContainerID = CRI, p
			}
			continue
		}
		if strings.HasSuffix(p, ".service") && len(p) > len(".service") {
			w.Unit = p
		}
	}
	if w.ContainerID != "" || w.PodUID != "" {
		// The unit around a container is the runtime's (containerd.service
		// with the cgroupfs driver), not the workload's.
		w.Unit = ""
	}
	return w
}

// containerScope recognises "<prefix><64 hex>.scope" and "libpod-<64 hex>".
func containerScope(p string) (runtime, id string, ok bool) {
	for _, s := range []struct{ prefix, runtime string }{
		{"docker-", Docker},
		{"libpod-", Podman},
		{"cri-containerd-", Containerd},
		{"crio-", CRIO},
	} {
		rest, found := strings.CutPrefix(p, s.prefix)
		if !found {
			continue
		}
		rest = strings.TrimSuffix(rest, ".scope")
		if isHexID(rest) {
			return s.runtime, rest, true
		}
	}
	return "", "", false
}

// podUID recognises "pod<uid>" (cgroupfs) and
// "kubepods[-<qos>]-pod<uid, '-' written '_'>.slice" (systemd).
func podUID(p string) (string, bool) {
	if s, ok := strings.CutSuffix(p, ".slice"); ok && strings.HasPrefix(s, "kubepods") {
		i := strings.LastIndex(s, "-pod")
		if i < 0 {
			return "", false
		}
		uid := strings.ReplaceAll(s[i+len("-pod"):], "_", "-")
		return uid, isUID(uid)
	}
	if uid, ok := strings.CutPrefix(p, "pod"); ok && isUID(uid) {
		return uid, true
	}
	return "", false
}

// isUID: 8-4-4-4-12 hex digits.
func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

// isHexID: a runtime's container ID, 64 lower-case hex digits.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
