//go:build linux

package web

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// TestCapturePcap records the lab gateway's LAN while the office PC sends
// datagrams to it, and reads them back from the pcap.
func TestCapturePcap(t *testing.T) {
	l := netlab.ForTest(t, netlab.Options{})
	var stop atomic.Bool
	sent := make(chan int)
	go func() {
		n := 0
		defer func() { sent <- n }()
		c, err := l.Dial(context.Background(), netlab.Office, "udp", fmt.Sprintf("%s:9", netlab.GWLAN))
		if err != nil {
			return
		}
		defer c.Close()
		for !stop.Load() {
			c.Write([]byte("branchgw-capture-test"))
			n++
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var buf bytes.Buffer
	err := l.Do(netlab.GW, func() error {
		return CapturePcap(netlab.LANIf)(context.Background(), &buf, time.Second)
	})
	stop.Store(true)
	if n := <-sent; n == 0 {
		t.Fatal("nothing sent")
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatalf("not a pcap: %v", err)
	}
	found := 0
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && u.DstPort == 9 &&
			bytes.Equal(u.Payload, []byte("branchgw-capture-test")) {
			found++
		}
	}
	if found < 5 {
		t.Errorf("%d test datagrams in the capture, want most of a second's worth", found)
	}
	// A bad interface is a clear error.
	if err := CapturePcap("nosuch0")(context.Background(), &buf, time.Second); err == nil {
		t.Error("capture on a missing interface succeeded")
	}
}
