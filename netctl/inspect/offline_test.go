package inspect

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestAnalyze(t *testing.T) {
	frames := conversationFrames()
	write := map[string]func(*bytes.Buffer) func([]byte, time.Time){
		"pcap": func(b *bytes.Buffer) func([]byte, time.Time) {
			w := pcapgo.NewWriterNanos(b)
			if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			return func(f []byte, ts time.Time) {
				_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f)
			}
		},
		"pcapng": func(b *bytes.Buffer) func([]byte, time.Time) {
			w, err := pcapgo.NewNgWriter(b, layers.LinkTypeEthernet)
			if err != nil {
				t.Fatal(err)
			}
			return func(f []byte, ts time.Time) {
				_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f)
				_ = w.Flush()
			}
		},
	}
	for format, mk := range write {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			wr := mk(&b)
			ts := t0
			for _, f := range frames {
				wr(f, ts)
				ts = ts.Add(10 * time.Millisecond)
			}
			rep, err := Analyze(context.Background(), &b, testConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Packets != uint64(len(frames)) || len(rep.Flows) == 0 || len(rep.Devices) == 0 {
				t.Errorf("packets %d flows %d devices %d", rep.Packets, len(rep.Flows), len(rep.Devices))
			}
			if got := rep.NameSet("sni"); !slices.Equal(got, []string{"pay.lab.example"}) {
				t.Errorf("sni %q", got)
			}
			if got := rep.NameSet("http"); !slices.Equal(got, []string{"www.lab.example"}) {
				t.Errorf("http %q", got)
			}
			if got := rep.NameSet("dns"); !slices.Equal(got, []string{"pay.lab.example"}) {
				t.Errorf("dns %q", got)
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"pay.lab.example", "sni", "payment", "www.lab.example", "Verifone", "till-1", "tcp/vlan20"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text report lacks %q:\n%s", want, text.String())
				}
			}
			if !slices.IsSortedFunc(rep.Flows, func(a, b Flow) int { return a.First.Compare(b.First) }) {
				t.Error("flows not in order of first packet")
			}
		})
	}
}

func TestAnalyzeRejects(t *testing.T) {
	var sll bytes.Buffer
	w := pcapgo.NewWriter(&sll)
	_ = w.WriteFileHeader(65536, layers.LinkTypeLinuxSLL)
	for name, in := range map[string][]byte{
		"empty":          nil,
		"not a capture":  []byte("this is not a capture file at all"),
		"linux cooked":   sll.Bytes(),
		"pcapng garbage": append([]byte{0x0a, 0x0d, 0x0d, 0x0a}, make([]byte, 40)...),
	} {
		_, err := Analyze(context.Background(), bytes.NewReader(in), testConfig(), nil)
		if err == nil {
			t.Errorf("%s: analyzed", name)
		} else if name == "linux cooked" && !strings.Contains(err.Error(), "tcpdump -i lan0") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
