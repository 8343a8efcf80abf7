//go:build linux

package zones

import (
	"os/exec"
	"testing"
)

func TestSmoke(t *testing.T) {
	s := newStore(t)
	f := s.firewall(t, s.config(true), nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	t.Log(f.Snapshot().Ruleset)
	out, _ := exec.Command("ip", "netns", "exec", s.gwName, "nft", "list", "ruleset").CombinedOutput()
	t.Logf("%s", out)
	if seen, ok := probe(s.office, "tcp", netServer+":7000", probeTimeout); !ok {
		t.Error("office to internet failed")
	} else {
		t.Log("seen", seen)
	}
}
