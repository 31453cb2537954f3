package procfs

import (
	"os"
	"strings"
)

// Hostname reads sys/kernel/hostname, the hostname of the UTS namespace
// the reader runs in, without surrounding white space.
func (p FS) Hostname() (string, error) {
	b, err := os.ReadFile(p.Path("sys", "kernel", "hostname"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
