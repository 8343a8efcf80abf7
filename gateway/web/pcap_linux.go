//go:build linux

package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// CapturePcap returns a Capture action (ActionFuncs.CaptureFunc) that
// records iface for d as a pcap file, through its own small AF_PACKET ring
// (4 MiB), beside whatever else captures there. It needs CAP_NET_RAW.
func CapturePcap(iface string) func(ctx context.Context, w io.Writer, d time.Duration) error {
	return func(ctx context.Context, w io.Writer, d time.Duration) error {
		tp, err := afpacket.NewTPacket(afpacket.OptInterface(iface), afpacket.TPacketVersion3,
			afpacket.OptFrameSize(1<<16), afpacket.OptBlockSize(1<<20), afpacket.OptNumBlocks(4),
			afpacket.OptBlockTimeout(100*time.Millisecond), afpacket.OptPollTimeout(200*time.Millisecond))
		if err != nil {
			return fmt.Errorf("capture on %s: %w", iface, err)
		}
		defer tp.Close()
		pw := pcapgo.NewWriter(w)
		if err := pw.WriteFileHeader(1<<16, layers.LinkTypeEthernet); err != nil {
			return fmt.Errorf("capture on %s: %w", iface, err)
		}
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			data, ci, err := tp.ReadPacketData()
			switch {
			case errors.Is(err, afpacket.ErrTimeout):
				continue
			case err != nil:
				return fmt.Errorf("capture on %s: %w", iface, err)
			}
			if err := pw.WritePacket(ci, data); err != nil {
				return err // the bundle's size cap, or the writer failed
			}
		}
		return nil
	}
}
