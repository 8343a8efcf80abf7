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
