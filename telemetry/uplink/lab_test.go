//go:build linux

package uplink

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// dialFrom dials from inside one of the lab's namespaces.
func dialFrom(l *netlab.Lab, n netlab.Node) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return l.Dial(ctx, n, network, addr)
	}
}

// Issue 5: in the lab, both WANs cut for 2 minutes, then restored: the
// backlog drains, every seq arrives, live alarms arrive before the backlog.
// The cut lasts 15 s unless BRANCHGW_LONG=1 (long enough for keepalive to
// notice the dead connection either way). The gateway's uplink dials from
// the gw namespace through the ISPs; the broker (persistent, so head
// office's session survives) and head office's subscriber are in the cloud.
func TestLabBothWANsCut(t *testing.T) {
	outage := 15 * time.Second
	if longRun() {
		outage = 2 * time.Minute
	}
	l := netlab.ForTest(t, netlab.Options{})
	b := mqtttest.Start(t, mqtttest.Options{Persist: true, NetNS: l.NSName(netlab.Cloud),
		Host: netlab.Server.String(), Dial: dialFrom(l, netlab.Cloud)})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{Persistent: true, Dial: dialFrom(l, netlab.Cloud)})
	m, tc := testConfigs(t, b.URL())
	r := startRig(t, m, tc, Deps{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return l.Dial(ctx, netlab.GW, network, addr)
	}})
	carrier := func(up bool) func() {
		return func() {
			for wan := range netlab.WAN {
				if err := l.Carrier(wan, up); err != nil {
					t.Fatalf("wan%s carrier: %v", strconv.Itoa(wan+1), err)
				}
			}
		}
	}
	outageScenario(t, r, sub, carrier(false), carrier(true), outage)
	t.Logf("both WANs cut for %s; %d reconnects", outage, r.up.Snapshot().Reconnects)
}
