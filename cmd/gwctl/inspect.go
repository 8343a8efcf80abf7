package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/inspect"
)

const inspectUsage = `usage: gwctl inspect -pcap FILE [-config FILE] [-json]

Runs the gateway's packet inspection over a capture (pcap or pcapng, taken
on the LAN interface): devices, flows, DNS names, TLS server names, HTTP
hosts, payment IPs, POS health and alarms, as the live daemon would see them.
The config gives POS devices, payment domains and categories.

`

func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gwctl inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pcap := fs.String("pcap", "", "capture file (pcap or pcapng)")
	cfgPath := fs.String("config", "/etc/gatewayd/gatewayd.yaml", "gatewayd config (POS devices, payment domains, categories)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() { fmt.Fprint(stderr, inspectUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pcap == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "gwctl inspect:", err)
		return 2
	}
	f, err := os.Open(*pcap)
	if err != nil {
		fmt.Fprintln(stderr, "gwctl inspect:", err)
		return 1
	}
	defer f.Close()
	rep, err := inspect.Analyze(context.Background(), f, inspect.ConfigFrom(cfg), slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(stderr, "gwctl inspect:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gwctl inspect:", err)
		return 1
	}
	return 0
}
