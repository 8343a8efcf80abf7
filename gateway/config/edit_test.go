package config

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		path, value, want string
		err               bool
	}{
		{"site", "store-9", "site: store-9 # the id\n", false},
		{"web.socket", "/tmp/s", "socket: /tmp/s\n", false},
		{"site.deeper", "x", "", true},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("site: s1 # the id\n"), &doc); err != nil {
			t.Fatal(err)
		}
		err := Set(&doc, tc.path, Scalar(tc.value))
		if (err != nil) != tc.err {
			t.Fatalf("%s: err %v", tc.path, err)
		}
		if err != nil {
			continue
		}
		out, _ := yaml.Marshal(&doc)
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: got\n%s\nwant it to contain\n%s", tc.path, out, tc.want)
		}
	}
}

func TestEdit(t *testing.T) {
	out, err := Edit(Example, map[string]any{
		"site":                "store-7",
		"remote.command_keys": []string{"a", "b"},
		"web.listen":          "",
		"wan.1.rate_up":       "7mbit",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"site: store-7", "rate_up: 7mbit", "  command_keys:\n    - a\n    - b\n", "listen: \"\"", "# gatewayd example configuration"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("edited example lacks %q", want)
		}
	}
	for _, bad := range []map[string]any{
		{"web.lisen": "x"},         // a typo
		{"site.deeper": "x"},       // below a scalar
		{"failover.window": 1},     // not a string
		{"telemetry.nothing": "x"}, // not in the example
		{"wan.5.rate_up": "x"},     // no sixth WAN
	} {
		if _, err := Edit(Example, bad); err == nil {
			t.Errorf("edit %v: no error", bad)
		}
	}
}
