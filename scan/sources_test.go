package scan

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// fakeSource returns its sockets or its error, and counts its reads.
type fakeSource struct {
	name  string
	socks []Socket
	err   error
	reads *int
}

func (f fakeSource) Name() string { return f.name }

func (f fakeSource) Sockets(context.Context) ([]Socket, error) {
	*f.reads++
	return f.socks, f.err
}

func TestFallback(t *testing.T) {
	errRefused := &netlinkRefused{errors.New("setns: operation not permitted")}
	errGone := errors.New("namespace gone")
	errProc := errors.New("net/tcp: line 2: 4 fields")
	fromNetlink := []Socket{{Protocol: "tcp", Local: netip.MustParseAddrPort("10.0.0.1:22"), HasBytes: true}}
	fromProc := []Socket{{Protocol: "tcp", Local: netip.MustParseAddrPort("10.0.0.1:22")}}
	onlyRefused := func(err error) bool { var r *netlinkRefused; return errors.As(err, &r) }
	tests := []struct {
		name               string
		primaryErr         error
		secondaryErr       error
		refused            func(error) bool
		cancel             bool
		want               []Socket
		wantName, wantUsed string
		wantErr            []error // each must be in the error
		wantTold           error   // what OnFallback heard
		wantSecondaryReads int
	}{
		{name: "primary reads", want: fromNetlink, wantName: "netlink", wantUsed: "netlink"},
		{name: "primary fails, secondary reads", primaryErr: errRefused, want: fromProc,
			wantName: "proc (netlink refused)", wantUsed: "proc", wantTold: errRefused, wantSecondaryReads: 1},
		{name: "both fail", primaryErr: errRefused, secondaryErr: errProc,
			wantErr: []error{errRefused, errProc}, wantTold: errRefused, wantSecondaryReads: 1, wantName: "netlink", wantUsed: "netlink"},
		{name: "a failure Refused does not accept is returned", primaryErr: errGone, refused: onlyRefused,
			wantErr: []error{errGone}, wantName: "netlink", wantUsed: "netlink"},
		{name: "a refusal Refused accepts falls back", primaryErr: errRefused, refused: onlyRefused, want: fromProc,
			wantName: "proc (netlink refused)", wantUsed: "proc", wantTold: errRefused, wantSecondaryReads: 1},
		{name: "a cancelled scan does not fall back", primaryErr: context.Canceled, cancel: true,
			wantErr: []error{context.Canceled}, wantName: "netlink", wantUsed: "netlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			var primaryReads, secondaryReads int
			var told error
			f := &Fallback{
				Primary:    fakeSource{"netlink", fromNetlink, tt.primaryErr, &primaryReads},
				Secondary:  fakeSource{"proc", fromProc, tt.secondaryErr, &secondaryReads},
				Refused:    tt.refused,
				OnFallback: func(err error) { told = err },
			}
			got, err := f.Sockets(ctx)
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to hold %v", err, want)
				}
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sockets = %+v, want %+v", got, tt.want)
			}
			if f.Name() != tt.wantName || f.Used().Name() != tt.wantUsed || usedName(f) != tt.wantUsed {
				t.Errorf("Name, Used = %q, %q; want %q, %q", f.Name(), f.Used().Name(), tt.wantName, tt.wantUsed)
			}
			if told != tt.wantTold {
				t.Errorf("OnFallback heard %v, want %v", told, tt.wantTold)
			}
			if primaryReads != 1 || secondaryReads != tt.wantSecondaryReads {
				t.Errorf("reads: primary %d, secondary %d; want 1, %d", primaryReads, secondaryReads, tt.wantSecondaryReads)
			}
		})
	}
}

func TestParseSourceKind(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    SourceKind
		wantErr bool
	}{
		{"", SourceAuto, false}, {"auto", SourceAuto, false}, {"netlink", SourceNetlink, false}, {"proc", SourceProc, false},
		{"Proc", "", true}, {"sockdiag", "", true}, {" auto", "", true},
	} {
		got, err := ParseSourceKind(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseSourceKind(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestHostSource: the kind picks the host's source; a fixture tree
// implies /proc/net whatever auto would do live.
func TestHostSource(t *testing.T) {
	for _, tt := range []struct {
		kind SourceKind
		root string
		want string // the source's Go type
	}{
		{SourceAuto, "/proc", "*scan.Fallback"},
		{SourceAuto, "/proc/", "*scan.Fallback"},
		{SourceAuto, "../testdata/proc", "scan.ProcSource"},
		{SourceNetlink, "/proc", "scan.NetlinkSource"},
		{SourceProc, "/proc", "scan.ProcSource"},
	} {
		src := tt.kind.hostSource(tt.root, nil)
		if got := reflect.TypeOf(src).String(); got != tt.want {
			t.Errorf("%s on %s: %s, want %s", tt.kind, tt.root, got, tt.want)
		}
	}
}
