package inspect

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// FileSource is a Source reading a capture file: pcap (as tcpdump writes
// it, micro- or nanosecond) or pcapng (as tshark and dumpcap write it).
type FileSource struct {
	read    func() ([]byte, gopacket.CaptureInfo, error)
	packets uint64
	// Skipped counts frames of a link type other than Ethernet.
	Skipped uint64
	link    func(int) layers.LinkType
}

// pcapngMagic is the block type of a pcapng Section Header Block.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// OpenCapture reads a pcap or pcapng stream. Only Ethernet captures are
// understood (tcpdump -i lan0, not -i any).
func OpenCapture(r io.Reader) (*FileSource, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	if bytes.Equal(magic, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		f := &FileSource{read: ng.ReadPacketData}
		f.link = func(i int) layers.LinkType {
			if intf, err := ng.Interface(i); err == nil {
				return intf.LinkType
			}
			return ng.LinkType()
		}
		return f, checkLink(ng.LinkType())
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	lt := pr.LinkType()
	return &FileSource{read: pr.ReadPacketData, link: func(int) layers.LinkType { return lt }}, checkLink(lt)
}

func checkLink(lt layers.LinkType) error {
	if lt != layers.LinkTypeEthernet {
		return fmt.Errorf("capture link type %v: only Ethernet is understood; capture on the LAN interface (tcpdump -i lan0 -w FILE), not -i any", lt)
	}
	return nil
}

// ReadPacket implements Source; it returns io.EOF at the end.
func (f *FileSource) ReadPacket() ([]byte, time.Time, uint16, error) {
	for {
		data, ci, err := f.read()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, time.Time{}, 0, io.EOF
			}
			return nil, time.Time{}, 0, fmt.Errorf("capture file: %w", err)
		}
		if f.link(ci.InterfaceIndex) != layers.LinkTypeEthernet {
			f.Skipped++
			continue
		}
		f.packets++
		return data, ci.Timestamp, 0, nil
	}
}

// Stats implements Source.
func (f *FileSource) Stats() (CaptureStats, error) {
	return CaptureStats{Interface: "file", Packets: f.packets}, nil
}

// Close implements Source.
func (f *FileSource) Close() error { return nil }

// Name is one application name the inspector learnt.
type Name struct {
	// Kind is dns (a DNS answer's question), sni or http.
	Kind   string     `json:"kind"`
	Name   string     `json:"name"`
	Time   time.Time  `json:"time"`
	Client netip.Addr `json:"client"`
	Server netip.Addr `json:"server"`
}

// Report is what offline analysis found in a capture file.
type Report struct {
	Packets uint64 `json:"packets"`
	// Skipped frames are of a link type other than Ethernet.
	Skipped    uint64       `json:"skipped"`
	Devices    []Device     `json:"devices"`
	Flows      []Flow       `json:"flows"`
	Names      []Name       `json:"names"`
	Alarms     []Alarm      `json:"alarms"`
	PaymentIPs []netip.Addr `json:"payment_ips"`
	POS        []Terminal   `json:"pos"`
	Decode     DecodeStats  `json:"decode"`
	// Truncated says the capture held more flows or names than a report keeps.
	Truncated bool `json:"truncated,omitempty"`
}

// maxReportItems bounds each list of a report.
const maxReportItems = 1 << 20

// Analyze runs an inspector over a capture file with packet time as its
// clock, and reports every flow (ended or still open), name, device and
// alarm. gwctl inspect --pcap prints it.
func Analyze(ctx context.Context, r io.Reader, cfg Config, log *slog.Logger) (*Report, error) {
	src, err := OpenCapture(r)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	var last time.Time
	in, err := New(cfg, log, Deps{
		OnAlarm: func(a Alarm) { rep.Alarms = append(rep.Alarms, a) },
		Now:     func() time.Time { return last },
	})
	if err != nil {
		return nil, err
	}
	keep := func(n int) bool {
		if n >= maxReportItems {
			rep.Truncated = true
			return false
		}
		return true
	}
	in.onFlowEnd = func(f Flow) {
		if keep(len(rep.Flows)) {
			rep.Flows = append(rep.Flows, f)
		}
	}
	in.onName = func(n Name) {
		if keep(len(rep.Names)) {
			rep.Names = append(rep.Names, n)
		}
	}
	var nextTick time.Time
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		frame, ts, vlan, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		in.handle(frame, ts.UnixNano(), vlan)
		if ts.After(last) {
			last = ts
		}
		if !last.Before(nextTick) {
			in.Tick(last)
			nextTick = last.Add(time.Second)
		}
	}
	in.Tick(last)
	in.flows.each(func(f *flow) { in.onFlowEnd(in.flowView(f)) })
	slices.SortStableFunc(rep.Flows, func(a, b Flow) int { return a.First.Compare(b.First) })
	s := in.Snapshot()
	rep.Packets, rep.Skipped = src.packets, src.Skipped
	rep.Devices, rep.PaymentIPs, rep.POS, rep.Decode = s.Devices, s.PaymentIPs, s.POS, s.Decode
	return rep, nil
}

// NameSet returns the distinct names of a kind in a report, sorted: what
// the accuracy test compares with tshark's.
func (r *Report) NameSet(kind string) []string {
	var out []string
	for _, n := range r.Names {
		if n.Kind == kind {
			out = append(out, n.Name)
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return slices.Compact(out)
}
