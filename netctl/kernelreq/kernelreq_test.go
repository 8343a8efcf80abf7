package kernelreq

import (
	"regexp"
	"testing"
)

func TestListsAreWellFormed(t *testing.T) {
	sym := regexp.MustCompile(`^[A-Z0-9_]+$`)
	mod := regexp.MustCompile(`^[a-z0-9_]*$`)
	seen := map[string]bool{}
	for _, f := range All() {
		if f.Name == "" || f.Why == "" {
			t.Errorf("%+v: needs a name and a reason", f)
		}
		if !sym.MatchString(f.Config) {
			t.Errorf("%s: Config %q is not a Kconfig symbol without CONFIG_", f.Name, f.Config)
		}
		if !mod.MatchString(f.Module) {
			t.Errorf("%s: Module %q is not a module name", f.Name, f.Module)
		}
		if seen[f.Name] {
			t.Errorf("%s: listed twice", f.Name)
		}
		seen[f.Name] = true
	}
}

func TestLookups(t *testing.T) {
	for _, tc := range []struct {
		lookup func(string) (Feature, bool)
		name   string
		config string
		found  bool
	}{
		{Qdisc, "htb", "NET_SCH_HTB", true},
		{Qdisc, "cake", "NET_SCH_CAKE", true},
		{Qdisc, "netem", "", false},
		{Classifier, "u32", "NET_CLS_U32", true},
		{Classifier, "flower", "", false},
		{Action, "mirred", "NET_ACT_MIRRED", true},
		{NFTExpr, "ct", "NFT_CT", true},
		{NFTExpr, "meta", "NF_TABLES", true},
		{NFTExpr, "numgen", "", false},
	} {
		f, ok := tc.lookup(tc.name)
		if ok != tc.found || f.Config != tc.config {
			t.Errorf("%s: got %q %v, want %q %v", tc.name, f.Config, ok, tc.config, tc.found)
		}
	}
}

func TestConfigsAndModulesAreSortedSets(t *testing.T) {
	for name, l := range map[string][]string{"Configs": Configs(), "Modules": Modules()} {
		if len(l) == 0 {
			t.Fatalf("%s is empty", name)
		}
		for i := 1; i < len(l); i++ {
			if l[i-1] >= l[i] {
				t.Errorf("%s not a sorted set at %q, %q", name, l[i-1], l[i])
			}
		}
	}
}
