package inspect

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints a report for a technician: devices, flows with their
// names and categories, POS terminals, alarms. gwctl inspect --pcap uses
// it; --json encodes the Report instead.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%d packets, %d flows, %d devices, %d alarms", r.Packets, len(r.Flows), len(r.Devices), len(r.Alarms))
	if r.Skipped > 0 {
		fmt.Fprintf(tw, " (%d non-Ethernet frames skipped)", r.Skipped)
	}
	if r.Truncated {
		fmt.Fprint(tw, " (truncated)")
	}
	fmt.Fprint(tw, "\n\nDEVICES\nMAC\tIPS\tVENDOR\tHOSTNAME\tTERMINAL\tBYTES\n")
	for _, d := range r.Devices {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", d.MAC, addrs(d.IPs), dash(d.Vendor), dash(d.Hostname), dash(d.Terminal), d.Bytes)
	}
	fmt.Fprint(tw, "\nFLOWS\nPROTO\tCLIENT\tSERVER\tNAME\tFROM\tCATEGORY\tUP\tDOWN\tSTATE\tRTT\tRETRANS\n")
	for _, f := range r.Flows {
		proto := f.Proto
		if f.VLAN != 0 {
			proto = fmt.Sprintf("%s/vlan%d", f.Proto, f.VLAN)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d/%d\n", proto,
			netip.AddrPortFrom(f.Client, f.ClientPort), netip.AddrPortFrom(f.Server, f.ServerPort), dash(f.Name),
			dash(f.NameFrom), dash(f.Category), f.BytesUp, f.BytesDown, dash(f.State), dur(f.HandshakeRTT), f.RetransUp, f.RetransDown)
	}
	if len(r.POS) > 0 {
		fmt.Fprint(tw, "\nPOS\nTERMINAL\tHEALTH\tHANDSHAKES\tFAILED\tAVG\tMAX\tRETRANSMITS\tLAST SUCCESS\n")
		for _, p := range r.POS {
			health := "ok"
			if p.Degraded {
				health = "degraded: " + p.Reason
			}
			last := "-"
			if !p.LastSuccess.IsZero() {
				last = p.LastSuccess.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d/%d\t%s\n", p.Name, health, p.Handshakes, p.Failed,
				dur(p.AvgHS), dur(p.MaxHS), p.Retransmits, p.Segments, last)
		}
	}
	fmt.Fprint(tw, "\nALARMS\n")
	for _, a := range r.Alarms {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Time.UTC().Format(time.RFC3339Nano), a.Kind, a.Detail)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Microsecond).String()
}

func addrs(ips []netip.Addr) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return dash(strings.Join(s, ","))
}
