package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// selfSignedValidity is long on purpose: a technician's browser keeps its
// exception for this certificate, so it should outlive the box.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// selfSigned returns the status page's own certificate: the one kept in dir
// while it still names addr and hosts and has not expired, else a new one
// (ECDSA P-256) written there. With no dir, or one it cannot write (a
// failed data partition), the new certificate serves until the next start.
// made says whether it is new.
func selfSigned(dir string, addr netip.Addr, hosts []string, now time.Time) (cert tls.Certificate, made bool, err error) {
	crt, key := filepath.Join(dir, "web-tls.crt"), filepath.Join(dir, "web-tls.key")
	if dir != "" {
		if c, err := tls.LoadX509KeyPair(crt, key); err == nil && covers(c.Leaf, addr, hosts, now) {
			return c, false, nil
		}
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cert, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return cert, false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "branchgw status page", Organization: []string{"branchgw"}},
		NotBefore:    now.Add(-time.Hour), // a clock a little behind still accepts it
		NotAfter:     now.Add(selfSignedValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts,
	}
	if addr.IsValid() && !addr.IsUnspecified() {
		tmpl.IPAddresses = []net.IP{addr.AsSlice()}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return cert, false, err
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return cert, false, err
	}
	crtPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if cert, err = tls.X509KeyPair(crtPEM, keyPEM); err != nil {
		return cert, false, err
	}
	if dir != "" {
		err = writeAtomic(key, keyPEM, 0o600)
		if err == nil {
			err = writeAtomic(crt, crtPEM, 0o644)
		}
	}
	return cert, true, err
}

// covers reports whether c names addr and every host and is valid at now.
func covers(c *x509.Certificate, addr netip.Addr, hosts []string, now time.Time) bool {
	if c == nil || now.Before(c.NotBefore) || !now.Before(c.NotAfter) {
		return false
	}
	if addr.IsValid() && !addr.IsUnspecified() && !slices.ContainsFunc(c.IPAddresses, func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		return ok && a.Unmap() == addr.Unmap()
	}) {
		return false
	}
	for _, h := range hosts {
		if !slices.Contains(c.DNSNames, h) {
			return false
		}
	}
	return true
}

// fingerprint is the SHA-256 of the certificate as browsers show it.
func fingerprint(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
