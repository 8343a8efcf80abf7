//go:build linux

package uplink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// miniLab is the smallest store network that matters here: the gateway's
// namespace with two WANs (veth pairs) into a cloud namespace where the
// broker listens on 198.18.100.1. Cutting a WAN takes its far end down, as
// an ISP outage would; the gateway side keeps its routes (linkdown).
type miniLab struct {
	t         *testing.T
	gw, cloud string
	isp       []string // cloud-side ends of wan1, wan2
}

const labBroker = "198.18.100.1"

func newMiniLab(t *testing.T) *miniLab {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	var b [2]byte
	rand.Read(b[:])
	p := "bgw" + hex.EncodeToString(b[:])
	l := &miniLab{t: t, gw: p + "gw", cloud: p + "cl", isp: []string{p + "i1", p + "i2"}}
	t.Cleanup(func() {
		// Deleting the namespaces deletes their veths too.
		exec.Command("ip", "netns", "del", l.gw).Run()
		exec.Command("ip", "netns", "del", l.cloud).Run()
	})
	l.ip("netns", "add", l.gw)
	l.ip("netns", "add", l.cloud)
	for i, n := range []string{"1", "2"} {
		wan := p + "w" + n
		l.ip("link", "add", wan, "netns", l.gw, "type", "veth", "peer", "name", l.isp[i], "netns", l.cloud)
		l.ip("-n", l.gw, "addr", "add", "198.18."+n+".1/30", "dev", wan)
		l.ip("-n", l.cloud, "addr", "add", "198.18."+n+".2/30", "dev", l.isp[i])
		l.ip("-n", l.gw, "link", "set", wan, "up")
		l.ip("-n", l.cloud, "link", "set", l.isp[i], "up")
		l.ip("-n", l.gw, "route", "add", labBroker+"/32", "via", "198.18."+n+".2", "metric", n+"0")
	}
	l.ip("-n", l.gw, "link", "set", "lo", "up")
	l.ip("-n", l.cloud, "link", "set", "lo", "up")
	l.ip("-n", l.cloud, "addr", "add", labBroker+"/32", "dev", "lo")
	return l
}

func (l *miniLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// setWANs takes both WANs' far ends down or up.
func (l *miniLab) setWANs(state string) {
	for _, isp := range l.isp {
		l.ip("-n", l.cloud, "link", "set", isp, state)
	}
}

// dialIn dials from inside the named namespace: the socket belongs to the
// namespace it was created in, whatever thread uses it later.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return nil, err
		}
		defer netns.Set(orig)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func dialFunc(ns string) func(network, addr string) (net.Conn, error) {
	d := dialIn(ns)
	return func(network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return d(ctx, network, addr)
	}
}

// Issue 5: in the lab, both WANs cut for 2 minutes, then restored: the
// backlog drains, every seq arrives, live alarms arrive before the backlog.
// The cut lasts 15 s unless BRANCHGW_LONG=1 (long enough for keepalive to
// notice the dead connection either way).
func TestLabBothWANsCut(t *testing.T) {
	outage := 15 * time.Second
	if longRun() {
		outage = 2 * time.Minute
	}
	l := newMiniLab(t)
	b := mqtttest.Start(t, mqtttest.Options{Persist: true, NetNS: l.cloud, Host: labBroker, Dial: dialFunc(l.cloud)})
	// Head office subscribes inside the cloud, unaffected by the store's cut.
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{Persistent: true, Dial: dialFunc(l.cloud)})
	m, tc := testConfigs(t, b.URL())
	r := startRig(t, m, tc, Deps{Dial: dialIn(l.gw)})
	outageScenario(t, r, sub, func() { l.setWANs("down") }, func() { l.setWANs("up") }, outage)
	t.Logf("WANs cut for %s; %d reconnects", outage, r.up.Snapshot().Reconnects)
}
