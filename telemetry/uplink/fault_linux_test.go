//go:build linux

package uplink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// The faults of issue 26, each against a real mosquitto.

// connections counts the gateway's births ("online" status messages).
func connections(ta *tally) int {
	n := 0
	for _, s := range ta.status {
		if s == "online" {
			n++
		}
	}
	return n
}

// TestFaultBrokerDropsBatchNoStorm (issue 26, 1): a broker that closes the
// connection on every batch (over its packet size limit, as AWS IoT's
// 128 KiB or mosquitto's max_packet_size do) ends each session at once.
// Such a session did not hold, so the backoff goes on growing: one
// connection per backoff step. The old code started the backoff over on
// every connect and reconnected every second.
func TestFaultBrokerDropsBatchNoStorm(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Extra: "max_packet_size 4096\n"})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	m, tl := testConfigs(t, b.URL())
	m.MaxReconnectDelay = config.Duration(60 * time.Second) // the default
	r := startRig(t, m, tl, Deps{MinReconnectDelay: time.Second})
	pad := strings.Repeat("p", 200)
	for i := range 100 { // one batch of about 22 KB
		if _, err := r.store.Append(context.Background(), "flows", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	// Backoff from 1 s doubling, each delay at least half its step: the
	// sixth connection comes 0.5 + 1 + 2 + 4 + 8 = 15.5 s after the first
	// at the earliest.
	const watch = 15 * time.Second
	time.Sleep(watch)
	n := connections(count(t, sub.Messages()))
	t.Logf("a broker that drops every batch: %d connections in %v", n, watch)
	if n > 5 {
		t.Errorf("%d connections in %v, want at most 5 (one per backoff step)", n, watch)
	}
	if n == 0 {
		t.Error("the gateway never connected")
	}
}
