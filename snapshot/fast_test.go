package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullSnap has every member the fast decoder decodes itself, and those it
// hands to DecodeStrict (window, conntrack, namespaces, workloads), with
// strings that need escapes and non-ASCII text.
func fullSnap() *Snapshot {
	s := sampleV2()
	w := windowedSnap()
	s.Window = w.Window
	fetched := time.Date(2026, 11, 25, 8, 30, 0, 123456789, time.FixedZone("", 3600))
	s.Host.Domain, s.Host.LinkLocal = "web-1.node.consul", []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}
	s.Sources = append(s.Sources, Source{Name: SourceInventory, Error: "fetch \"inv\": refused\n", FetchedAt: &fetched, Skipped: 2})
	s.Listeners = append(s.Listeners, Listener{Protocol: "udp", Address: netip.MustParseAddr("::ffff:10.1.0.5"), Port: 53, Process: "dnsmasq", Sockets: 3})
	s.Connections = append(s.Connections,
		Connection{Direction: Downstream, Protocol: "tcp", Port: 8080, Process: "nginx…", RemoteIP: netip.MustParseAddr("2001:db8::7"),
			RemoteDomain: "ü.example", Sockets: 1, States: map[string]int{"ESTABLISHED": 1, "TIME_WAIT": 0}, Flows: 3, EndedFlows: 1,
			BackendIP: netip.MustParseAddr("172.17.0.2"), BackendPort: 80, Workload: "docker/web", Netns: 4026532300, BytesSent: 1<<64 - 1,
			Window: w.Connections[0].Window},
		Connection{Direction: Upstream, Protocol: "tcp", Port: 8000, Process: "caller", RemoteIP: netip.MustParseAddr("10.3.0.4"), Sockets: 1,
			DialledIP: netip.MustParseAddr("10.96.0.10"), DialledPort: 80, OriginIP: netip.MustParseAddr("172.17.0.3")})
	s.Connections[len(s.Connections)-1].Window = &ConnWindow{OpenedPerSecond: 0.25, BytesReceivedPerSecond: 1e-7,
		FirstSeen: w.Window.Start, LastSeen: w.Window.Start.Add(time.Millisecond), BytesUnknown: true}
	s.UnownedSockets = 4
	s.ByteCounters = ByteCountersMeaning + ByteCountersConntrack
	s.Conntrack = &Conntrack{Source: "netlink ctnetlink", Entries: 9, FlowsAdded: 4, ByteCounters: true}
	s.Warnings = []string{"tab\there", `back\slash`}
	s.Traffic.Peers = append(s.Traffic.Peers, Peer{RemoteIP: netip.MustParseAddr("198.18.0.1")})
	return s
}

// The fast decoder decodes what planet writes, v1 and v2, without giving
// up, to what DecodeStrict decodes; the compact form too.
func TestFastDecodeTakesPlanetsOwn(t *testing.T) {
	v1 := sample()
	v1.Schema = SchemaV1
	empty := &Snapshot{Schema: Schema, ScannedAt: time.Unix(0, 0).UTC()}
	for name, s := range map[string]*Snapshot{"full": fullSnap(), "v1": v1, "windowed": windowedSnap(), "empty": empty} {
		doc := encode(t, s)
		for _, form := range [][]byte{doc, compact(t, doc)} {
			var got Snapshot
			if !decodeFast(form, &got, &Decoder{}) {
				t.Errorf("%s: the fast decoder gave up on\n%s", name, form)
				continue
			}
			want, err := parseStrict(form, name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("%s: fast decoding differs:\n got %+v\nwant %+v", name, &got, want)
			}
		}
	}
}

func compact(t testing.TB, doc []byte) []byte {
	var b bytes.Buffer
	s, err := parseStrict(doc, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, s); err != nil {
		t.Fatal(err)
	}
	// Write indents; strip the indentation outside strings, which hold no
	// newlines (they are escaped).
	var out []byte
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		out = append(out, bytes.TrimLeft(line, " ")...)
	}
	return out
}

