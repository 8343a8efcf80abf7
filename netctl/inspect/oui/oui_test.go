package oui

import (
	"bytes"
	"encoding/csv"
	"net"
	"os"
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		mac  string
		want string
	}{
		{"00:0b:4f:12:34:56", "Verifone"},
		{"60:c7:98:00:00:01", "Verifone"},
		{"b8:27:eb:00:00:01", "Raspberry Pi"},
		{"02:00:00:00:10:01", ""}, // locally administered: no vendor
		{"00:00:00:00:00:01", ""}, // not in the subset
		{"ff:ff:ff:ff:ff:ff", ""},
	}
	for _, tt := range tests {
		mac, err := net.ParseMAC(tt.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := Lookup(mac); got != tt.want {
			t.Errorf("Lookup(%s) = %q, want %q", tt.mac, got, tt.want)
		}
	}
	if Lookup(nil) != "" || Lookup(net.HardwareAddr{0}) != "" {
		t.Error("short MAC must give no vendor")
	}
}

// TestTableMatchesIEEEData regenerates table.go from Debian's ieee-data and
// compares, so the committed table cannot drift from its generator.
func TestTableMatchesIEEEData(t *testing.T) {
	testenv.NeedFile(t, DebianCSV, "apt-get install ieee-data; make deps installs it")
	f, err := os.Open(DebianCSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	src, err := Generate(recs)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, have) {
		t.Fatal("table.go is stale: run `go generate ./netctl/inspect/oui`")
	}
	if Len() < 1000 {
		t.Errorf("subset has %d prefixes; expected thousands", Len())
	}
}

func TestGenerateRejectsGarbage(t *testing.T) {
	for _, recs := range [][][]string{
		nil,
		{{"Registry", "Assignment", "Organization Name"}},
		{{"MA-L", "XYZ", "Verifone"}},
	} {
		if _, err := Generate(recs); err == nil {
			t.Errorf("Generate(%q) succeeded", recs)
		}
	}
}
