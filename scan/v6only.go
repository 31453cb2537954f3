package scan

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Sizes of the sock_diag structures (include/uapi/linux/inet_diag.h):
// inet_diag_req_v2 is 8 bytes and a 48-byte inet_diag_sockid; inet_diag_msg
// is 4 bytes, the sockid, then expires, rqueue, wqueue, uid and inode.
const (
	diagReqLen   = 56
	diagMsgLen   = 72
	diagInodeOff = 68
)

// v6onlyRequest is an inet_diag_req_v2 dumping the IPv6 sockets of one
// protocol in the LISTEN and CLOSE states: the kernel reports
// INET_DIAG_SKV6ONLY only for those (inet_diag_msg_attrs_fill), which are
// TCP listeners and unconnected UDP sockets.
type v6onlyRequest struct{ protocol uint8 }

func (r v6onlyRequest) Len() int { return diagReqLen }

func (r v6onlyRequest) Serialize() []byte {
	b := make([]byte, diagReqLen)
	b[0] = unix.AF_INET6
	b[1] = r.protocol
	binary.NativeEndian.PutUint32(b[4:], 1<<stateListen|1<<stateClose)
	return b
}

// v6onlySockets returns the inodes of the IPv6 sockets of protocol (TCP
// listeners, unbound or bound UDP sockets) that have IPV6_V6ONLY set, from
// the INET_DIAG_SKV6ONLY attribute the kernel adds to every such socket of a
// sock_diag dump. github.com/vishvananda/netlink drops that attribute, so
// this is a dump of its own.
func v6onlySockets(protocol uint8) (map[uint64]bool, error) {
	return dumpRetry(func() (map[uint64]bool, error) {
		out := map[uint64]bool{}
		var perr error
		req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
		req.AddData(v6onlyRequest{protocol})
		err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(msg []byte) bool {
			if len(msg) < diagMsgLen {
				perr = fmt.Errorf("inet_diag_msg of %d bytes, want at least %d", len(msg), diagMsgLen)
				return false
			}
			inode := uint64(binary.NativeEndian.Uint32(msg[diagInodeOff:]))
			attrs, err := nl.ParseRouteAttr(msg[diagMsgLen:])
			if err != nil {
				perr = fmt.Errorf("inet_diag attributes: %w", err)
				return false
			}
			for _, a := range attrs {
				if a.Attr.Type == netlink.INET_DIAG_SKV6ONLY && len(a.Value) >= 1 && a.Value[0] != 0 {
					out[inode] = true
				}
			}
			return true
		})
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, err
		}
		if perr != nil {
			return nil, perr
		}
		return out, err
	})
}
