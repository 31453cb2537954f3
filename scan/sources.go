package scan

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/planetdeps/planet/scan/procfs"
)

// SourceKind is the choice of socket source (planet scan --socket-source):
// SourceAuto, SourceNetlink or SourceProc. ParseSourceKind parses it.
type SourceKind string

// The socket source choices. Their strings are also the source names the
// snapshot records (Namespace.Source, the sockets source's detail).
const (
	SourceAuto    SourceKind = "auto"    // netlink, falling back to proc where refused
	SourceNetlink SourceKind = "netlink" // netlink sock_diag only
	SourceProc    SourceKind = "proc"    // /proc/net/* only
)

// ParseSourceKind parses "auto", "netlink" or "proc"; "" is SourceAuto.
func ParseSourceKind(s string) (SourceKind, error) {
	k := SourceKind(s)
	if s == "" {
		k = SourceAuto
	}
	if err := k.check(); err != nil {
		return "", err
	}
	return k, nil
}

func (k SourceKind) String() string { return string(k) }

func (k SourceKind) check() error {
	switch k {
	case SourceAuto, SourceNetlink, SourceProc:
		return nil
	}
	return fmt.Errorf("socket source %q: want auto, netlink or proc", string(k))
}

// liveProc tells the live /proc from a fixture tree: netlink reads the
// live kernel, so a fixture tree implies the proc source.
func liveProc(procRoot string) bool { return filepath.Clean(procRoot) == "/proc" }

// hostSource is the source of the scanner's own network namespace:
// SourceAuto is netlink with /proc/net as its Fallback (onFallback is told
// why), or /proc/net alone on a fixture tree.
func (k SourceKind) hostSource(procRoot string, onFallback func(error)) SocketSource {
	proc := ProcSource{Root: procRoot}
	switch {
	case k == SourceProc:
		return proc
	case k == SourceNetlink:
		return NetlinkSource{}
	case !liveProc(procRoot):
		return proc
	}
	return &Fallback{Primary: NetlinkSource{}, Secondary: proc, OnFallback: onFallback}
}

// namespaceSource is the source of another network namespace, read
// through process pid in it: with netlink, a sock_diag socket made inside
// the namespace, falling back to the process's /proc/<pid>/net where
// entering it is refused or the kernel ends a dump with an error
// (netlinkUnusable; onRefused is told why); without, that
// /proc/<pid>/net alone, which needs no privilege.
func namespaceSource(proc procfs.FS, inode uint64, pid int, netlink bool, onRefused func(error)) SocketSource {
	dir := ProcSource{Root: proc.Path(strconv.Itoa(pid))}
	if !netlink {
		return dir
	}
	return &Fallback{
		Primary:    netlinkNS{path: proc.NetNSPath(strconv.Itoa(pid)), inode: inode},
		Secondary:  dir,
		Refused:    netlinkUnusable,
		OnFallback: onRefused,
	}
}

// netlinkUnusable tells the failures of a namespace's netlink source that
// its /proc/<pid>/net can make up for: entering the namespace refused
// (netlinkRefused), or a dump the kernel ended with an error
// (diagDumpError: a missing diag module, whose ENOENT must not pass for
// the process having exited).
func netlinkUnusable(err error) bool {
	var r *netlinkRefused
	var d *diagDumpError
	return errors.As(err, &r) || errors.As(err, &d)
}

// Fallback reads with Primary and, where Primary fails, with Secondary:
// the auto source is netlink falling back to /proc/net. Only a failure
// Refused accepts falls back (nil: any), and never a cancelled ctx;
// OnFallback, when set, is told Primary's error before Secondary is read.
// When both fail, the error joins both.
type Fallback struct {
	Primary, Secondary SocketSource
	Refused            func(error) bool
	OnFallback         func(error)
	fellBack           bool
}

// Name is Primary's name, or, once Sockets fell back, Secondary's with
// the refusal noted: "proc (netlink refused)".
func (f *Fallback) Name() string {
	if f.fellBack {
		return f.Secondary.Name() + " (" + f.Primary.Name() + " refused)"
	}
	return f.Primary.Name()
}

// Used is the source whose sockets the last Sockets returned.
func (f *Fallback) Used() SocketSource {
	if f.fellBack {
		return f.Secondary
	}
	return f.Primary
}

// Sockets implements SocketSource.
func (f *Fallback) Sockets(ctx context.Context) ([]Socket, error) {
	f.fellBack = false
	socks, err := f.Primary.Sockets(ctx)
	if err == nil {
		return socks, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if f.Refused != nil && !f.Refused(err) {
		return nil, err
	}
	if f.OnFallback != nil {
		f.OnFallback(err)
	}
	socks, serr := f.Secondary.Sockets(ctx)
	if serr != nil {
		return nil, errors.Join(err, serr)
	}
	f.fellBack = true
	return socks, nil
}

// usedName is the name of the source that read, without a Fallback's
// note: what a namespace record says it was read by.
func usedName(src SocketSource) string {
	if f, ok := src.(*Fallback); ok {
		return f.Used().Name()
	}
	return src.Name()
}
