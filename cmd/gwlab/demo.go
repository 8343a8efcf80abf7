//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/proc"
)

func cmdDemo(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	var gatewayd, listen string
	_, prefix, err := flags("demo", args, func(fs *flag.FlagSet) {
		fs.StringVar(&gatewayd, "gatewayd", "", "gatewayd binary to run in the gw namespace (empty: the lab alone)")
		fs.StringVar(&listen, "listen", "127.0.0.1:8080", "loopback address forwarded to the status page")
	})
	if err != nil {
		return err
	}
	if gatewayd != "" {
		if gatewayd, err = filepath.Abs(gatewayd); err != nil {
			return err
		}
		if _, err := os.Stat(gatewayd); err != nil {
			return usagef("-gatewayd: %v (make build makes bin/gatewayd)", err)
		}
	}
	l, err := netlab.New(ctx, netlab.Options{Prefix: *prefix, Log: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := l.Close(); err != nil {
			log.Error("lab teardown", "err", err)
		}
		fmt.Fprintf(stdout, "lab %s removed\n", l.Prefix)
	}()
	_, merr := exec.LookPath("mosquitto")
	s, err := l.StartServices(ctx, netlab.ServiceOptions{Mosquitto: merr == nil})
	if err != nil {
		return err
	}
	defer s.Close()
	dir, err := l.Dir()
	if err != nil {
		return err
	}

	var gw *proc.Proc
	var gwDone <-chan struct{} // nil once gatewayd's exit was reported
	if gatewayd != "" {
		cfg, err := labConfig(dir, l.Prefix, nil)
		if err != nil {
			return err
		}
		if gw, err = startGatewayd(l, gatewayd, cfg, filepath.Join(dir, "gatewayd.log")); err != nil {
			return err
		}
		gwDone = gw.Done()
		defer func() {
			if err := gw.Stop(15 * time.Second); err != nil {
				log.Info("gatewayd stopped", "exit", err)
			}
		}()
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("status page forward: %w", err)
	}
	defer ln.Close()
	go l.Forward(ctx, ln, netlab.Office, fmt.Sprintf("%s:443", netlab.GWLAN))

	tills := map[netlab.Node]*posStats{netlab.POS1: {}, netlab.POS2: {}}
	var wg sync.WaitGroup
	for node, st := range tills {
		wg.Go(func() { posTill(ctx, l, node, 500*time.Millisecond, st) })
	}
	defer wg.Wait()

	printDemo(stdout, l.Prefix, listen, dir, gatewayd != "")
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "\nstopping...")
			return nil
		case <-gwDone:
			gwDone = nil
			fmt.Fprintf(stdout, "gatewayd exited: %v (see %s/gatewayd.log); the lab stays up until Ctrl-C\n", gw.Err(), dir)
		case <-tick.C:
			fmt.Fprintf(stdout, "%s  pos1: %v\n%s  pos2: %v\n", time.Now().Format("15:04:05"), tills[netlab.POS1],
				time.Now().Format("15:04:05"), tills[netlab.POS2])
		}
	}
}

// startGatewayd runs gatewayd inside gw, its output to logPath.
func startGatewayd(l *netlab.Lab, bin, cfg, logPath string) (*proc.Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := l.Exec(netlab.GW, bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start gatewayd: %w", err)
	}
	return p, nil
}

func printDemo(w io.Writer, prefix, listen, dir string, withGW bool) {
	printLab(w, prefix)
	if withGW {
		fmt.Fprintf(w, `
gatewayd runs in %[1]s-gw with %[2]s/gatewayd.yaml (log: %[2]s/gatewayd.log).
  status page:   https://%[3]s/  (technician password: change-me; the box's own
                 certificate: accept it once, its SHA-256 is in gatewayd.log)
`, prefix, dir, listen)
	}
	fmt.Fprintf(w, `
pos1 and pos2 run a card transaction every 500 ms; a summary follows every 10 s.
Try, in another terminal:
  bin/gwlab impair wan1 carrier down      # cable pull: failover within a second
  bin/gwlab impair wan1 carrier up        # failback after the hold-down
  bin/gwlab impair wan1 blackhole on      # upstream dead, modem up
  bin/gwlab impair wan1 loss 10           # lossy but usable: no failover
  bin/gwlab impair wan1 rate 2mbit 1mbit  # a slow line
  bin/gwlab impair wan1 flap 1s 1s 60s    # a flapping line: no flapping traffic
  bin/gwlab impair wan1 restore
  bin/gwlab status
Ctrl-C stops gatewayd and removes the lab.

`)
}
