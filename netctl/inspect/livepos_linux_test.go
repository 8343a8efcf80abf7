//go:build linux

package inspect

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TestLivePOSHealth impairs the terminal's path to the payment host (an
// nftables rule in the gateway namespace drops 30% of the terminal's
// TCP data segments, which AF_PACKET has already seen, so the sender's
// retransmissions show) and checks that the terminal's health shows it
// and raises the alarm, while the same exchanges on the clean path did not.
func TestLivePOSHealth(t *testing.T) {
	testenv.NeedCommand(t, "nft")
	// The clean path retransmits nothing, so a low threshold tells the two
	// apart with room to spare whatever the random drops do.
	lr := startLive(t, func(c *config.Config) { c.POS.RetransmitAlarmPercent = 2 })
	l := lr.lab
	bulk := strings.Repeat("x", 20000) + "\n"

	for i := 0; i < 5; i++ {
		tlsSend(t, l, lr.servers, livePay, "pay.lab.example", 0, bulk)
	}
	var clean Terminal
	waitFor(t, 10*time.Second, func() bool {
		clean = lr.in.Snapshot().POS[0]
		return clean.Handshakes >= 5
	})
	// A veth loses nothing; a loaded CI machine may still provoke the odd
	// tail-loss probe, which stays far below the threshold.
	if clean.Degraded || len(lr.alarmsOf(AlarmPOSDegraded)) != 0 {
		t.Fatalf("clean path: %+v", clean)
	}

	table := l.prefix + "imp"
	nft := func(args ...string) {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", l.gwNS, "nft"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	nft("add", "table", "inet", table)
	nft("add", "chain", "inet", table, "in", "{ type filter hook prerouting priority 0 ; }")
	// Only segments with data: pure ACKs and SYNs pass, so the handshakes
	// complete and only data is retransmitted.
	nft("add", "rule", "inet", table, "in", "ip", "saddr", liveTill, "tcp", "dport", "443", "ip", "length", "gt", "100",
		"numgen", "random", "mod", "100", "lt", "30", "drop")

	for i := 0; i < 6; i++ {
		tlsSend(t, l, lr.servers, livePay, "pay.lab.example", 0, bulk)
	}
	var bad Terminal
	waitFor(t, 10*time.Second, func() bool {
		bad = lr.in.Snapshot().POS[0]
		return bad.Handshakes >= 11 && bad.Degraded && len(lr.alarmsOf(AlarmPOSDegraded)) > 0
	})
	if !bad.Degraded || bad.Retransmits <= clean.Retransmits || bad.RetransRate <= clean.RetransRate {
		t.Errorf("impaired path: %+v", bad)
	}
	a := lr.alarmsOf(AlarmPOSDegraded)[0]
	if a.Terminal != "till-1" || a.MAC != liveTillMAC {
		t.Errorf("alarm %+v", a)
	}
	t.Logf("clean:    handshakes %d avg %v max %v, segments %d retransmits %d (%.1f%%)",
		clean.Handshakes, clean.AvgHS, clean.MaxHS, clean.Segments, clean.Retransmits, 100*clean.RetransRate)
	t.Logf("impaired: handshakes %d avg %v max %v, segments %d retransmits %d (%.1f%%); alarm: %s",
		bad.Handshakes, bad.AvgHS, bad.MaxHS, bad.Segments, bad.Retransmits, 100*bad.RetransRate, a.Detail)
}
