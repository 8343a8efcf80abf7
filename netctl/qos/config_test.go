package qos

import (
	"strings"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

func TestFromConfig(t *testing.T) {
	base := func() config.Config {
		c := config.Defaults()
		c.QoS.Classes = config.DefaultQoSClasses()
		c.QoS.Rules = []config.QoSRule{{Class: "interactive", Proto: "udp", Ports: []string{"53", "5060-5061"}}, {Class: "bulk", DSCP: "CS1"}}
		c.WAN = []config.WAN{{Name: "fibre", Interface: "wan1", RateUp: 5e6, RateDown: 20e6}}
		c.POS.Devices = []config.POSDevice{{Name: "till-1", MAC: "02:00:00:00:10:01", IP: "198.18.10.11"}}
		c.Zones = []config.Zone{{Name: "guest", Subnet: "198.18.10.128/25"}, {Name: "pos", Subnet: "198.18.10.0/26"}}
		return c
	}
	q, err := FromConfig(ptr(base()))
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Rules) != 2 || q.Rules[0].Ports[1] != (PortRange{5060, 5061}) || q.Rules[1].DSCP != 8 || q.Rules[0].DSCP != -1 {
		t.Errorf("rules: %+v", q.Rules)
	}
	if len(q.POSIPs) != 1 || len(q.POSMACs) != 1 || len(q.GuestSubnets) != 1 || q.WANs[0].Down != 20e6 {
		t.Errorf("mapped: %+v", q)
	}

	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"bad pos ip", func(c *config.Config) { c.POS.Devices[0].IP = "2001:db8::1" }, "pos.devices[0].ip"},
		{"bad mac", func(c *config.Config) { c.POS.Devices[0].MAC = "zz" }, "pos.devices[0].mac"},
		{"bad port", func(c *config.Config) { c.QoS.Rules[0].Ports = []string{"70000"} }, "qos.rules[0].ports[0]"},
		{"reversed range", func(c *config.Config) { c.QoS.Rules[0].Ports = []string{"90-80"} }, "qos.rules[0].ports[0]"},
		{"bad dscp", func(c *config.Config) { c.QoS.Rules[1].DSCP = "XX" }, "qos.rules[1].dscp"},
		{"unknown class", func(c *config.Config) { c.QoS.Rules[1].Class = "vip" }, "qos.rules[1].class"},
		{"no pos class", func(c *config.Config) { c.QoS.Classes = c.QoS.Classes[1:] }, `"pos" class is required`},
		{"class twice", func(c *config.Config) { c.QoS.Classes[1].Name = "pos" }, "defined twice"},
		{"ceil below rate", func(c *config.Config) { c.QoS.Classes[0].CeilPercent = 5 }, "qos.classes[0]"},
		{"no rate", func(c *config.Config) { c.WAN[0].RateUp = 0 }, "rate_up and rate_down"},
		{"margin", func(c *config.Config) { c.QoS.MarginPercent = 80 }, "qos.margin_percent"},
		{"download margin", func(c *config.Config) { c.QoS.DownloadMarginPercent = -1 }, "qos.download_margin_percent"},
		{"guest subnet", func(c *config.Config) { c.Zones[0].Subnet = "nope" }, "zones[0].subnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			_, err := FromConfig(&c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
