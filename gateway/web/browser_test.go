//go:build linux

package web

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// artifactDir is where the browser test leaves its screenshots:
// $BRANCHGW_ARTIFACTS if set (CI keeps it), else the temp dir.
func artifactDir() string {
	if d := os.Getenv("BRANCHGW_ARTIFACTS"); d != "" {
		return d
	}
	return os.TempDir()
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startLAN runs a LAN server with the fake daemon on a real loopback port.
func startLAN(t testing.TB, f *fakeGW, tick time.Duration) string {
	addr := freeAddr(t)
	s := NewLAN(config.Web{Listen: addr, TechnicianPasswordHash: testHash}, f.deps())
	s.hub.tick = tick
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-s.Ready()
	for range 200 {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server on %s did not answer", addr)
	return ""
}

// newBrowser starts the Debian chromium headless with a fresh profile and
// nothing that talks to the internet.
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	chrome := testenv.NeedCommand(t, "chromium")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("no-default-browser-check", true),
	}, extra...)...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestBrowser drives the page in a real headless Chromium at phone width:
// log in, see the verdict, see a WAN failure arrive live, force failback,
// download the diagnostics bundle, and check that CSRF and the login rate
// limit hold in the browser too.
func TestBrowser(t *testing.T) {
	ctx := newBrowser(t)
	f := newFakeGW(t)
	base := "http://" + startLAN(t, f, 200*time.Millisecond)

	var mu sync.Mutex
	var jsErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			mu.Lock()
			jsErrors = append(jsErrors, e.ExceptionDetails.Text+" "+describeException(e))
			mu.Unlock()
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" {
				mu.Lock()
				jsErrors = append(jsErrors, "console.error")
				mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitJS := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("verdict").textContent+" | "+document.getElementById("login-msg").textContent+" | "+document.getElementById("action-msg").textContent`))
			t.Fatalf("%s: %v (page: %s)", what, err, text)
		}
	}
	shot := func(name string) {
		t.Helper()
		// The first screen (what the technician sees on opening) and the
		// whole page; quality 100 makes them PNG.
		for suffix, a := range map[string]chromedp.Action[[]byte]{"": chromedp.CaptureScreenshot(), "-full": chromedp.FullScreenshot(100)} {
			png, err := chromedp.Run(ctx, a)
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			p := filepath.Join(artifactDir(), "branchgw-web-"+name+suffix+".png")
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot %s (%d bytes)", p, len(png))
		}
	}

	do("open at phone width",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#password")))
	do("wrong password", chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("#login-form button")))
	waitJS("wrong password refused", `document.getElementById("login-msg").textContent === "wrong password"`)
	do("log in", clearPassword, chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#login-form button")), chromedp.WaitVisible(chromedp.CSS("#app")))
	waitJS("verdict", `document.getElementById("verdict").textContent === "All good — on WAN1"`)
	waitJS("WAN1 up", `[...document.querySelectorAll("#wan-cards .card")].some(c => c.textContent.includes("WAN1") && c.querySelector(".badge.up"))`)
	waitJS("live", `window.bgwUpdates > 0 && document.getElementById("live").textContent === "live"`)
	// Readable at phone width: nothing wider than the screen but tables
	// (which scroll inside their section).
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
		t.Errorf("page is %d px wide at a 390 px phone (err %v)", w, err)
	}
	shot("phone")

	// WAN1 fails in the daemon: the page says so without a reload.
	do("mark the page", js(`window.notReloaded = true; window.before = window.bgwUpdates`))
	f.setWAN("wan1", "down", "carrier lost", "wan2")
	waitJS("on backup", `document.getElementById("verdict").textContent.includes("on WAN2 backup") && document.getElementById("verdict").classList.contains("bad")`)
	waitJS("no reload", `window.notReloaded === true && window.bgwUpdates > window.before`)
	waitJS("what to do shown", `document.querySelector("#alarms li.critical .do").textContent.includes("modem")`)
	shot("phone-wan-down")

	// Force failback onto WAN1 with the button.
	f.setWAN("wan1", "up", "3 of 3 targets answer", "")
	waitJS("WAN1 up again", `document.querySelector('#wan-cards .card[data-wan="wan1"] .badge.up') !== null`)
	// The card is updated in place, so the button found is the one pressed
	// even while live updates arrive.
	do("mark the button", js(`window.forceButton = document.querySelector('button.force-wan[data-wan="wan1"]')`))
	do("force WAN1", chromedp.Click(chromedp.CSS(`button.force-wan[data-wan="wan1"]`)))
	waitJS("same button after updates", `window.forceButton === document.querySelector('button.force-wan[data-wan="wan1"]') && window.forceButton.isConnected`)
	waitJS("failback done", `document.getElementById("action-msg").textContent === "All traffic on wan1 for 30 min"`)
	waitJS("back on WAN1", `document.getElementById("verdict").textContent === "All good — on WAN1"`)
	if !slices.Contains(f.Calls(), "force wan1 30m0s") {
		t.Errorf("force did not reach the daemon: %v", f.Calls())
	}

	// An action without the CSRF token is refused, even from the page's origin.
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/v1/reboot", {method: "POST",
		headers: {"Content-Type": "application/json"}, body: '{"confirm": true}'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 || slices.Contains(f.Calls(), "reboot") {
		t.Errorf("reboot without CSRF: %d %v, calls %v", status, err, f.Calls())
	}

	// The diagnostics button downloads the bundle…
	do("diagnostics", chromedp.Click(chromedp.CSS("#diag-cap")), chromedp.Click(chromedp.CSS("#diag")))
	waitJS("bundle downloaded", `/^Downloaded branchgw-store-1-\d{8}-\d{6}\.tar\.gz \(\d/.test(document.getElementById("action-msg").textContent)`)
	// …and its contents are what support needs (fetched the page's way).
	b64s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/session").then(r => r.json()).then(s =>
		fetch("/api/v1/diagnostics", {method: "POST", headers: {"X-CSRF-Token": s.csrf, "Content-Type": "application/json"},
		body: '{"capture_seconds": 1}'})).then(r => r.arrayBuffer()).then(b => {
		let s = ""; new Uint8Array(b).forEach(c => s += String.fromCharCode(c)); return btoa(s); })`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetching the bundle: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64s)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, raw)
	for _, n := range []string{"README.txt", "status.json", "config.yaml", "events.json", "logs.txt", "lan.pcap"} {
		if _, ok := files[n]; !ok {
			t.Errorf("bundle from the browser lacks %s", n)
		}
	}
	if strings.Contains(files["config.yaml"], testHash) {
		t.Error("bundle leaks the password hash")
	}

	do("desktop width", chromedp.EmulateViewport(1280, 900), js(`window.scrollTo(0, 0)`))
	shot("desktop")

	// Log out, then guess: the lockout shows on the login form.
	do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#password")))
	for range lockAfter {
		do("guess", clearPassword, chromedp.SendKeys(chromedp.CSS("#password"), "guess"), chromedp.Click(chromedp.CSS("#login-form button")))
		waitJS("guess answered", `document.getElementById("login-msg").textContent !== "Checking…"`)
	}
	do("guess again", clearPassword, chromedp.SendKeys(chromedp.CSS("#password"), testPassword), chromedp.Click(chromedp.CSS("#login-form button")))
	waitJS("locked out", `/too many wrong passwords: try again in \d+ s/.test(document.getElementById("login-msg").textContent)`)

	mu.Lock()
	defer mu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("script errors in the page: %q", jsErrors)
	}
}

// js runs a statement in the page, ignoring its value.
func js(stmt string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](stmt+"; true")(ctx, t)
		return err
	})
}

var clearPassword = js(`document.getElementById("password").value = ""`)

func describeException(e *runtime.EventExceptionThrown) string {
	if d := e.ExceptionDetails; d != nil && d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}
