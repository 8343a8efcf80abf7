package wan

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// recorder is an in-memory kernel that writes every change as `ip` text.
type recorder struct {
	rules  []Rule
	routes map[int][]Route
	log    []string
}

func newRecorder() *recorder { return &recorder{routes: map[int][]Route{}} }

func (r *recorder) Rules() ([]Rule, error) { return slices.Clone(r.rules), nil }
func (r *recorder) AddRule(x Rule) error {
	r.rules = append(r.rules, x)
	r.log = append(r.log, x.String())
	return nil
}
func (r *recorder) DelRule(x Rule) error {
	r.rules = slices.DeleteFunc(r.rules, func(y Rule) bool { return y == x })
	r.log = append(r.log, strings.Replace(x.String(), "rule add", "rule del", 1))
	return nil
}
func (r *recorder) Routes(t int) ([]Route, error) { return slices.Clone(r.routes[t]), nil }
func (r *recorder) ReplaceRoute(x Route) error {
	r.routes[x.Table] = []Route{x}
	r.log = append(r.log, x.String())
	return nil
}
func (r *recorder) DelRoute(x Route) error {
	r.routes[x.Table] = slices.DeleteFunc(r.routes[x.Table], func(y Route) bool { return sameRoute(x, y) })
	r.log = append(r.log, strings.Replace(x.String(), "route replace", "route del", 1))
	return nil
}

var testLinks = []Link{
	{Dev: "wan1", Addr: netip.MustParseAddr("198.18.1.2"), Gateway: netip.MustParseAddr("198.18.1.1"), Present: true},
	{Dev: "wan2", Addr: netip.MustParseAddr("198.18.2.2"), Gateway: netip.MustParseAddr("198.18.2.1"), Present: true},
}

func TestSync(t *testing.T) {
	l := DefaultLayout
	lteNoGW := slices.Clone(testLinks)
	lteNoGW[1] = Link{Dev: "wwan0", Addr: netip.MustParseAddr("203.0.113.77"), Present: true}
	tests := []struct {
		name    string
		before  func(r *recorder) // kernel state before the sync under test
		links   []Link
		active  int
		weights []int
		want    []string
	}{
		{"first apply", nil, testLinks, 0, nil, []string{
			"ip rule add priority 5000 from 198.18.1.2 lookup 5101",
			"ip rule add priority 5010 from 198.18.2.2 lookup 5102",
			"ip rule add priority 5050 lookup main suppress_prefixlength 0",
			"ip rule add priority 5100 fwmark 0x100/0xff00 lookup 5101",
			"ip rule add priority 5110 fwmark 0x200/0xff00 lookup 5102",
			"ip rule add priority 5200 lookup 5100",
			"ip route replace table 5100 default via 198.18.1.1 dev wan1",
			"ip route replace table 5101 default via 198.18.1.1 dev wan1",
			"ip route replace table 5102 default via 198.18.2.1 dev wan2",
		}},
		{"second apply changes nothing", func(r *recorder) { l.sync(r, l.desired(testLinks, 0, nil), 2) }, testLinks, 0, nil, nil},
		{"failover is one route replace", func(r *recorder) { l.sync(r, l.desired(testLinks, 0, nil), 2) }, testLinks, 1, nil, []string{
			"ip route replace table 5100 default via 198.18.2.1 dev wan2",
		}},
		{"a deleted rule is put back", func(r *recorder) {
			l.sync(r, l.desired(testLinks, 0, nil), 2)
			r.rules = slices.DeleteFunc(r.rules, func(x Rule) bool { return x.Priority == 5050 })
		}, testLinks, 0, nil, []string{"ip rule add priority 5050 lookup main suppress_prefixlength 0"}},
		{"a foreign rule in our range goes", func(r *recorder) {
			l.sync(r, l.desired(testLinks, 0, nil), 2)
			r.rules = append(r.rules, Rule{Priority: 5150, Table: 99, SuppressPrefixlen: -1})
		}, testLinks, 0, nil, []string{"ip rule del priority 5150 lookup 99"}},
		{"new DHCP address moves the source rule", func(r *recorder) { l.sync(r, l.desired(testLinks, 0, nil), 2) },
			[]Link{{Dev: "wan1", Addr: netip.MustParseAddr("198.18.1.9"), Gateway: netip.MustParseAddr("198.18.1.1"), Present: true}, testLinks[1]}, 0, nil,
			[]string{"ip rule del priority 5000 from 198.18.1.2 lookup 5101", "ip rule add priority 5000 from 198.18.1.9 lookup 5101"}},
		{"a vanished interface loses its routes", func(r *recorder) { l.sync(r, l.desired(testLinks, 0, nil), 2) },
			[]Link{testLinks[0], {Dev: "wan2", Present: false}}, 0, nil,
			[]string{"ip rule del priority 5010 from 198.18.2.2 lookup 5102", "ip route del table 5102 default via 198.18.2.1 dev wan2"}},
		{"weighted: one multipath route shares new connections", func(r *recorder) { l.sync(r, l.desired(testLinks, 0, nil), 2) },
			testLinks, 0, []int{3, 1}, []string{
				"ip route replace table 5100 default nexthop via 198.18.1.1 dev wan1 weight 3 nexthop via 198.18.2.1 dev wan2 weight 1",
			}},
		{"weighted with one WAN left is a plain route", func(r *recorder) { l.sync(r, l.desired(testLinks, 0, []int{3, 1}), 2) },
			testLinks, 0, []int{3, 0}, []string{
				"ip route replace table 5100 default via 198.18.1.1 dev wan1",
			}},
		{"point-to-point WAN without gateway", nil, lteNoGW, 1, nil, []string{
			"ip rule add priority 5000 from 198.18.1.2 lookup 5101",
			"ip rule add priority 5010 from 203.0.113.77 lookup 5102",
			"ip rule add priority 5050 lookup main suppress_prefixlength 0",
			"ip rule add priority 5100 fwmark 0x100/0xff00 lookup 5101",
			"ip rule add priority 5110 fwmark 0x200/0xff00 lookup 5102",
			"ip rule add priority 5200 lookup 5100",
			"ip route replace table 5100 default dev wwan0",
			"ip route replace table 5101 default via 198.18.1.1 dev wan1",
			"ip route replace table 5102 default dev wwan0",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder()
			if tc.before != nil {
				tc.before(r)
				r.log = nil
			}
			if _, err := l.sync(r, l.desired(tc.links, tc.active, tc.weights), 2); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.log, "\n"); got != strings.Join(tc.want, "\n") {
				t.Errorf("ops:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestRemoveLeavesNothing(t *testing.T) {
	l := DefaultLayout
	r := newRecorder()
	l.sync(r, l.desired(testLinks, 1, []int{1, 1}), 2)
	if err := l.remove(r, 2); err != nil {
		t.Fatal(err)
	}
	if len(r.rules) != 0 {
		t.Errorf("rules left: %v", r.rules)
	}
	for tab, rs := range r.routes {
		if len(rs) != 0 {
			t.Errorf("table %d left: %v", tab, rs)
		}
	}
}