// FuzzFastDecode: Parse (the fast decoder, DecodeStrict where it gives up)
// and DecodeStrict alone agree on every input: the same snapshot, or the
// same error. The seeds are the run as a plain test: planet's own
// documents, and the corners where the two could part (nulls, empty
// arrays, numbers, escapes, look-alike and repeated names).
func FuzzFastDecode(f *testing.F) {
	full := encodeF(f, fullSnap())
	f.Add(full)
	f.Add(encodeF(f, sample()))
	f.Add(encodeF(f, windowedSnap()))
	f.Add(full[:len(full)/2])
	good := string(encodeF(f, sample()))
	for _, edit := range [][2]string{
		{`"listeners": [`, `"listeners": null, "x": [`},
		{`"listeners": [`, `"listeners": [], "warnings": null, "x": [`},
		{`"addresses": [`, `"addresses": null, "link_local": [`},
		{`"addresses": [`, `"link_local": [], "addresses": [`},
		{`"sockets": 2`, `"sockets": -0`},
		{`"sockets": 2`, `"sockets": 2.0`},
		{`"sockets": 2`, `"sockets": 2e0`},
		{`"sockets": 2`, `"sockets": 02`},
		{`"sockets": 2`, `"sockets": 9223372036854775808`},
		{`"sockets": 2`, `"sockets": -9223372036854775808`},
		{`"sockets": 2`, `"sockets": "2"`},
		{`"sockets": 2`, `"sockets": null`},
		{`"port": 5432`, `"port": 65536`},
		{`"port": 5432`, `"port": -1`},
		{`"bytes_sent": 10`, `"bytes_sent": 18446744073709551616`},
		{`"bytes_sent": 10`, `"bytes_sent": -0`},
		{`"process": "my app"`, `"process": "my \u0061pp\ud83d\ude00"`},
		{`"process": "my app"`, `"process": "\ud800"`},
		{`"process": "my app"`, `"process": "a\x"`},
		{`"process": "my app"`, "\"process\": \"a\x01\""},
		{`"process": "my app"`, "\"process\": \"a\xff\""},
		{`"process": "my app"`, `"process": null`},
		{`"remote_ip": "10.3.0.9"`, `"remote_ip": ""`},
		{`"remote_ip": "10.3.0.9"`, `"remote_ip": "10.3.0.09"`},
		{`"remote_ip": "10.3.0.9"`, `"remote_ip": "10.3.0.\u0039"`},
		{`"direction"`, `"Direction"`},
		{`"direction"`, `"dir\u0065ction"`},
		{`"hostgroup"`, `"host_group"`},
		{`"ESTABLISHED": 2`, `"ESTABLISHED": 2, "established": 1`},
		{`"ESTABLISHED": 2`, `"ESTABLISHED": 2, "ſ": 1, "S": 1`},
		{`"ESTABLISHED": 2`, `"ESTABLISHED": 2` + crowd(MaxMembers)},
		{`"ESTABLISHED": 2`, `"ESTABLISHED": 2` + crowd(MaxMembers-1)},
		{`"states": {`, `"states": null, "x": {`},
		{`"states": {`, `"sockets": 1, "states": {`},
		{`"scanned_at": "2026-11-26T12:00:00Z"`, `"scanned_at": "2026-11-26T12:00:00.5+01:00"`},
		{`"scanned_at": "2026-11-26T12:00:00Z"`, `"scanned_at": "2026-11-26t12:00:00z"`},
		{`"scanned_at": "2026-11-26T12:00:00Z"`, `"scanned_at": "2026-11-26T24:00:00Z"`},
		{`"traffic": {`, `"traffic": null, "x": {`},
		{`"schema": "planet.snapshot/v2"`, `"schema": "planet.snapshot/v1"`},
		{`"schema": "planet.snapshot/v2"`, `"schema": "planet.snapshot/v3"`},
		{`"schema": "planet.snapshot/v2",`, ``},
		{`"unowned_sockets": 0`, `"unowned_sockets": 0, "window": null, "conntrack": null, "namespaces": [], "workloads": null`},
		{`"unowned_sockets": 0`, `"unowned_sockets": 0, "conntrack": {"entries": 1, "Entries": 2}`},
		{`"unowned_sockets": 0`, `"unowned_sockets": 0, "conntrack": {"entries": 1,}`},
		{`"unowned_sockets": 0`, `"unowned_sockets": 0, "conntrack": {"entries": 1} }`},
		{`"unowned_sockets": 0`, `"unowned_sockets": 0, "conntrack": tru`},
		{`"unowned_sockets": 0`, `"unowned_sockets": 0, "conntrack": "x"`},
		{`"connections": [`, `"connections": [,`},
		{`"ok": true`, `"ok": tru`},
		{`"ok": true`, `"ok": 1`},
		{"\n}", "\n},"},
		{"\n}", "\n} {}"},
		{"\n}", "\n}\n\t "},
	} {
		f.Add([]byte(strings.Replace(good, edit[0], edit[1], 1)))
	}
	shared := &Decoder{}
	f.Fuzz(func(t *testing.T, doc []byte) {
		want, wantErr := parseStrict(doc, "fuzz")
		for _, d := range []*Decoder{nil, shared} {
			got, err := d.Parse(doc, "fuzz")
			switch {
			case (err == nil) != (wantErr == nil):
				t.Fatalf("Parse: %v, DecodeStrict: %v", err, wantErr)
			case err != nil && err.Error() != wantErr.Error():
				t.Fatalf("Parse: %v, DecodeStrict: %v", err, wantErr)
			case !reflect.DeepEqual(got, want):
				t.Fatalf("Parse and DecodeStrict differ:\n got %+v\nwant %+v", got, want)
			}
		}
	})
}

