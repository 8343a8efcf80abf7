//go:build linux

package scenario

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// joiner makes new devices appear on the POS subnet: each is a fresh MAC
// with an address there that sends one DNS query to a public resolver
// through the gateway. The gateway's inspection sees an unknown device
// (new_device alarm) using a foreign resolver (dns_resolver alarm). Frames
// are written on pos2's port of the LAN bridge with an AF_PACKET socket,
// so no namespace or link is made per device.
type joiner struct {
	fd    int
	ifidx int
	gwMAC net.HardwareAddr

	mu     sync.Mutex
	joined int
}

func newJoiner(l *netlab.Lab) (*joiner, error) {
	h, err := l.Handle(netlab.GW)
	if err != nil {
		return nil, err
	}
	lan, err := h.LinkByName(netlab.LANIf)
	h.Close()
	if err != nil {
		return nil, fmt.Errorf("devices: gateway %s: %w", netlab.LANIf, err)
	}
	j := &joiner{fd: -1, gwMAC: lan.Attrs().HardwareAddr}
	err = l.Do(netlab.POS2, func() error {
		ifi, err := net.InterfaceByName(netlab.HostIf)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		j.fd, j.ifidx = fd, ifi.Index
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devices: raw socket in pos2: %w", err)
	}
	return j, nil
}

func (j *joiner) close() {
	if j.fd >= 0 {
		unix.Close(j.fd)
	}
}

// join makes one new device appear.
func (j *joiner) join() error {
	j.mu.Lock()
	n := j.joined
	j.joined++
	j.mu.Unlock()
	var mac [6]byte
	_, _ = rand.Read(mac[:])
	mac[0] = 0x02 // locally administered, unicast
	// Addresses .20 to .59 of the POS subnet (198.18.10.0/26): free of the
	// tills (.11, .12) and the gateway.
	src := netip.AddrFrom4([4]byte{198, 18, 10, byte(20 + n%40)})
	q, err := dnsQuery(uint16(n), "probe.lab.example.")
	if err != nil {
		return err
	}
	frame := udpFrame(j.gwMAC, mac[:], src, netlab.DNSServer, uint16(30000+n%30000), netlab.DNSPort, q)
	return unix.Sendto(j.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: j.ifidx, Halen: 6,
		Addr: [8]byte{j.gwMAC[0], j.gwMAC[1], j.gwMAC[2], j.gwMAC[3], j.gwMAC[4], j.gwMAC[5]}})
}

// udpFrame builds an Ethernet/IPv4/UDP frame (UDP checksum 0: allowed
// over IPv4).
func udpFrame(dst, src net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	s4, d4 := sip.As4(), dip.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return f
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// run joins one device every `every` until ctx ends; burst() raises the
// rate to rate per second while its context lasts.
func (j *joiner) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = j.join()
		}
	}
}

func (j *joiner) burst(ctx context.Context, rate int) {
	t := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = j.join()
		}
	}
}

func (j *joiner) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.joined
}
