//go:build linux

package web

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/branchgw/branchgw/gateway/config/configtest"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TestLabBrowser is the whole path on real parts: gatewayd runs in the
// lab's gw namespace with the shipped example config; Chromium on this
// machine reaches its page through the office PC's namespace (as a
// technician's phone on the store LAN would), over HTTPS with the
// certificate the box made itself, which the browser accepts by its key as
// a technician's exception does; plain HTTP on port 80 redirects there;
// pulling WAN1's cable in the lab turns the verdict to "on WAN2 backup"
// without a reload.
func TestLabBrowser(t *testing.T) {
	l := netlab.ForTest(t, netlab.Options{})
	netlab.ServicesForTest(t, l, netlab.ServiceOptions{Mosquitto: true})
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatewayd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/gatewayd").CombinedOutput(); err != nil {
		t.Fatalf("building gatewayd: %v\n%s", err, out)
	}
	cfgPath := configtest.Write(t, dir, map[string]any{
		"web.socket":           filepath.Join(dir, "gw.sock"),
		"telemetry.store_path": filepath.Join(dir, "telemetry.db"),
	})
	testenv.Start(t, l.Exec(netlab.GW, bin, "-config", cfgPath))

	// Loopback → office namespace → the page on the gateway's LAN address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go l.Forward(context.Background(), ln, netlab.Office, fmt.Sprintf("%s:443", netlab.GWLAN))
	base := "https://" + ln.Addr().String()
	spki := waitSelfSigned(t, filepath.Join(dir, "web-tls.crt"))
	ctx := newBrowser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spki))

	// Plain HTTP on port 80 of the box answers with the way to HTTPS.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	go l.Forward(context.Background(), plain, netlab.Office, fmt.Sprintf("%s:80", netlab.GWLAN))
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var loc string
	for range 100 {
		req, _ := http.NewRequest("GET", "http://"+plain.Addr().String()+"/some/path?x=1", nil)
		req.Host = "198.18.10.1" // as the technician typed it
		if resp, err := noFollow.Do(req); err == nil {
			resp.Body.Close()
			loc = resp.Header.Get("Location")
			if resp.StatusCode == http.StatusPermanentRedirect {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if loc != "https://198.18.10.1/some/path?x=1" {
		t.Errorf("plain HTTP on port 80: Location %q, want the HTTPS page", loc)
	}

	waitJS := func(what, expr string, d time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("verdict").textContent`))
			t.Fatalf("%s: %v (verdict: %q)", what, err, text)
		}
	}
	// The daemon needs a moment to open its LAN listener.
	var loaded bool
	for range 100 {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
			chromedp.Navigate(base+"/")); err == nil {
			if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.getElementById("password")`)); ok {
				loaded = true
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !loaded {
		t.Fatal("the status page did not load through the lab")
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), "change-me"), chromedp.Click(chromedp.CSS("#login-form button")),
		chromedp.WaitVisible(chromedp.CSS("#app"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	waitJS("WAN1 up and active", `[...document.querySelectorAll("#wan-cards .card")].some(c =>
		c.textContent.startsWith("WAN1") && c.querySelector(".badge.up") && c.querySelector(".badge.active"))`, 60*time.Second)
	waitJS("verdict on WAN1", `document.getElementById("verdict").textContent.includes("on WAN1")`, 30*time.Second)
	if err := chromedp.Do(ctx, js(`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	wan1, err := netlab.WANIndex("wan1")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Carrier(wan1, false); err != nil {
		t.Fatal(err)
	}
	waitJS("on backup", `document.getElementById("verdict").textContent.includes("WAN1 down") &&
		document.getElementById("verdict").textContent.includes("on WAN2 backup") && window.notReloaded === true`, 30*time.Second)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		p := filepath.Join(artifactDir(), "branchgw-web-lab-wan1-down.png")
		os.WriteFile(p, png, 0o644)
		t.Logf("screenshot %s", p)
	}
	if err := l.Carrier(wan1, true); err != nil {
		t.Fatal(err)
	}
	waitJS("WAN1 back up", `[...document.querySelectorAll("#wan-cards .card")].some(c =>
		c.textContent.startsWith("WAN1") && c.querySelector(".badge.up"))`, 60*time.Second)
	// Still on the backup for the 30 s failback hold-down: the technician
	// forces the failback, and the real daemon moves traffic at once.
	waitJS("still on backup", `document.getElementById("verdict").textContent.includes("WAN2")`, 5*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`button.force-wan[data-wan="wan1"]`))); err != nil {
		t.Fatalf("force WAN1: %v", err)
	}
	waitJS("forced failback", `document.getElementById("verdict").textContent === "All good — on WAN1"`, 15*time.Second)
}

// waitSelfSigned waits for the certificate the daemon makes on its first
// start and returns its key's pin (base64 SHA-256 of the SPKI), which
// Chromium takes as an accepted exception.
func waitSelfSigned(t *testing.T, path string) string {
	t.Helper()
	for range 300 {
		if b, err := os.ReadFile(path); err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
					sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
					return base64.StdEncoding.EncodeToString(sum[:])
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no self-signed certificate at %s", path)
	return ""
}
