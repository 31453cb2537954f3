package procfs

import (
	"os"
	"strings"
)

// BindV6Only reads sys/net/ipv6/bindv6only (net.ipv6.bindv6only), the
// default of IPV6_V6ONLY for new IPv6 sockets. /proc/net/tcp6 and udp6 do
// not show a socket's own setting (nginx, for one, sets it on
// `listen [::]:80` whatever the default), so this default is all a reader
// of those files can apply. It is false when the file is missing or
// unreadable (the kernel's default).
func (p FS) BindV6Only() bool {
	b, err := os.ReadFile(p.Path("sys", "net", "ipv6", "bindv6only"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