// A Decoder's snapshots share nothing with its buffer: reading another
// document after leaves the first as it was.
func TestDecoderReuse(t *testing.T) {
	var d Decoder
	one, two := fullSnap(), sample()
	two.Host.Hostname, two.Connections[0].Process = "other", "other process"
	got1, err := d.Read(bytes.NewReader(encode(t, one)), 0, "one")
	if err != nil {
		t.Fatal(err)
	}
	doc2 := encode(t, two)
	got2, err := d.Read(bytes.NewReader(doc2), int64(len(doc2)), "two")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got1, one) || !reflect.DeepEqual(got2, two) {
		t.Errorf("reading a second document changed the first, or the second is wrong:\n%+v\n%+v", got1, got2)
	}
	// A recycled snapshot's connection list is taken from it, and the
	// next snapshot decoded into its memory is whole.
	conns := got1.Connections
	d.Recycle(got1)
	got3, err := d.Read(bytes.NewReader(encode(t, one)), 0, "three")
	if err != nil {
		t.Fatal(err)
	}
	if got1.Connections != nil || &got3.Connections[0] != &conns[0] || !reflect.DeepEqual(got3, one) {
		t.Errorf("after Recycle: %d connections left, memory reused %v, snapshot %+v", len(got1.Connections), &got3.Connections[0] == &conns[0], got3)
	}
}

