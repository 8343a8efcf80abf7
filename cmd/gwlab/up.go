//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

func cmdUp(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	var broker bool
	_, prefix, err := flags("up", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&broker, "broker", true, "start mosquitto in cloud")
	})
	if err != nil {
		return err
	}
	l, err := netlab.New(ctx, netlab.Options{Prefix: *prefix, Log: log})
	if err != nil {
		return err
	}
	if err := startServer(ctx, l, broker); err != nil {
		return errors.Join(err, l.Close())
	}
	l.Release()
	printLab(stdout, l.Prefix)
	return nil
}

// startServer re-executes gwlab as `gwlab serve` inside the cloud namespace,
// detached, so the servers outlive this command; Clean finds and stops it
// there like any process in the lab's namespaces.
func startServer(ctx context.Context, l *netlab.Lab, broker bool) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	dir, err := l.Dir()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer logf.Close()
	cmd := l.Exec(netlab.Cloud, self, "serve", "-prefix", l.Prefix, fmt.Sprintf("-broker=%t", broker))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reaped if it dies while we wait below
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	wait := []string{fmt.Sprintf("%s:%d", netlab.Server, netlab.EchoPort)}
	if broker {
		wait = append(wait, fmt.Sprintf("%s:%d", netlab.Server, netlab.MQTTPort))
	}
	for _, addr := range wait {
		if err := l.WaitTCP(wctx, netlab.POS1, addr); err != nil {
			return fmt.Errorf("cloud servers did not come up (see %s): %w", logf.Name(), err)
		}
	}
	return nil
}

// cmdServe runs the cloud servers until killed (started by startServer).
func cmdServe(ctx context.Context, args []string, log *slog.Logger) error {
	var broker bool
	_, prefix, err := flags("serve", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&broker, "broker", true, "start mosquitto")
	})
	if err != nil {
		return err
	}
	if *prefix == "" {
		return usagef("serve needs -prefix")
	}
	l, err := netlab.Attach(*prefix, log)
	if err != nil {
		return err
	}
	defer l.Release()
	s, err := l.StartServices(ctx, netlab.ServiceOptions{Mosquitto: broker})
	if err != nil {
		return err
	}
	log.Info("cloud servers up", "prefix", *prefix)
	<-ctx.Done()
	return s.Close()
}

func cmdDown(args []string, stdout io.Writer, log *slog.Logger) error {
	_, prefix, err := flags("down", args, nil)
	if err != nil {
		return err
	}
	p, err := onlyLab(*prefix)
	if err != nil {
		return err
	}
	if err := netlab.Clean(p, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s removed\n", p)
	return nil
}

func cmdClean(args []string, stdout io.Writer, log *slog.Logger) error {
	_, prefix, err := flags("clean", args, nil)
	if err != nil {
		return err
	}
	left, err := netlab.Leftovers(*prefix)
	if err != nil {
		return err
	}
	if err := netlab.Clean(*prefix, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %d namespaces\n", len(left))
	return nil
}

func cmdStatus(args []string, stdout io.Writer, log *slog.Logger) error {
	_, prefix, err := flags("status", args, nil)
	if err != nil {
		return err
	}
	prefixes := []string{*prefix}
	if *prefix == "" {
		if prefixes, err = netlab.Prefixes(); err != nil {
			return err
		}
	}
	if len(prefixes) == 0 {
		fmt.Fprintln(stdout, "no lab is up")
		return nil
	}
	for _, p := range prefixes {
		left, err := netlab.Leftovers(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab %s: %d namespaces\n", p, len(left))
		for _, lo := range left {
			var procs []string
			for _, pid := range lo.Pids {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				procs = append(procs, fmt.Sprintf("%s[%d]", strings.TrimSpace(string(comm)), pid))
			}
			fmt.Fprintf(stdout, "  %-16s %s\n", lo.Namespace, strings.Join(procs, " "))
		}
		l, err := netlab.Attach(p, log)
		if err != nil {
			fmt.Fprintf(stdout, "  (incomplete: %v)\n", err)
			continue
		}
		for _, im := range l.Impairments() {
			fmt.Fprintf(stdout, "  %s: %s\n", im.WAN, describe(im))
		}
		l.Release()
	}
	return nil
}

func describe(im netlab.Impairment) string {
	var parts []string
	if im.CarrierDown {
		parts = append(parts, "CARRIER DOWN")
	}
	if im.BlackHole {
		parts = append(parts, "BLACK HOLE")
	}
	if im.LossPercent > 0 {
		parts = append(parts, fmt.Sprintf("loss %d%%", im.LossPercent))
	}
	if len(parts) == 0 {
		parts = append(parts, "healthy")
	}
	return fmt.Sprintf("%s; down %s up %s", strings.Join(parts, ", "), rate(im.Shape.Down.RateBits), rate(im.Shape.Up.RateBits))
}

func rate(bits uint64) string {
	switch {
	case bits == 0:
		return "unshaped"
	case bits >= 1e6:
		return fmt.Sprintf("%gmbit", float64(bits)/1e6)
	}
	return fmt.Sprintf("%gkbit", float64(bits)/1e3)
}

func printLab(w io.Writer, prefix string) {
	fmt.Fprintf(w, `lab %[1]s is up.
  store LAN %[2]s: gw %[3]s, pos1 %[4]s, pos2 %[5]s, office %[6]s, guest %[7]s
  wan1 %[8]s via isp1 %[9]s, wan2 %[10]s via isp2 %[11]s
  cloud: echo %[12]s:7, http http://%[13]s/health, dns %[14]s, mqtt tcp://%[12]s:1883
  a shell in a node:  ip netns exec %[1]s-pos1 bash
  impair:             gwlab impair wan1 carrier down | blackhole on | loss 10 | rate 2mbit 1mbit | restore
  remove:             gwlab down
`, prefix, netlab.LANNet, netlab.GWLAN, netlab.HostAddr[netlab.POS1], netlab.HostAddr[netlab.POS2],
		netlab.HostAddr[netlab.Office], netlab.HostAddr[netlab.Guest],
		netlab.WAN[0].GWAddr, netlab.WAN[0].ISPAddr, netlab.WAN[1].GWAddr, netlab.WAN[1].ISPAddr,
		netlab.Server, netlab.WebServer, netlab.DNSServer)
}
