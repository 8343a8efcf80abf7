//go:build linux

package zones

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// store is the lab topology:
//
//	[pos] [office] [guest]     198.18.10.0/26, .64/26, .128/25
//	    \    |     /
//	      [ gw ]               the box: this package's firewall
//	    wan1    wan2           198.51.100.2/24, 203.0.113.2/24
//	       \    /
//	      [ cloud ]            the ISPs and the internet: 192.0.2.10 (any
//	                           server), .20 (payment host), .123 (allowlisted)
type store struct {
	prefix                          string
	gw, pos, office, guest, cloud   netns.NsHandle
	gwName, cloudName, guestName    string
	wan1, wan2, ifPOS, ifOff, ifGst string
}

// Addresses of the lab.
const (
	gwPOS     = "198.18.10.1"
	gwOffice  = "198.18.10.65"
	gwGuest   = "198.18.10.129"
	gwWAN1    = "198.51.100.2"
	gwWAN2    = "203.0.113.2"
	hostPOS   = "198.18.10.11"
	hostOff   = "198.18.10.70"
	hostGst   = "198.18.10.140"
	ispWAN1   = "198.51.100.1"
	ispWAN2   = "203.0.113.1"
	netServer = "192.0.2.10"
	netPay    = "192.0.2.20"
	netAllow  = "192.0.2.123"
	pagePort  = "8080"
)

func newStore(t testing.TB) *store {
	t.Helper()
	needLab(t)
	p := randomPrefix(t)
	s := &store{prefix: p, gwName: p + "gw", cloudName: p + "cld", guestName: p + "gst",
		wan1: p + "w1", wan2: p + "w2", ifPOS: p + "p", ifOff: p + "o", ifGst: p + "g"}
	s.gw = addNS(t, s.gwName)
	s.pos = addNS(t, p+"pos")
	s.office = addNS(t, p+"off")
	s.guest = addNS(t, s.guestName)
	s.cloud = addNS(t, s.cloudName)

	host := func(ns, gwIf, gwAddr, hostAddr, bits string) {
		h := p + "h"
		ipCmd(t, "-n", s.gwName, "link", "add", gwIf, "type", "veth", "peer", "name", h, "netns", ns)
		ipCmd(t, "-n", s.gwName, "addr", "add", gwAddr+"/"+bits, "dev", gwIf)
		ipCmd(t, "-n", s.gwName, "link", "set", gwIf, "up")
		ipCmd(t, "-n", ns, "addr", "add", hostAddr+"/"+bits, "dev", h)
		ipCmd(t, "-n", ns, "link", "set", h, "up")
		ipCmd(t, "-n", ns, "route", "add", "default", "via", gwAddr)
	}
	host(p+"pos", s.ifPOS, gwPOS, hostPOS, "26")
	host(p+"off", s.ifOff, gwOffice, hostOff, "26")
	host(s.guestName, s.ifGst, gwGuest, hostGst, "25")

	wan := func(gwIf, cloudIf, gwAddr, ispAddr string) {
		ipCmd(t, "-n", s.gwName, "link", "add", gwIf, "type", "veth", "peer", "name", cloudIf, "netns", s.cloudName)
		ipCmd(t, "-n", s.gwName, "addr", "add", gwAddr+"/24", "dev", gwIf)
		ipCmd(t, "-n", s.gwName, "link", "set", gwIf, "up")
		ipCmd(t, "-n", s.cloudName, "addr", "add", ispAddr+"/24", "dev", cloudIf)
		ipCmd(t, "-n", s.cloudName, "link", "set", cloudIf, "up")
	}
	wan(s.wan1, p+"c1", gwWAN1, ispWAN1)
	wan(s.wan2, p+"c2", gwWAN2, ispWAN2)
	ipCmd(t, "-n", s.gwName, "route", "add", "default", "via", ispWAN1)
	for _, a := range []string{netServer, netPay, netAllow} {
		ipCmd(t, "-n", s.cloudName, "addr", "add", a+"/32", "dev", "lo")
	}
	// The ISP side knows a route into the store, so an inbound attempt
	// reaches the box and only the firewall can stop it.
	ipCmd(t, "-n", s.cloudName, "route", "add", "198.18.10.0/24", "via", gwWAN1)
	ipCmd(t, "netns", "exec", s.gwName, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")

	for _, h := range []struct {
		ns   netns.NsHandle
		addr string
	}{{s.pos, hostPOS}, {s.office, hostOff}, {s.guest, hostGst}} {
		serveTCP(t, h.ns, h.addr+":7000")
		serveUDP(t, h.ns, h.addr+":7000")
	}
	for _, a := range []string{gwPOS, gwOffice, gwGuest, gwWAN1} {
		for _, port := range []string{"53", "2222"} {
			serveTCP(t, s.gw, a+":"+port)
			serveUDP(t, s.gw, a+":"+port)
		}
		serveUDP(t, s.gw, a+":123")
	}
	serveTCP(t, s.gw, gwOffice+":"+pagePort)
	for _, a := range []string{netServer, netPay, netAllow} {
		serveTCP(t, s.cloud, a+":7000")
		serveUDP(t, s.cloud, a+":7000")
		serveTCP(t, s.cloud, a+":443")
		serveUDP(t, s.cloud, a+":123")
	}
	return s
}

// config is the firewall config of the lab, POS strict or not.
func (s *store) config(strict bool) Config {
	return Config{
		WANs: []string{s.wan1, s.wan2},
		Zones: []Zone{
			{Name: "pos", Interface: s.ifPOS, Subnet: netip.MustParsePrefix("198.18.10.0/26"), Strict: strict,
				Allow: []netip.Prefix{netip.MustParsePrefix(netAllow + "/32")}},
			{Name: "office", Interface: s.ifOff, Subnet: netip.MustParsePrefix("198.18.10.64/26")},
			{Name: "guest", Interface: s.ifGst, Subnet: netip.MustParsePrefix("198.18.10.128/25")},
		},
		StatusPage: netip.MustParseAddrPort(gwOffice + ":" + pagePort),
	}
}

// firewall builds a firewall in the gw namespace with a per-run table name
// and removes its table when the test ends.
func (s *store) firewall(t testing.TB, cfg Config, emit func(Event)) *Firewall {
	t.Helper()
	f, err := New(cfg, testLogger(), Options{TablePrefix: s.prefix, NetNS: int(s.gw), Emit: emit, DropEventInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Cleanup(s.prefix, int(s.gw)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return f
}

func testLogger() *slog.Logger {
	if os.Getenv("ZONES_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
