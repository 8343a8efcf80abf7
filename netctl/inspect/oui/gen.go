//go:build ignore

// gen writes table.go: the compact OUI subset built into gatewayd. It reads
// Debian's ieee-data (apt-get install ieee-data) and keeps only the vendors
// in vendorRules, the ones a store LAN is likely to hold, so the binary
// carries tens of kilobytes instead of the whole 30,000-entry registry.
//
//	go run gen.go [-in /usr/share/ieee-data/oui.csv] [-out table.go]
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/branchgw/branchgw/netctl/inspect/oui"
)

func main() {
	in := flag.String("in", oui.DebianCSV, "IEEE MA-L registry in CSV form")
	out := flag.String("out", "table.go", "generated Go file")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatalf("oui: %v (apt-get install ieee-data)", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		log.Fatalf("oui: read %s: %v", *in, err)
	}
	src, err := oui.Generate(recs)
	if err != nil {
		log.Fatalf("oui: %v", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "oui: wrote %s (%d bytes)\n", *out, len(src))
}
