package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzParseLine: any line is a flow, a skip or an error, never a panic; a
// flow has both tuples.
func FuzzParseLine(f *testing.F) {
	f.Add("ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.0.50 dst=10.1.0.5 sport=40000 dport=8443 packets=5 bytes=400 src=172.17.0.2 dst=10.9.0.50 sport=443 dport=40000 packets=4 bytes=3000 [ASSURED] mark=0 zone=0 use=2")
	f.Add("ipv6     10 udp      17 25 src=fd00:0000:0000:0000:0000:0000:0000:0005 dst=fd00::9 sport=1 dport=2 [UNREPLIED] src=fd00::9 dst=fd00::5 sport=2 dport=1 mark=0 use=2")
	f.Add("ipv4 2 icmp 1 29 src=10.1.0.5 dst=10.9.0.1 type=8 code=0 id=7")
	f.Fuzz(func(t *testing.T, line string) {
		var fl Flow
		ok, err := parseLine([]byte(line), &fl)
		if ok && (err != nil || !fl.Orig.Src.IsValid() || !fl.Reply.Dst.IsValid() || (fl.Proto != "tcp" && fl.Proto != "udp")) {
			t.Fatalf("%q: ok with %+v, %v", line, fl, err)
		}
	})
}

// nla appends one netlink attribute.
func nla(b []byte, typ uint16, val []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(val)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ctTuple(src, dst netip.AddrPort, proto byte) []byte {
	var ip, pr []byte
	ip = nla(ip, ctaIPv4Src, src.Addr().AsSlice())
	ip = nla(ip, ctaIPv4Dst, dst.Addr().AsSlice())
	pr = nla(pr, ctaProtoNum, []byte{proto})
	pr = nla(pr, ctaProtoSrc, binary.BigEndian.AppendUint16(nil, src.Port()))
	pr = nla(pr, ctaProtoDst, binary.BigEndian.AppendUint16(nil, dst.Port()))
	var t []byte
	t = nla(t, ctaTupleIP|0x8000, ip)
	return nla(t, ctaTupleProto|0x8000, pr)
}

// A ctnetlink entry as the kernel builds it decodes to the flow it says.
func TestParseEntry(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.9.0.50:40000"), netip.MustParseAddrPort("10.1.0.5:8443")
	c := netip.MustParseAddrPort("172.17.0.2:443")
	var msg []byte
	msg = nla(msg, ctaTupleOrig|0x8000, ctTuple(a, b, 6))
	msg = nla(msg, ctaTupleReply|0x8000, ctTuple(c, a, 6))
	msg = nla(msg, ctaStatus, binary.BigEndian.AppendUint32(nil, ipsSeenReply|ipsAssured))
	msg = nla(msg, ctaProtoinfo|0x8000, nla(nil, ctaProtoinfoTCP|0x8000, nla(nil, ctaProtoinfoTCPState, []byte{7})))
	msg = nla(msg, ctaCountersOrig|0x8000, nla(nil, ctaCountersBytes, binary.BigEndian.AppendUint64(nil, 400)))
	msg = nla(msg, ctaCountersReply|0x8000, nla(nil, ctaCountersBytes, binary.BigEndian.AppendUint64(nil, 3000)))
	var f Flow
	ok, err := parseEntry(msg, &f)
	want := Flow{Proto: "tcp", Orig: Tuple{a, b}, Reply: Tuple{c, a}, State: "TIME_WAIT", Assured: true,
		OrigBytes: 400, ReplyBytes: 3000, HasBytes: true}
	if !ok || err != nil || f != want {
		t.Errorf("parseEntry: %v %v\n got %+v\nwant %+v", ok, err, f, want)
	}
	if _, err := parseEntry(msg[:len(msg)-3], &f); err == nil {
		t.Error("a cut entry: no error")
	}
	if _, err := parseEntry(nla(nil, ctaTupleOrig|0x8000, ctTuple(a, b, 17)), &f); err == nil {
		t.Error("an entry without its reply tuple: no error")
	}
}

// FuzzParseEntry: any attribute bytes decode or fail, never panic.
func FuzzParseEntry(f *testing.F) {
	a, b := netip.MustParseAddrPort("10.9.0.50:40000"), netip.MustParseAddrPort("10.1.0.5:53")
	var msg []byte
	msg = nla(msg, ctaTupleOrig|0x8000, ctTuple(a, b, 17))
	msg = nla(msg, ctaTupleReply|0x8000, ctTuple(b, a, 17))
	f.Add(msg)
	f.Fuzz(func(t *testing.T, msg []byte) {
		var fl Flow
		if ok, err := parseEntry(msg, &fl); ok && (err != nil || !fl.Orig.Src.IsValid()) {
			t.Fatalf("ok with %+v, %v", fl, err)
		}
	})
}
