//go:build linux

package qos_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
)

// TestPOSLatencyUnderLoad is the headline measurement: POS request/response
// RTT idle, with the line saturated both ways by the office and the guest
// without QoS (the modem's 200 ms buffers fill), and with gatewayd's QoS,
// then with QoS while the config is reloaded every 100 ms. It prints the
// phases side by side and asserts ratios, never a time: QoS must cut the
// loaded p50 at least 2.5-fold and the p99 by a third (typically it cuts
// both tenfold or more; the margin covers the runs where the modem's
// download queue fills for a while, see the package doc), and no POS
// transaction may be lost, also while reconfiguring.
func TestPOSLatencyUnderLoad(t *testing.T) {
	res, leaf, err := measureLatency(t, 2*time.Second, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("POS RTT, pos1 -> payment echo, 64-byte UDP every 10 ms; line %d/%d Mbit/s (up/down), leaf %s:\n%s",
		labShape[0].Up.RateBits/1e6, labShape[0].Down.RateBits/1e6, leaf, res.Table())
	idle, noQoS, withQoS, reconf := res.Phase(qosbench.Idle), res.Phase(qosbench.LoadedNoQoS), res.Phase(qosbench.LoadedQoS), res.Phase(qosbench.Reconfig)
	if idle.Sent == 0 || noQoS.Sent == 0 || withQoS.Sent == 0 || reconf.Sent == 0 {
		t.Fatalf("a phase sent nothing: %+v", res.Phases)
	}
	// The margins are wide because the tbf fallback has no AQM: the
	// download senders keep some queue standing in the modem, in front of
	// everything (see the package doc); fq_codel or cake would drain it.
	if withQoS.P50 == 0 || 2*noQoS.P50 < 5*withQoS.P50 || 2*noQoS.P99 < 3*withQoS.P99 {
		t.Errorf("loaded without QoS p50 %v p99 %v, with QoS p50 %v p99 %v: want p50 2.5x and p99 1.5x better with QoS",
			noQoS.P50, noQoS.P99, withQoS.P50, withQoS.P99)
	}
	for _, p := range []qosbench.Phase{withQoS, reconf} {
		switch {
		case p.Lost == 0:
		case leaf == qos.LeafTBF && p.ModemDrops > 0:
			// The fallback's known limit (package doc): a download's
			// window grew past the gateway into the modem's buffer,
			// which filled and dropped. With fq_codel (TestBenchQoSInVM
			// in cmd/gwlab) none may be lost.
			t.Logf("%s: %d POS transactions lost while the modem's full buffer dropped %d packets: the tbf fallback's limit", p.Name, p.Lost, p.ModemDrops)
		default:
			t.Errorf("%s: %d POS transactions lost (%d reconfigurations), none of them by the modem", p.Name, p.Lost, p.Reconfigs)
		}
	}
	if reconf.Reconfigs < 10 {
		t.Errorf("only %d reconfigurations", reconf.Reconfigs)
	}
	// Bulk keeps most of the shaped rate (shaped 20% below the line): 75 %
	// of the line with the download's ACKs ahead of the uploads, 44-50 %
	// with them behind.
	if share := withQoS.DownBits / float64(labShape[0].Down.RateBits); share < 0.6 {
		t.Errorf("bulk download with QoS: %.0f%% of the line, want most of it", share*100)
	}
}

// measureLatency runs the qosbench phases on a lab with gatewayd's QoS,
// reconfiguring it in the last phase.
func measureLatency(t testing.TB, warmup, phase time.Duration) (qosbench.Result, string, error) {
	res, err := qosbench.RunLab(context.Background(), qosbench.LabOptions{
		Prefix: netlab.NewPrefix(), Log: slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Warmup: warmup, Phase: phase, Reconfigure: true,
	})
	return res.Result, res.Leaf, err
}
