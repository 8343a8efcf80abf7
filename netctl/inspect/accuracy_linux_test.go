//go:build linux

package inspect

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

const (
	v6Till = "2001:db8:10::11" // IPv6 documentation prefix (RFC 3849)
	v6Gw   = "2001:db8:10::1"
)

// TestAccuracyAgainstTshark: real traffic (DNS, TLS 1.3 with an ML-KEM key
// share, HTTP, IPv6, a VLAN-tagged segment, a ClientHello in small
// segments delivered out of order) is captured by tcpdump while the live
// inspector watches. The DNS names, server names and HTTP hosts that the
// offline analysis of the pcap (and of its pcapng conversion) reports
// must equal tshark's, and the live inspector's.
func TestAccuracyAgainstTshark(t *testing.T) {
	tcpdump := testenv.NeedCommand(t, "tcpdump")
	tshark := testenv.NeedCommand(t, "tshark")
	editcap := testenv.NeedCommand(t, "editcap")
	lr := startLive(t, nil)
	l := lr.lab

	dir := t.TempDir()
	pcap := filepath.Join(dir, "lan.pcap")
	stop := startTcpdump(t, tcpdump, l, pcap)

	// Real traffic from the terminal namespace.
	dnsQuery(t, l, liveGw, "pay.lab.example")
	dnsQuery(t, l, liveGw, "www.lab.example")
	tlsPing(t, l, lr.servers, livePay, "pay.lab.example", 0)
	tlsPing(t, l, lr.servers, livePay, "small.acquirer.lab.example", 536)
	httpGet(t, l, liveWeb, "www.lab.example")
	httpGet(t, l, "["+v6Gw+"]", "v6.lab.example")
	tlsPing(t, l, lr.servers, "["+v6Gw+"]", "v6.lab.example", 0)
	// Frames no socket of this kernel makes: a VLAN-tagged request, and a
	// ClientHello in 300-byte segments sent last to first.
	till := craft.EP(liveTillMAC, liveTill, 41000)
	web := craft.EP(liveGwMAC, "192.0.2.98", 80)
	inject(t, l, craft.TCPFrame(till, web, craft.Opts{VLAN: 20}, craft.TCP{ACK: true, PSH: true, Seq: 1, Ack: 1,
		Payload: []byte("GET /vlan HTTP/1.1\r\nHost: vlan.lab.example\r\n\r\n")}))
	ooo := craft.EP(liveGwMAC, "192.0.2.99", 443)
	c := craft.EP(liveTillMAC, liveTill, 41001)
	hello := craft.GoClientHello("ooo.acquirer.lab.example")
	inject(t, l, craft.TCPFrame(c, ooo, craft.Opts{}, craft.TCP{SYN: true, Seq: 999}))
	for off := len(hello) / 300 * 300; off >= 0; off -= 300 {
		inject(t, l, craft.TCPFrame(c, ooo, craft.Opts{}, craft.TCP{ACK: true, Seq: uint32(1000 + off), Payload: hello[off:min(off+300, len(hello))]}))
	}
	want := map[string][]string{
		"dns":  {"pay.lab.example", "www.lab.example"},
		"sni":  {"ooo.acquirer.lab.example", "pay.lab.example", "small.acquirer.lab.example", "v6.lab.example"},
		"http": {"v6.lab.example", "vlan.lab.example", "www.lab.example"},
	}
	waitFor(t, 15*time.Second, func() bool {
		lr.mu.Lock()
		defer lr.mu.Unlock()
		return len(namesOf(lr.names, "sni")) == len(want["sni"]) && len(namesOf(lr.names, "http")) == len(want["http"])
	})
	// tcpdump writes each packet as it reads it, but may lag under load:
	// stopping it early would cut the file short.
	waitFor(t, 15*time.Second, func() bool {
		rep := analyzeFile(t, pcap, l)
		return rep != nil && slices.Equal(rep.NameSet("sni"), want["sni"]) && slices.Equal(rep.NameSet("http"), want["http"])
	})
	stop()

	pcapng := filepath.Join(dir, "lan.pcapng")
	if out, err := exec.Command(editcap, "-F", "pcapng", pcap, pcapng).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v: %s", err, out)
	}
	ts := tsharkNames(t, tshark, pcap)
	lr.mu.Lock()
	live := slices.Clone(lr.names)
	lr.mu.Unlock()
	for _, file := range []string{pcap, pcapng} {
		rep := analyzeFile(t, file, l)
		if rep == nil {
			t.Fatalf("Analyze %s failed", file)
		}
		for _, kind := range []string{"dns", "sni", "http"} {
			got := rep.NameSet(kind)
			if !slices.Equal(got, ts[kind]) {
				t.Errorf("%s %s: inspector %q, tshark %q", filepath.Base(file), kind, got, ts[kind])
			}
			if !slices.Equal(got, namesOf(live, kind)) {
				t.Errorf("%s %s: offline %q, live %q", filepath.Base(file), kind, got, namesOf(live, kind))
			}
			if !slices.Equal(got, want[kind]) {
				t.Errorf("%s %s: %q, want %q", filepath.Base(file), kind, got, want[kind])
			}
		}
		if file == pcap {
			t.Logf("offline: %d packets, %d flows, %d names, %d alarms; decode %+v", rep.Packets, len(rep.Flows), len(rep.Names), len(rep.Alarms), rep.Decode)
		}
	}
}

