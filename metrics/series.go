package metrics

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/planetdeps/planet/snapshot"
)

// The series reader: what a series of one of the families, as Prometheus
// returns it (its labels by name), says. Each Read function checks the
// labels the family's records cannot do without and returns an error
// naming the first one at fault; other labels are taken as they are
// (empty when absent).

// ConnectionSeries is a series of Upstream or Downstream.
type ConnectionSeries struct {
	Direction       snapshot.Direction // Upstream's series are upstream
	LocalAddress    string
	LocalHostgroup  string
	Port            uint16
	Process         string
	Protocol        string
	RemoteAddress   string
	RemoteHostgroup string
	Workload        string
}

// ReadConnection reads a series of family (Upstream.Name or
// Downstream.Name). port must be a port number; protocol and
// remote_address must be there.
func ReadConnection(family string, labels map[string]string) (ConnectionSeries, error) {
	port, err := readPort(labels)
	if err != nil {
		return ConnectionSeries{}, err
	}
	if labels[LabelProtocol] == "" || labels[LabelRemoteAddress] == "" {
		return ConnectionSeries{}, errors.New("no protocol or remote_address")
	}
	dir := snapshot.Upstream
	if family == Downstream.Name {
		dir = snapshot.Downstream
	}
	return ConnectionSeries{
		Direction: dir, LocalAddress: labels[LabelLocalAddress], LocalHostgroup: labels[LabelLocalHostgroup],
		Port: port, Process: labels[LabelProcessName], Protocol: labels[LabelProtocol],
		RemoteAddress: labels[LabelRemoteAddress], RemoteHostgroup: labels[LabelRemoteHostgroup], Workload: labels[LabelWorkload],
	}, nil
}

// ServerSeries is a series of ServerProcess.
type ServerSeries struct {
	Bind           netip.Addr // the address of the bind label's IP:port
	LocalHostgroup string
	Port           uint16
	Process        string
	Protocol       string
	Workload       string
}

// ReadServer reads a series of ServerProcess: port must be a port number
// and bind an IP:port.
func ReadServer(labels map[string]string) (ServerSeries, error) {
	port, err := readPort(labels)
	if err != nil {
		return ServerSeries{}, err
	}
	addr, err := bindAddr(labels[LabelBind])
	if err != nil {
		return ServerSeries{}, err
	}
	return ServerSeries{Bind: addr, LocalHostgroup: labels[LabelLocalHostgroup], Port: port,
		Process: labels[LabelProcessName], Protocol: labels[LabelProtocol], Workload: labels[LabelWorkload]}, nil
}

// TrafficSeries is a series of Traffic.
type TrafficSeries struct {
	RemoteIP        netip.Addr // unmapped
	Direction       string     // as labelled: Egress, Ingress, or anything (the caller checks)
	LocalDomain     string
	LocalHostgroup  string
	RemoteDomain    string
	RemoteHostgroup string
}

// ReadTraffic reads a series of Traffic: remote_ip must be an IP address.
func ReadTraffic(labels map[string]string) (TrafficSeries, error) {
	ip, err := netip.ParseAddr(labels[LabelRemoteIP])
	if err != nil {
		return TrafficSeries{}, fmt.Errorf("remote_ip %q", labels[LabelRemoteIP])
	}
	return TrafficSeries{RemoteIP: ip.Unmap(), Direction: labels[LabelDirection],
		LocalDomain: labels[LabelLocalDomain], LocalHostgroup: labels[LabelLocalHostgroup],
		RemoteDomain: labels[LabelRemoteDomain], RemoteHostgroup: labels[LabelRemoteHostgroup]}, nil
}

// ReadScanSuccess reads a series of ScanSuccess: the source it is about,
// which must be there.
func ReadScanSuccess(labels map[string]string) (source string, err error) {
	if labels[LabelSource] == "" {
		return "", errors.New("no source label")
	}
	return labels[LabelSource], nil
}

func readPort(labels map[string]string) (uint16, error) {
	port, err := strconv.ParseUint(labels[LabelPort], 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q", labels[LabelPort])
	}
	return uint16(port), nil
}

// bindAddr is the address of a bind label, IP:port without brackets
// (":::9100" is the IPv6 wildcard), as snapshot.Listener.Bind writes it.
func bindAddr(bind string) (netip.Addr, error) {
	i := strings.LastIndexByte(bind, ':')
	if i < 0 {
		return netip.Addr{}, fmt.Errorf("bind %q", bind)
	}
	a, err := netip.ParseAddr(bind[:i])
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bind %q", bind)
	}
	return a, nil
}
