package inspect

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// TestLearnCarriesAnswersAcrossRebuild: the inspector a config change
// builds takes over the answers of the old one, recategorised: payment
// addresses stay in the set, a newly added payment domain's known
// addresses join it at once, a removed one's leave it, expired answers
// are dropped.
func TestLearnCarriesAnswersAcrossRebuild(t *testing.T) {
	old := newRig(t, nil)
	client := craft.EP(till1.MAC.String(), till1.IP.String(), 5353)
	pay := netip.MustParseAddr("192.0.2.10")
	shop := netip.MustParseAddr("192.0.2.20")
	brief := netip.MustParseAddr("192.0.2.30")
	old.send(craft.UDPFrame(resolver, client, craft.Opts{}, craft.DNSAnswer(1, "pay.lab.example", "", 30, pay)), time.Millisecond)
	old.send(craft.UDPFrame(resolver, client, craft.Opts{}, craft.DNSAnswer(2, "shop.lab.example", "", 600, shop)), time.Millisecond)
	old.send(craft.UDPFrame(resolver, client, craft.Opts{}, craft.DNSAnswer(3, "brief.lab.example", "", 1, brief)), time.Millisecond)
	answers := old.in.Answers()
	if len(answers) != 3 {
		t.Fatalf("answers %+v", answers)
	}
	later := old.now.Add(5 * time.Minute) // brief's answer has expired by then

	tests := []struct {
		name    string
		domains []string
		want    []netip.Addr
	}{
		{"same domains", []string{"pay.lab.example"}, []netip.Addr{pay}},
		{"domain added", []string{"pay.lab.example", "shop.lab.example"}, []netip.Addr{pay, shop}},
		{"domain removed", []string{"shop.lab.example"}, []netip.Addr{shop}},
		{"expired answer not revived", []string{"pay.lab.example", "brief.lab.example"}, []netip.Addr{pay}},
		{"no payment domains", nil, []netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.POS.PaymentDomains = tt.domains })
			r.now = later
			r.in.Learn(answers)
			if len(r.payment) != 1 || !slices.Equal(r.payment[0], tt.want) {
				t.Fatalf("payment sink got %v, want one set %v", r.payment, tt.want)
			}
			if got := r.snap().PaymentIPs; !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Errorf("snapshot payment IPs %v, want %v", got, tt.want)
			}
		})
	}
}
