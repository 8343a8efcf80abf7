//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab"
	"gopkg.in/yaml.v3"
)

func cmdImpair(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs, prefix, err := flags("impair", args, nil)
	if err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return usagef("impair: want WAN ACTION, like `gwlab impair wan1 carrier down`")
	}
	wan, err := netlab.WANIndex(rest[0])
	if err != nil {
		return usageError{err.Error()}
	}
	p, err := onlyLab(*prefix)
	if err != nil {
		return err
	}
	l, err := netlab.Attach(p, log)
	if err != nil {
		return err
	}
	defer l.Release()
	if err := impair(ctx, l, wan, rest[1], rest[2:], stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", netlab.WAN[wan].Name, describe(l.Impairments()[wan]))
	return nil
}

// impair applies one action; it is separate from the flags so tests and
// the demo's hints share one parser.
func impair(ctx context.Context, l *netlab.Lab, wan int, action string, args []string, stdout io.Writer) error {
	need := map[string]int{"carrier": 1, "blackhole": 1, "loss": 1, "rate": 2, "flap": 3, "restore": 0}
	n, ok := need[action]
	if !ok {
		return usagef("impair: unknown action %q (carrier, blackhole, loss, rate, flap, restore)", action)
	}
	if len(args) != n {
		return usagef("impair %s: want %d argument(s), got %d", action, n, len(args))
	}
	switch action {
	case "carrier":
		up, err := onOff(args[0], "up", "down")
		if err != nil {
			return err
		}
		return l.Carrier(wan, up)
	case "blackhole":
		on, err := onOff(args[0], "on", "off")
		if err != nil {
			return err
		}
		return l.BlackHole(wan, on)
	case "loss":
		pct, err := strconv.Atoi(args[0])
		if err != nil || pct < 0 || pct > 100 {
			return usagef("impair loss %q: want a percentage 0 to 100", args[0])
		}
		return l.Loss(wan, pct)
	case "rate":
		down, err := parseRate(args[0])
		if err != nil {
			return err
		}
		up, err := parseRate(args[1])
		if err != nil {
			return err
		}
		return l.SetRate(wan, netlab.ISPShape{Down: netlab.Shape{RateBits: down}, Up: netlab.Shape{RateBits: up}})
	case "flap":
		var d [3]time.Duration
		for i, s := range args {
			v, err := time.ParseDuration(s)
			if err != nil || v <= 0 {
				return usagef("impair flap %q: want durations ON OFF FOR, like 1s 1s 60s", s)
			}
			d[i] = v
		}
		return flap(ctx, l, wan, d[0], d[1], d[2], stdout)
	}
	return l.Restore(wan)
}

func onOff(s, yes, no string) (bool, error) {
	switch s {
	case yes:
		return true, nil
	case no:
		return false, nil
	}
	return false, usagef("%q: want %s or %s", s, yes, no)
}

func parseRate(s string) (uint64, error) {
	var r config.Rate
	if err := yaml.Unmarshal([]byte(s), &r); err != nil || r <= 0 {
		return 0, usagef("rate %q: want a rate like 20mbit or 512kbit", s)
	}
	return uint64(r), nil
}

// flap pulls and plugs the cable: on for `on`, off for `off`, for `total`,
// and leaves it plugged.
func flap(ctx context.Context, l *netlab.Lab, wan int, on, off, total time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	flaps := 0
	var err error
	for ctx.Err() == nil && err == nil {
		if err = l.Carrier(wan, false); err != nil {
			break
		}
		sleep(ctx, off)
		if err = l.Carrier(wan, true); err != nil {
			break
		}
		flaps++
		sleep(ctx, on)
	}
	fmt.Fprintf(stdout, "%s: %d flaps\n", netlab.WAN[wan].Name, flaps)
	return errors.Join(err, l.Carrier(wan, true))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
