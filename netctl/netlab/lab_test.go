//go:build linux

package netlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/dns/dnsmessage"
)

// echo sends msg over c and reads it back.
func echo(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo: got %q, want %q", buf, msg)
	}
	return nil
}

func TestLabStoreReachesCloud(t *testing.T) {
	l := ForTest(t, Options{})
	ServicesForTest(t, l, ServiceOptions{})
	ctx := context.Background()

	tests := []struct {
		name string
		from Node
		run  func(t *testing.T, from Node) error
	}{
		{"tcp echo through NAT", POS1, func(t *testing.T, from Node) error {
			c, err := l.Dial(ctx, from, "tcp4", fmt.Sprintf("%s:%d", Server, EchoPort))
			if err != nil {
				return err
			}
			defer c.Close()
			return echo(c, "sale 12.50\n")
		}},
		{"tcp is reno, whatever the host's", Cloud, func(t *testing.T, from Node) error {
			var cc []byte
			err := l.Do(from, func() (err error) {
				cc, err = os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
				return err
			})
			if err == nil && strings.TrimSpace(string(cc)) != "reno" {
				err = fmt.Errorf("tcp_congestion_control %q", strings.TrimSpace(string(cc)))
			}
			return err
		}},
		{"udp echo", Guest, func(t *testing.T, from Node) error {
			c, err := l.Dial(ctx, from, "udp4", fmt.Sprintf("%s:%d", TargetB, EchoPort))
			if err != nil {
				return err
			}
			defer c.Close()
			return echo(c, "ping")
		}},
		{"http health", Office, func(t *testing.T, from Node) error {
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return l.Dial(ctx, from, network, addr)
			}}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 3 * time.Second}).Get(fmt.Sprintf("http://%s/health", WebServer))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			line, _ := bufio.NewReader(resp.Body).ReadString('\n')
			if resp.StatusCode != 200 || line != "ok\n" {
				return fmt.Errorf("got %d %q", resp.StatusCode, line)
			}
			return nil
		}},
		{"dns lab name", POS2, func(t *testing.T, from Node) error {
			c, err := l.Dial(ctx, from, "udp4", fmt.Sprintf("%s:%d", DNSServer, DNSPort))
			if err != nil {
				return err
			}
			defer c.Close()
			q := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true},
				Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName("pay.lab.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}}
			b, _ := q.Pack()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(b); err != nil {
				return err
			}
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			var m dnsmessage.Message
			if err := m.Unpack(buf[:n]); err != nil {
				return err
			}
			if len(m.Answers) != 1 || m.Answers[0].Body.(*dnsmessage.AResource).A != Payment.As4() {
				return fmt.Errorf("answers %v", m.Answers)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(t, tc.from); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// udpLoss sends n datagrams from pos1 to the cloud echo and returns the
// fraction that came back.
func udpLoss(t *testing.T, l *Lab, n int) float64 {
	t.Helper()
	c, err := l.Dial(context.Background(), POS1, "udp4", fmt.Sprintf("%s:%d", Server, EchoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan int)
	go func() {
		seen := map[string]bool{}
		buf := make([]byte, 64)
		for {
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			k, err := c.Read(buf)
			if err != nil {
				done <- len(seen)
				return
			}
			seen[string(buf[:k])] = true
		}
	}()
	for i := range n {
		_, _ = fmt.Fprintf(c, "%d", i)
		time.Sleep(time.Millisecond)
	}
	got := <-done
	return 1 - float64(got)/float64(n)
}

func TestLabImpairments(t *testing.T) {
	l := ForTest(t, Options{})
	ServicesForTest(t, l, ServiceOptions{})
	if loss := udpLoss(t, l, 20); loss != 0 {
		t.Fatalf("clean line lost %.0f%%", loss*100)
	}

	t.Run("random loss", func(t *testing.T) {
		if err := l.Loss(0, 30); err != nil {
			t.Fatal(err)
		}
		// 30% each way: 51% round trip expected; the bounds are wide so
		// randomness never fails the test.
		loss := udpLoss(t, l, 200)
		if loss < 0.25 || loss > 0.8 {
			t.Errorf("30%% loss each way: round-trip loss %.0f%%", loss*100)
		}
		if err := l.Restore(0); err != nil {
			t.Fatal(err)
		}
		if loss := udpLoss(t, l, 20); loss != 0 {
			t.Errorf("after restore lost %.0f%%", loss*100)
		}
	})

	t.Run("black hole spares the first hop", func(t *testing.T) {
		if err := l.BlackHole(0, true); err != nil {
			t.Fatal(err)
		}
		defer l.Restore(0)
		if loss := udpLoss(t, l, 5); loss != 1 {
			t.Errorf("black hole let %.0f%% through", (1-loss)*100)
		}
		// isp1 itself still answers a TCP connect (RST is an answer).
		_, err := l.Dial(context.Background(), GW, "tcp4", WAN[0].ISPAddr.String()+":9")
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("first hop: want connection refused, got %v", err)
		}
	})

	t.Run("carrier loss", func(t *testing.T) {
		if err := l.Carrier(0, false); err != nil {
			t.Fatal(err)
		}
		h, err := l.Handle(GW)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		link, err := h.LinkByName(WAN1If)
		if err != nil {
			t.Fatal(err)
		}
		if link.Attrs().RawFlags&0x10000 != 0 || link.Attrs().OperState == netlink.OperUp {
			t.Errorf("wan1 still has carrier: %v", link.Attrs().OperState)
		}
		if err := l.Carrier(0, true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rate change", func(t *testing.T) {
		want := ISPShape{Down: Shape{RateBits: 8e6}, Up: Shape{RateBits: 2e6}}
		if err := l.SetRate(1, want); err != nil {
			t.Fatal(err)
		}
		if err := l.readShape(1); err != nil {
			t.Fatal(err)
		}
		got := l.Shapes()[1]
		if got.Down.RateBits != want.Down.RateBits || got.Up.RateBits != want.Up.RateBits {
			t.Errorf("rates in the kernel: %+v, want %+v", got, want)
		}
	})
}

func TestCleanRemovesLeftovers(t *testing.T) {
	l := ForTest(t, Options{})
	// Another process attaching and releasing must leave the lab alone.
	other, err := Attach(l.Prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.Release()
	if left, _ := Leftovers(l.Prefix); len(left) != len(Nodes) {
		t.Fatalf("after Release: %d namespaces, want %d", len(left), len(Nodes))
	}
	// A crashed run: nothing closed, Clean finds and removes it all.
	if err := Clean(l.Prefix, nil); err != nil {
		t.Fatal(err)
	}
	if left, _ := Leftovers(l.Prefix); len(left) != 0 {
		t.Fatalf("after Clean: %v", left)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
	}{
		{"bad prefix", func() error { _, err := New(context.Background(), Options{Prefix: "x; rm"}); return err }},
		{"clean bad prefix", func() error { return Clean("../etc", nil) }},
		{"attach bad prefix", func() error { _, err := Attach("bgl", nil); return err }},
		{"wan name", func() error { _, err := WANIndex("wan9"); return err }},
		{"dns garbage", func() error { _, err := DNSAnswer([]byte{1, 2, 3}); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err() == nil {
				t.Fatal("want an error")
			}
		})
	}
}

// The lab's broker is a real mosquitto: an MQTT 3.1.1 CONNECT from a store
// host through the gateway's NAT gets a CONNACK that accepts it.
func TestLabBroker(t *testing.T) {
	l := ForTest(t, Options{})
	s := ServicesForTest(t, l, ServiceOptions{Mosquitto: true})
	if s.Broker() == nil || s.Broker().URL != fmt.Sprintf("tcp://%s:%d", Server, MQTTPort) {
		t.Fatalf("broker: %+v", s.Broker())
	}
	c, err := l.Dial(context.Background(), Office, "tcp4", fmt.Sprintf("%s:%d", Server, MQTTPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connect := []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 4, 't', 'e', 's', 't'}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		t.Fatal(err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK % x, want 20 02 00 00", ack)
	}
}
