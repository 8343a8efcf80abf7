//go:build linux

// Command gwlab builds the branch lab (a whole store in network
// namespaces, see netctl/netlab), impairs it, measures failover on it and
// runs the demo:
//
//	gwlab up [-prefix P] [-broker=false]   build the store, start the cloud servers
//	gwlab status [-prefix P]               namespaces, processes, impairments
//	gwlab impair [-prefix P] WAN ACTION    carrier down|up, blackhole on|off, loss N,
//	                                       rate DOWN UP, flap ON OFF FOR, restore
//	gwlab down [-prefix P]                 remove the lab
//	gwlab clean [-prefix P]                remove leftovers of crashed runs (all labs without -prefix)
//	gwlab demo -gatewayd bin/gatewayd      the whole store with gatewayd, until Ctrl-C
//	gwlab bench failover [-n 20]           failover figures (see bench.go)
//	gwlab bench qos [-vm auto]             POS latency under load, QoS off and on,
//	                                       here and in the VM (see benchqos.go)
//	gwlab vm [-kernel DIR] -- COMMAND      run a gwlab command in a QEMU VM with
//	                                       Debian's kernel (fq_codel, cake, netem)
//	gwlab scenario [-short] [-json F]      a store's worst day, with a verdict
//
// Everything needs root. Without -prefix, commands that act on one lab use
// the only one that exists.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/scenario"
	"github.com/branchgw/branchgw/netctl/netlab/vm"
)

func main() {
	if vm.IsGuest() { // PID 1 of `gwlab vm`
		vm.Guest(func(args []string) int {
			if err := run(context.Background(), args, os.Stdout, os.Stderr); err != nil {
				fmt.Fprintln(os.Stderr, "gwlab:", err)
				return 1
			}
			return 0
		})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gwlab:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command line mistake (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: gwlab COMMAND [flags]
  up       build the store lab and start its cloud servers
  status   show labs, their processes and impairments
  impair   WAN carrier down|up | blackhole on|off | loss PERCENT | rate DOWN UP | flap ON OFF FOR | restore
  down     remove a lab
  clean    remove leftovers of crashed runs (every lab unless -prefix)
  demo     run gatewayd in the lab until Ctrl-C (-gatewayd bin/gatewayd)
  bench    failover: measure failover (-n repetitions)
           qos: POS latency under load, without and with QoS, here and in the VM
  vm       run a gwlab command in a QEMU VM with Debian's kernel: gwlab vm -- bench qos
  scenario a store's worst day with a verdict (-short: 2.5 min; -json FILE)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usagef("no command")
	}
	cmd, args := args[0], args[1:]
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch cmd {
	case "up":
		return cmdUp(ctx, args, stdout, log)
	case "down":
		return cmdDown(args, stdout, log)
	case "clean":
		return cmdClean(args, stdout, log)
	case "status":
		return cmdStatus(args, stdout, log)
	case "impair":
		return cmdImpair(ctx, args, stdout, log)
	case "demo":
		return cmdDemo(ctx, args, stdout, log)
	case "scenario":
		return scenario.Command(ctx, args, stdout, log)
	case "bench":
		return cmdBench(ctx, args, stdout, log)
	case "vm":
		return cmdVM(ctx, args, stdout)
	case "serve":
		return cmdServe(ctx, args, log)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return usagef("unknown command %q", cmd)
}

// flags parses a subcommand's flags; -prefix is common to all.
func flags(name string, args []string, extra func(fs *flag.FlagSet)) (*flag.FlagSet, *string, error) {
	fs := flag.NewFlagSet("gwlab "+name, flag.ContinueOnError)
	prefix := fs.String("prefix", "", "lab prefix (bgl + 4 hex digits); default: the only lab")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if *prefix != "" && !netlab.ValidPrefix(*prefix) {
		return nil, nil, usagef("-prefix %q: want %s plus 4 hex digits", *prefix, netlab.PrefixBase)
	}
	return fs, prefix, nil
}

// onlyLab picks the lab to act on: the given prefix, or the only one.
func onlyLab(prefix string) (string, error) {
	if prefix != "" {
		return prefix, nil
	}
	all, err := netlab.Prefixes()
	if err != nil {
		return "", err
	}
	switch len(all) {
	case 0:
		return "", errors.New("no lab is up (gwlab up makes one)")
	case 1:
		return all[0], nil
	}
	return "", usagef("%d labs are up (%v): name one with -prefix", len(all), all)
}
