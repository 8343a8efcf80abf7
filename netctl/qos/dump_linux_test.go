//go:build linux

package qos_test

import (
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// dumpGW logs the gateway's tc and nftables state, for a failing test.
func dumpGW(t *testing.T, l *netlab.Lab) {
	for _, args := range [][]string{
		{"tc", "-s", "qdisc", "show"}, {"tc", "-s", "class", "show", "dev", "wan1"},
		{"tc", "-s", "filter", "show", "dev", "wan1", "ingress"}, {"tc", "-s", "filter", "show", "dev", "bgwifb0"},
		{"nft", "list", "ruleset"}, {"ip", "-s", "link"},
	} {
		out, err := l.Exec(netlab.GW, args[0], args[1:]...).CombinedOutput()
		t.Logf("%v: %v\n%s", args, err, out)
	}
}
