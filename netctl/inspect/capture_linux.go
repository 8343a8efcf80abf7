//go:build linux

package inspect

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket/afpacket"
)

// Ring geometry: 8 blocks of 1 MiB hold a few thousand full-size frames,
// enough to ride out a scheduling hiccup at LAN rates on a small box.
const (
	ringBlockSize = 1 << 20
	ringBlocks    = 8
	ringFrameSize = 2048
	// ringBlockTimeout hands a partly filled block to us after this long,
	// so a quiet LAN still sees its packets promptly.
	ringBlockTimeout = 20 * time.Millisecond
)

// AFPacket is a read-only TPACKET_V3 capture on one interface.
type AFPacket struct {
	iface string
	tp    *afpacket.TPacket
}

// OpenAFPacket opens a TPACKET_V3 ring on iface in the calling thread's
// network namespace. It never transmits; ReadPacket returns ErrTimeout
// after pollTimeout without packets.
func OpenAFPacket(iface string, pollTimeout time.Duration) (*AFPacket, error) {
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(ringFrameSize),
		afpacket.OptBlockSize(ringBlockSize),
		afpacket.OptNumBlocks(ringBlocks),
		afpacket.OptBlockTimeout(ringBlockTimeout),
		afpacket.OptPollTimeout(pollTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET TPACKET_V3 on %s: %w", iface, err)
	}
	// Counters from before now (the socket existed unbound briefly) are noise.
	_ = tp.InitSocketStats()
	return &AFPacket{iface: iface, tp: tp}, nil
}

// ReadPacket implements Source; the frame is valid until the next call.
func (a *AFPacket) ReadPacket() ([]byte, time.Time, uint16, error) {
	data, ci, err := a.tp.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, afpacket.ErrTimeout) {
			return nil, time.Time{}, 0, ErrTimeout
		}
		return nil, time.Time{}, 0, err
	}
	var vlan uint16
	for _, ad := range ci.AncillaryData {
		if v, ok := ad.(afpacket.AncillaryVLAN); ok {
			vlan = uint16(v.VLAN)
		}
	}
	return data, ci.Timestamp, vlan, nil
}

// Stats implements Source with the kernel's PACKET_STATISTICS counters.
func (a *AFPacket) Stats() (CaptureStats, error) {
	_, v3, err := a.tp.SocketStats()
	if err != nil {
		return CaptureStats{Interface: a.iface}, fmt.Errorf("PACKET_STATISTICS on %s: %w", a.iface, err)
	}
	return CaptureStats{Interface: a.iface, Packets: uint64(v3.Packets()), Drops: uint64(v3.Drops()),
		QueueFreezes: uint64(v3.QueueFreezes())}, nil
}

// Close implements Source.
func (a *AFPacket) Close() error {
	a.tp.Close()
	return nil
}

func (in *Inspector) openAFPacket() (Source, error) {
	name := in.cfg.Inspect.Interface
	if ifi, err := net.InterfaceByName(name); err == nil {
		in.addSelf(ifi.HardwareAddr)
		// The gateway's own addresses (IPv6 ones included) are not
		// destinations to alarm about, nor device addresses.
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && !slices.Contains(in.selfIPs, p.Addr()) {
				in.selfIPs = append(in.selfIPs, p.Addr().Unmap())
			}
		}
	}
	return OpenAFPacket(name, PollTimeout)
}
