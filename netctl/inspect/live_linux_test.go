//go:build linux

package inspect

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
	"github.com/gopacket/gopacket/layers"
)

const (
	liveTillMAC = "00:0b:4f:00:10:01" // a Verifone OUI
	liveGwMAC   = "02:00:00:00:00:01"
	liveTill    = "198.18.10.11"
	liveGw      = "198.18.10.1"
	livePay     = "192.0.2.10"
	liveWeb     = "192.0.2.20"
	liveSocial  = "192.0.2.30"
	liveRogueNS = "192.0.2.53"
)

// TestLiveCapture runs the inspector on a real AF_PACKET ring in a
// throwaway netns while a "terminal" namespace resolves names, makes TLS
// 1.3 connections with Go's default X25519MLKEM768 key share (a
// ClientHello over one MSS, and one over a 536-byte MSS), an HTTP request,
// a connection to a host off its allowlist, a DNS query to a stray
// resolver, and a new device announces itself on the POS subnet.
func TestLiveCapture(t *testing.T) {
	lr := startLive(t, nil)
	l, servers, in := lr.lab, lr.servers, lr.in

	// The terminal's traffic.
	if got := dnsQuery(t, l, liveGw, "pay.lab.example"); got != livePay {
		t.Fatalf("DNS answer %q", got)
	}
	for i := 0; i < 3; i++ {
		tlsPing(t, l, servers, livePay, "pay.lab.example", 0)
	}
	tlsPing(t, l, servers, livePay, "small.acquirer.lab.example", 536)
	httpGet(t, l, liveWeb, "www.lab.example")
	tlsPing(t, l, servers, liveSocial, "social.lab.example", 0)
	dnsSend(t, l, liveRogueNS, "pay.lab.example")
	injectARP(t, l, "02:99:00:00:00:40", "198.18.10.40")

	// Wait until the inspector has seen it all.
	var s *Snapshot
	waitFor(t, 15*time.Second, func() bool {
		s = in.Snapshot()
		lr.mu.Lock()
		defer lr.mu.Unlock()
		return len(s.POS) == 1 && s.POS[0].Handshakes >= 4 && len(lr.alarms) >= 3 && namedFlows(s) >= 6
	})

	names := map[string]Flow{}
	for _, f := range s.TopFlows {
		if f.Name != "" && f.Proto == "tcp" {
			names[f.Name+"/"+f.NameFrom] = f
		}
	}
	for _, want := range []string{"pay.lab.example/sni", "small.acquirer.lab.example/sni", "www.lab.example/http", "social.lab.example/sni"} {
		f, ok := names[want]
		if !ok {
			t.Errorf("no flow named %s; flows: %+v", want, s.TopFlows)
			continue
		}
		if f.Client != netip.MustParseAddr(liveTill) || f.HandshakeRTT <= 0 || f.Terminal != "till-1" {
			t.Errorf("%s: client %v rtt %v terminal %q", want, f.Client, f.HandshakeRTT, f.Terminal)
		}
	}
	if f := names["pay.lab.example/sni"]; f.Category != "payment" || f.TLSHandshake <= 0 {
		t.Errorf("payment flow: category %q tls handshake %v", f.Category, f.TLSHandshake)
	}
	if s.Decode.Reassembled < 4 {
		t.Errorf("ClientHellos reassembled from segments: %d, want >= 4 (is GSO on?)", s.Decode.Reassembled)
	}
	p := s.POS[0]
	if p.Failed != 0 || p.LastSuccess.IsZero() || p.AvgHS <= 0 || p.Degraded {
		t.Errorf("terminal %+v", p)
	}
	var till *Device
	for i := range s.Devices {
		if s.Devices[i].MAC == liveTillMAC {
			till = &s.Devices[i]
		}
	}
	if till == nil || till.Vendor != "Verifone" || till.Terminal != "till-1" || !slices.Contains(till.IPs, netip.MustParseAddr(liveTill)) {
		t.Errorf("terminal device %+v in %+v", till, s.Devices)
	}
	lr.mu.Lock()
	alarms, payment := lr.alarms, lr.payment
	has := func(k AlarmKind, match func(Alarm) bool) {
		for _, a := range alarms {
			if a.Kind == k && match(a) {
				return
			}
		}
		t.Errorf("no %s alarm as expected in %+v", k, alarms)
	}
	has(AlarmPOSDestination, func(a Alarm) bool { return a.Name == "social.lab.example" && a.Terminal == "till-1" })
	has(AlarmDNSResolver, func(a Alarm) bool { return a.Peer == netip.MustParseAddr(liveRogueNS) && a.MAC == liveTillMAC })
	has(AlarmNewDevice, func(a Alarm) bool { return a.MAC == "02:99:00:00:00:40" })
	for _, a := range alarms {
		if a.Kind == AlarmPOSDestination && (a.Peer == netip.MustParseAddr(livePay) || a.Peer == netip.MustParseAddr(liveGw)) {
			t.Errorf("false alarm %+v", a)
		}
	}
	if !slices.Contains(payment, netip.MustParseAddr(livePay)) {
		t.Errorf("payment set %v", payment)
	}
	lr.mu.Unlock()
	t.Logf("capture: %+v; decode: %+v; terminal: handshakes %d avg %v", s.Capture, s.Decode, p.Handshakes, p.AvgHS)

	// Clean shutdown: Run notices the cancel at its next poll timeout.
	lr.cancel()
	select {
	case <-lr.done:
		if lr.runErr != nil {
			t.Errorf("Run: %v", lr.runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if c := in.Snapshot().Capture; c.Packets == 0 || c.Interface != l.gwIf {
		t.Errorf("capture stats %+v", c)
	}
}

// liveRig is the lab with its servers and an inspector running on the
// gateway's LAN side.
type liveRig struct {
	lab     *lab
	servers *labServers
	in      *Inspector
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned
	runErr  error

	mu      sync.Mutex
	alarms  []Alarm
	payment []netip.Addr
}

func startLive(t *testing.T, mutate func(*config.Config)) *liveRig {
	l := newLab(t)
	l.ip("-n", l.posNS, "link", "set", l.posIf, "address", liveTillMAC)
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "address", liveGwMAC)
	// No GSO: the stack hands the veth one MSS per packet, as a real NIC
	// puts them on the wire, so the ClientHello really is split.
	l.ip("-n", l.posNS, "link", "set", l.posIf, "gso_max_segs", "1")
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "gso_max_segs", "1")
	l.ip("-n", l.posNS, "addr", "add", liveTill+"/24", "dev", l.posIf)
	l.ip("-n", l.gwNS, "addr", "add", liveGw+"/24", "dev", l.gwIf)
	for _, a := range []string{livePay, liveWeb, liveSocial, liveRogueNS} {
		l.ip("-n", l.gwNS, "addr", "add", a+"/32", "dev", l.gwIf)
	}
	l.ip("-n", l.posNS, "link", "set", l.posIf, "up")
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "up")
	l.ip("-n", l.posNS, "route", "add", "192.0.2.0/24", "dev", l.posIf)

	lr := &liveRig{lab: l, servers: startServers(t, l), done: make(chan struct{})}
	cfg := config.Defaults()
	cfg.LAN = config.LAN{Interface: l.gwIf, Address: liveGw + "/24"}
	cfg.Inspect.Interface = l.gwIf
	cfg.Zones = []config.Zone{{Name: "pos", Subnet: "198.18.10.0/26"}}
	cfg.POS.Devices = []config.POSDevice{{Name: "till-1", MAC: liveTillMAC, IP: liveTill}}
	cfg.POS.PaymentDomains = []string{"pay.lab.example", "*.acquirer.lab.example"}
	if mutate != nil {
		mutate(&cfg)
	}
	opened := make(chan struct{}, 1)
	gwMAC, _ := net.ParseMAC(liveGwMAC)
	in, err := New(ConfigFrom(&cfg), nil, Deps{
		OnAlarm: func(a Alarm) { lr.mu.Lock(); lr.alarms = append(lr.alarms, a); lr.mu.Unlock() },
		Payment: PaymentSinkFunc(func(ips []netip.Addr) { lr.mu.Lock(); lr.payment = ips; lr.mu.Unlock() }),
		Open: func() (Source, error) {
			var src *AFPacket
			err := l.in(l.gwNSH, func() (err error) {
				src, err = OpenAFPacket(l.gwIf, 50*time.Millisecond)
				return err
			})
			if err == nil {
				opened <- struct{}{}
			}
			return src, err
		},
		SelfMACs:      []net.HardwareAddr{gwMAC},
		SnapshotEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	lr.in = in
	ctx, cancel := context.WithCancel(context.Background())
	lr.cancel = cancel
	go func() { lr.runErr = in.Run(ctx); close(lr.done) }()
	t.Cleanup(func() {
		cancel()
		<-lr.done
	})
	select {
	case <-opened:
	case <-lr.done:
		t.Fatalf("Run: %v", lr.runErr)
	}
	return lr
}

func (lr *liveRig) alarmsOf(k AlarmKind) []Alarm {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	var out []Alarm
	for _, a := range lr.alarms {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

func namedFlows(s *Snapshot) int {
	n := 0
	for _, f := range s.TopFlows {
		if f.NameFrom == "sni" || f.NameFrom == "http" {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type labServers struct{ roots *x509.CertPool }

// startServers runs, in the gateway namespace, a DNS server, a TLS echo
// server (one certificate for every lab name) and an HTTP server.
func startServers(t *testing.T, l *lab) *labServers {
	cert, roots := labCert(t, "pay.lab.example", "small.acquirer.lab.example", "social.lab.example")
	var dnsConn net.PacketConn
	var tlsLn, httpLn net.Listener
	err := l.in(l.gwNSH, func() (err error) {
		if dnsConn, err = net.ListenPacket("udp4", liveGw+":53"); err != nil {
			return err
		}
		if tlsLn, err = net.Listen("tcp4", ":443"); err != nil {
			return err
		}
		httpLn, err = net.Listen("tcp4", liveWeb+":80")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsConn.Close(); tlsLn.Close(); httpLn.Close() })
	go serveDNS(dnsConn, map[string]string{"pay.lab.example": livePay})
	go func() {
		ln := tls.NewListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}})
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				// Any line (a ping, or a bulk upload ending in a newline) gets a pong.
				if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					_, _ = io.WriteString(c, "pong\n")
				}
			}()
		}
	}()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(httpLn) }()
	t.Cleanup(func() { srv.Close() })
	return &labServers{roots: roots}
}

