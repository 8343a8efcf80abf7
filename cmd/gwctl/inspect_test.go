package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeDNSPcap writes one DNS answer (pay.lab.example -> 203.0.113.7) from
// the LAN resolver to a till, as tcpdump on the LAN would record it.
func writeDNSPcap(t *testing.T, path string) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 16, 1},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{198, 18, 10, 1}, DstIP: net.IP{198, 18, 10, 11}}
	udp := &layers.UDP{SrcPort: 53, DstPort: 40000}
	udp.SetNetworkLayerForChecksum(ip)
	dns := &layers.DNS{ID: 7, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte("pay.lab.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{{Name: []byte("pay.lab.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN,
			TTL: 300, IP: net.IP{203, 0, 113, 7}}}}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, dns); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), CaptureLength: len(data), Length: len(data)}
	if err := w.WritePacket(ci, data); err != nil {
		t.Fatal(err)
	}
}

func TestInspectPcap(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "lan.pcap")
	writeDNSPcap(t, pcap)
	example, _ := filepath.Abs("../../gateway/config/example.yaml")
	var out, errb bytes.Buffer
	if code := run([]string{"inspect", "-pcap", pcap, "-config", example, "-json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Packets    int `json:"packets"`
		Names      []struct{ Kind, Name string }
		PaymentIPs []string `json:"payment_ips"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if rep.Packets != 1 || len(rep.Names) != 1 || rep.Names[0].Name != "pay.lab.example" {
		t.Errorf("report: %+v", rep)
	}
	if len(rep.PaymentIPs) != 1 || rep.PaymentIPs[0] != "203.0.113.7" {
		t.Errorf("payment IPs %v (pay.lab.example is a payment domain in the example)", rep.PaymentIPs)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, 2, "usage: gwctl inspect"},
		{[]string{"inspect", "-pcap", filepath.Join(dir, "none.pcap"), "-config", example}, 1, "no such file"},
		{[]string{"inspect", "-pcap", example, "-config", example}, 1, "gwctl inspect:"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, nil, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, %q", tc.args, code, errb.String())
		}
	}
}