// analyzeFile runs the offline analysis on a capture file; nil when the
// file cannot be read (yet).
func analyzeFile(t *testing.T, file string, l *lab) *Report {
	f, err := os.Open(file)
	if err != nil {
		t.Logf("open %s: %v", file, err)
		return nil
	}
	defer f.Close()
	rep, err := Analyze(context.Background(), f, ConfigFrom(liveConfig(l)), nil)
	if err != nil {
		t.Logf("analyze %s: %v", file, err)
		return nil
	}
	return rep
}

func namesOf(ns []Name, kind string) []string {
	r := Report{Names: ns}
	return r.NameSet(kind)
}

// startTcpdump records the gateway's LAN side into file; stop ends it and
// waits for the file to be complete.
func startTcpdump(t *testing.T, tcpdump string, l *lab, file string) (stop func()) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.gwNS, tcpdump, "-i", l.gwIf, "--immediate-mode", "-U", "-s", "0", "-Z", "root", "-w", file)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "packets") {
				t.Logf("tcpdump: %s", sc.Text())
			}
			if !once && strings.Contains(sc.Text(), "listening on") {
				once = true
				close(listening)
			}
		}
		_ = cmd.Wait()
		if !once {
			close(listening)
		}
		close(done)
	}()
	t.Cleanup(stop)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start")
	}
	return stop
}

// tsharkNames extracts what tshark dissects: DNS question names of
// successful answers, TLS ClientHello server names, HTTP request hosts.
func tsharkNames(t *testing.T, tshark, file string) map[string][]string {
	t.Helper()
	fields := map[string][2]string{
		"dns":  {"dns.flags.response == 1 && dns.flags.rcode == 0", "dns.qry.name"},
		"sni":  {"tls.handshake.type == 1", "tls.handshake.extensions_server_name"},
		"http": {"http.request", "http.host"},
	}
	out := map[string][]string{}
	for kind, f := range fields {
		cmd := exec.Command(tshark, "-n", "-r", file, "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", f[0], "-T", "fields", "-e", f[1])
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", kind, err)
		}
		var names []string
		for _, line := range strings.Split(string(b), "\n") {
			for _, n := range strings.Split(line, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, strings.ToLower(n))
				}
			}
		}
		slices.Sort(names)
		out[kind] = slices.Compact(names)
	}
	return out
}

// inject sends a crafted frame out of the terminal's veth.
func inject(t *testing.T, l *lab, frame []byte) {
	t.Helper()
	err := l.in(l.posNSH, func() error {
		ifi, err := net.InterfaceByName(l.posIf)
		if err != nil {
			return err
		}
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		return syscall.Sendto(fd, frame, 0, &syscall.SockaddrLinklayer{Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
}
