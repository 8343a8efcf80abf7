//go:build linux

package inspect

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// BenchmarkLiveCapture blasts UDP from the terminal namespace through the
// veth as fast as 1, 2 or 4 sender goroutines can write, for two seconds per
// iteration, while the inspector captures on the gateway side. It reports
// packets/s sent and captured and the kernel's ring drops.
//
//	go test -run '^$' -bench LiveCapture -benchtime 1x ./netctl/inspect
func BenchmarkLiveCapture(b *testing.B) {
	for _, senders := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sent, captured, drops, el := liveBlast(b, senders, 2*time.Second)
				b.ReportMetric(float64(sent)/el.Seconds(), "sent/s")
				b.ReportMetric(float64(captured)/el.Seconds(), "captured/s")
				b.ReportMetric(float64(drops), "drops")
			}
		})
	}
}

func liveBlast(b *testing.B, senders int, d time.Duration) (sent, captured, drops uint64, el time.Duration) {
	l := newLab(b)
	l.ip("-n", l.posNS, "addr", "add", liveTill+"/24", "dev", l.posIf)
	l.ip("-n", l.gwNS, "addr", "add", liveGw+"/24", "dev", l.gwIf)
	l.ip("-n", l.posNS, "link", "set", l.posIf, "up")
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "up")
	cfg := config.Defaults()
	cfg.LAN = config.LAN{Interface: l.gwIf, Address: liveGw + "/24"}
	cfg.Inspect.Interface = l.gwIf
	opened := make(chan struct{})
	in, err := New(ConfigFrom(&cfg), nil, Deps{Open: func() (Source, error) {
		var src *AFPacket
		err := l.in(l.gwNSH, func() (err error) { src, err = OpenAFPacket(l.gwIf, 50*time.Millisecond); return err })
		close(opened)
		return src, err
	}})
	if err != nil {
		b.Fatal(err)
	}
	// A sink so the gateway neither answers with ICMP nor queues.
	var sink net.PacketConn
	if err := l.in(l.gwNSH, func() (err error) { sink, err = net.ListenPacket("udp4", liveGw+":9"); return err }); err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	<-opened
	var conns []net.Conn
	for k := 0; k < senders; k++ {
		if err := l.in(l.posNSH, func() error {
			c, err := net.Dial("udp4", liveGw+":9")
			conns = append(conns, c)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Uint64
	var wg sync.WaitGroup
	payload := make([]byte, 64)
	start := time.Now()
	stop := start.Add(d)
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			defer c.Close()
			for k := 0; ; k++ {
				if k&255 == 0 && time.Now().After(stop) {
					return
				}
				if _, err := c.Write(payload); err == nil {
					n.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	el = time.Since(start)
	time.Sleep(300 * time.Millisecond) // let the ring drain
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	s := in.Snapshot()
	return n.Load(), s.Decode.Frames, s.Capture.Drops, el
}
