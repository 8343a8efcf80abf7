//go:build linux

package inspect

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/vishvananda/netns"
)

// lab is two throwaway network namespaces joined by a veth pair: "pos"
// (a card terminal) and "gw" (the gateway's LAN side, which also plays
// the payment host, the web server and the resolver). Every name carries
// a per-run prefix and everything is removed in t.Cleanup.
type lab struct {
	t             testing.TB
	prefix        string
	posNS, gwNS   string
	posIf, gwIf   string
	posNSH, gwNSH netns.NsHandle
}

func newLab(t testing.TB) *lab {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	p := "bgw" + hex.EncodeToString(b)
	l := &lab{t: t, prefix: p, posNS: p + "pos", gwNS: p + "gw", posIf: p + "p0", gwIf: p + "g0"}
	t.Cleanup(func() {
		// Deleting the namespaces removes the veth pair with them.
		_ = exec.Command("ip", "netns", "del", l.posNS).Run()
		_ = exec.Command("ip", "netns", "del", l.gwNS).Run()
	})
	l.ip("netns", "add", l.posNS)
	l.ip("netns", "add", l.gwNS)
	l.ip("link", "add", l.posIf, "netns", l.posNS, "type", "veth", "peer", "name", l.gwIf, "netns", l.gwNS)
	var err error
	if l.posNSH, err = netns.GetFromName(l.posNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.posNSH.Close() })
	if l.gwNSH, err = netns.GetFromName(l.gwNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.gwNSH.Close() })
	return l
}

// ip runs ip(8) and fails the test on error.
func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// in runs fn on a thread switched into namespace ns: sockets fn creates
// belong to ns for their whole life, whichever thread uses them later.
func (l *lab) in(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		err = fn()
		if rerr := netns.Set(orig); rerr != nil {
			// Leave the thread locked: Go discards it when this goroutine ends.
			errc <- fmt.Errorf("restore netns: %w", rerr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
