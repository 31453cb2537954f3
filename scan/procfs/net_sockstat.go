package procfs

import (
	"bytes"
	"os"
	"strconv"
)

// SocketCount reads net/sockstat and net/sockstat6 (the network namespace's
// socket counters, net/ipv4/proc.c and net/ipv6/proc.c) and adds up the TCP
// and UDP sockets of both families a dump would list: TCP "inuse" (every
// hashed socket, listeners included) and "tw" (TIME_WAIT, both families),
// UDP "inuse". It is an estimate for sizing a dump (request sockets are not
// counted, and the table moves); a file that cannot be read adds nothing.
func (p FS) SocketCount() int {
	n := 0
	for _, name := range []string{"sockstat", "sockstat6"} {
		b, err := os.ReadFile(p.Path("net", name))
		if err != nil {
			continue
		}
		for line := range bytes.Lines(b) {
			f := bytes.Fields(line)
			if len(f) == 0 {
				continue
			}
			tcp := string(f[0]) == "TCP:" || string(f[0]) == "TCP6:"
			if !tcp && string(f[0]) != "UDP:" && string(f[0]) != "UDP6:" {
				continue
			}
			for i := 1; i+1 < len(f); i += 2 {
				if k := string(f[i]); k == "inuse" || (k == "tw" && tcp) {
					if v, err := strconv.Atoi(string(f[i+1])); err == nil && v > 0 {
						n += v
					}
				}
			}
		}
	}
	return n
}