func serveDNS(c net.PacketConn, zone map[string]string) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		var q layers.DNS
		if q.DecodeFromBytes(buf[:n], nil) != nil || len(q.Questions) != 1 {
			continue
		}
		name := string(q.Questions[0].Name)
		var ips []netip.Addr
		if a, ok := zone[name]; ok {
			ips = append(ips, netip.MustParseAddr(a))
		}
		_, _ = c.WriteTo(craft.DNSAnswer(q.ID, name, "", 60, ips...), from)
	}
}

// dial opens a TCP connection from the terminal namespace; mss > 0 sets
// TCP_MAXSEG so the kernel cuts the stream into segments that small.
func dial(t *testing.T, l *lab, addr string, mss int) net.Conn {
	t.Helper()
	var c net.Conn
	err := l.in(l.posNSH, func() (err error) {
		d := net.Dialer{Timeout: 30 * time.Second}
		if mss > 0 {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss) })
				return errors.Join(err, serr)
			}
		}
		c, err = d.Dial("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func tlsPing(t *testing.T, l *lab, s *labServers, ip, sni string, mss int) {
	t.Helper()
	tlsSend(t, l, s, ip, sni, mss, "ping\n")
}

// tlsSend makes one TLS 1.3 connection, sends msg (ending in a newline)
// and waits for the server's pong.
func tlsSend(t *testing.T, l *lab, s *labServers, ip, sni string, mss int, msg string) {
	t.Helper()
	c := tls.Client(dial(t, l, ip+":443", mss), &tls.Config{ServerName: sni, RootCAs: s.roots, MinVersion: tls.VersionTLS13})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("tls %s: %v", sni, err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "pong\n" {
		t.Fatalf("tls %s: %q %v", sni, line, err)
	}
	if st := c.ConnectionState(); st.CurveID != tls.X25519MLKEM768 {
		t.Errorf("key exchange %v, want X25519MLKEM768 (a ClientHello over one MSS)", st.CurveID)
	}
}

func httpGet(t *testing.T, l *lab, ip, host string) {
	t.Helper()
	c := dial(t, l, ip+":80", 0)
	defer c.Close()
	fmt.Fprintf(c, "GET /status HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("http: %v", err)
	}
	resp.Body.Close()
}

// dnsQuery asks server for name's A record from the terminal namespace.
func dnsQuery(t *testing.T, l *lab, server, name string) string {
	t.Helper()
	c := udpConn(t, l, server)
	defer c.Close()
	if _, err := c.Write(craft.DNSQuery(42, name)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("dns: %v", err)
	}
	var r layers.DNS
	if err := r.DecodeFromBytes(buf[:n], nil); err != nil || len(r.Answers) == 0 {
		t.Fatalf("dns answer: %v %+v", err, r.Answers)
	}
	return net.IP(r.Answers[0].IP).String()
}

// dnsSend sends a query without waiting for an answer.
func dnsSend(t *testing.T, l *lab, server, name string) {
	t.Helper()
	c := udpConn(t, l, server)
	defer c.Close()
	if _, err := c.Write(craft.DNSQuery(43, name)); err != nil {
		t.Fatal(err)
	}
}

func udpConn(t *testing.T, l *lab, server string) net.Conn {
	t.Helper()
	var c net.Conn
	if err := l.in(l.posNSH, func() (err error) { c, err = net.Dial("udp4", server+":53"); return err }); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// injectARP sends an ARP request from a made-up station through the
// terminal's veth: a new device appearing on the POS subnet.
func injectARP(t *testing.T, l *lab, mac, ip string) {
	t.Helper()
	err := l.in(l.posNSH, func() error {
		ifi, err := net.InterfaceByName(l.posIf)
		if err != nil {
			return err
		}
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0) // protocol 0: send only
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		return syscall.Sendto(fd, craft.ARP(craft.EP(mac, ip, 0), 1, netip.MustParseAddr(liveGw)), 0,
			&syscall.SockaddrLinklayer{Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("inject ARP: %v", err)
	}
}

// labCert makes a self-signed ECDSA certificate for names.
func labCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