// DropStates leaves States nil and changes nothing else: the same
// snapshot otherwise, and the same error for states Parse refuses, on the
// fast path and on DecodeStrict's (a document the fast decoder gives up
// on: an escaped member name).
func TestDecoderDropStates(t *testing.T) {
	withStates := func(states string) []byte {
		s := sample()
		doc := encode(t, s)
		return bytes.Replace(doc, []byte(`"states": {`), []byte(`"states": {`+states), 1)
	}
	escaped := func(doc []byte) []byte {
		return bytes.Replace(doc, []byte(`"hostname"`), []byte(`"host\u006eame"`), 1)
	}
	for _, tt := range []struct {
		name    string
		doc     []byte
		refused bool
	}{
		{"planet's own", encode(t, fullSnap()), false},
		{"strict path", escaped(encode(t, fullSnap())), false},
		{"negative state", withStates(`"CLOSE_WAIT": -1, `), true},
		{"negative state, strict path", escaped(withStates(`"CLOSE_WAIT": -1, `)), true},
		{"state twice", withStates(`"established": 1, `), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := Parse(tt.doc, "doc")
			if (wantErr != nil) != tt.refused {
				t.Fatalf("Parse: error %v, want one: %v", wantErr, tt.refused)
			}
			d := Decoder{DropStates: true}
			got, err := d.Parse(tt.doc, "doc")
			if wantErr != nil || err != nil {
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("error %v, want %v", err, wantErr)
				}
				return
			}
			kept := 0
			for i := range want.Connections {
				kept += len(want.Connections[i].States)
				want.Connections[i].States = nil
			}
			if kept == 0 {
				t.Fatal("the document has no states to drop")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// BenchmarkDecode decodes one planet-written snapshot of 200 connection
// records (as internal/cmd/fleetgen writes them) with Parse, with a
// Decoder sharing strings, with one that also drops states (as a merge's
// does), and with DecodeStrict alone, side by side:
//
//	go test ./snapshot -run '^$' -bench Decode -benchmem
func BenchmarkDecode(b *testing.B) {
	s := sample()
	s.Connections = s.Connections[:0]
	for i := range 200 {
		s.Connections = append(s.Connections, Connection{Direction: Upstream, Protocol: "tcp", Port: 5432, Process: "java",
			RemoteIP: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i % 250)}), RemoteHostgroup: "db", RemoteDomain: "db.node.consul",
			Sockets: 15, States: map[string]int{"ESTABLISHED": 10, "TIME_WAIT": 5}, BytesSent: 16711734, BytesReceived: 27042331})
	}
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		b.Fatal(err)
	}
	doc := buf.Bytes()
	b.Run("Parse", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := Parse(doc, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decoder", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		var d Decoder
		for b.Loop() {
			if _, err := d.Parse(doc, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DropStates", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		d := Decoder{DropStates: true}
		for b.Loop() {
			if _, err := d.Parse(doc, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeStrict", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := parseStrict(doc, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// special finds the first byte of eight that is not plain, as the table says.
func TestSpecial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '\\', 0x7f, 0x80, 0xff, 'a', 0x5b, 0x5d, 0x23}
	for range 1_000_000 {
		var w [8]byte
		for i := range w {
			if r.IntN(2) == 0 {
				w[i] = interesting[r.IntN(len(interesting))]
			} else {
				w[i] = byte(r.IntN(256))
			}
		}
		want := 8
		for i, c := range w {
			if !plain[c] {
				want = i
				break
			}
		}
		got := 8
		if m := special(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if got != want {
			t.Fatalf("% x: first special byte at %d, want %d", w, got, want)
		}
	}
}

// parseIPv4 takes what netip.ParseAddr takes as IPv4, to the same Addr,
// and leaves everything else to ParseAddr.
func TestParseIPv4(t *testing.T) {
	for _, s := range []string{
		"0.0.0.0", "10.0.0.54", "255.255.255.255", "1.2.3.4", "192.168.100.200",
		"256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1..3.4", "1.2.3.", ".1.2.3.4",
		"1.2.3.4%eth0", "1.2.3.1000", "1.2.3.-1", "::1", "::ffff:1.2.3.4", "", "a.b.c.d", "1.2.3.4 ",
	} {
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		switch {
		case ok && (err != nil || got != want):
			t.Errorf("%q: parseIPv4 %v, ParseAddr %v, %v", s, got, want, err)
		case !ok && err == nil && want.Is4():
			t.Errorf("%q: parseIPv4 left ParseAddr's IPv4 %v", s, want)
		}
	}
}

// digits takes every integer up to the largest uint64 and gives up past
// it, whatever the number of digits, and on forms JSON or planet do not
// write.
func TestFastDigits(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"1234567890123456789", 1234567890123456789, true},
		{"9999999999999999999", 9999999999999999999, true}, {"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false}, {"18446744073709551620", 0, false}, {"99999999999999999999", 0, false},
		{"184467440737095516150", 0, false}, {"01", 0, false}, {"1.5", 0, false}, {"1e3", 0, false}, {"", 0, false}, {"-1", 0, false},
	} {
		p := &fastDec{b: []byte(tt.in)}
		got := p.uint64()
		if ok := !p.bad && p.i == len(p.b); ok != tt.ok || ok && got != tt.want {
			t.Errorf("%q: %d, ok %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
