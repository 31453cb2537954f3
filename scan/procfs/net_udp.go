package procfs

// NetUDP reads net/udp, the IPv4 UDP sockets of the root's network
// namespace, in the format of net/tcp (net/ipv4/udp.c udp4_format_sock).
func (p FS) NetUDP() ([]Socket, error) { return p.netSockets("udp", false) }

// NetUDP6 reads net/udp6, the IPv6 UDP sockets. A kernel without IPv6 has
// no such file: nil, no error.
func (p FS) NetUDP6() ([]Socket, error) { return p.netSockets("udp6", true) }
