package procfs

import (
	"os"
	"strconv"
	"strings"
)

// Comm reads <pid>/comm, the process's command name as the kernel keeps
// it (at most 15 bytes). Spaces and other bytes are kept as they are:
// only the trailing newline is removed. A process that has exited gives
// fs.ErrNotExist.
func (p FS) Comm(pid int) (string, error) {
	b, err := os.ReadFile(p.Path(strconv.Itoa(pid), "comm"))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}
