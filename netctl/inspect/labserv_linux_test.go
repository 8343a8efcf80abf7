//go:build linux

package inspect

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
	"github.com/gopacket/gopacket/layers"
)

type labServers struct{ roots *x509.CertPool }

// startServers runs, in the gateway namespace, a DNS server, a TLS echo
// server (one certificate for every lab name) and an HTTP server.
func startServers(t *testing.T, l *lab) *labServers {
	cert, roots := labCert(t, "pay.lab.example", "small.acquirer.lab.example", "social.lab.example", "v6.lab.example")
	var dnsConn net.PacketConn
	var tlsLns, httpLns []net.Listener
	// Explicit families: Go's IPv6 probe may have run in a namespace
	// without loopback, so ":443" alone could end up IPv4-only.
	err := l.in(l.gwNSH, func() (err error) {
		if dnsConn, err = net.ListenPacket("udp4", liveGw+":53"); err != nil {
			return err
		}
		for _, a := range [][2]string{{"tcp4", ":443"}, {"tcp6", "[" + v6Gw + "]:443"}} {
			ln, err := net.Listen(a[0], a[1])
			if err != nil {
				return err
			}
			tlsLns = append(tlsLns, ln)
		}
		for _, a := range [][2]string{{"tcp4", liveWeb + ":80"}, {"tcp6", "[" + v6Gw + "]:80"}} {
			ln, err := net.Listen(a[0], a[1])
			if err != nil {
				return err
			}
			httpLns = append(httpLns, ln)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsConn.Close() })
	go serveDNS(dnsConn, map[string]string{"pay.lab.example": livePay, "www.lab.example": liveWeb})
	for _, ln := range tlsLns {
		t.Cleanup(func() { ln.Close() })
		go serveTLS(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second}
	for _, ln := range httpLns {
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() { srv.Close() })
	return &labServers{roots: roots}
}

// serveTLS answers any line (a ping, or a bulk upload ending in a
// newline) with a pong.
func serveTLS(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				_, _ = io.WriteString(c, "pong\n")
			}
		}()
	}
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
		c, err = d.Dial("tcp", addr)
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
	inject(t, l, craft.ARP(craft.EP(mac, ip, 0), 1, netip.MustParseAddr(liveGw)))
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
