// Command gatewayd is the branch gateway daemon: it loads the config and runs
// gateway.Run until SIGTERM. SIGHUP reloads the config (a bad file is
// refused and the running config stays).
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

	"github.com/branchgw/branchgw/gateway"
	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/version"
)

const defaultConfig = "/etc/gatewayd/gatewayd.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes: 0 fine, 1 runtime failure, 2 bad usage or config.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gatewayd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", defaultConfig, "config file")
	check := fs.Bool("check-config", false, "validate the config file and exit")
	showVersion := fs.Bool("version", false, "print version and exit")
	withFirewall := fs.Bool("firewall", false, "with cleanup: remove the zone firewall too (uninstall; leaves the store open)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gatewayd [-config FILE] [-check-config] [-version] [[-firewall] cleanup]\n\n"+
			"cleanup removes the routes, rules, connection marks, qdiscs and socket the daemon owns\n"+
			"(systemd runs it after every stop); the zone firewall stays, so the store stays closed,\n"+
			"unless -firewall is given.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cleanup := fs.NArg() == 1 && fs.Arg(0) == "cleanup"
	if fs.NArg() > 0 && !cleanup {
		fmt.Fprintf(stderr, "gatewayd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("gatewayd"))
		fmt.Fprintln(stdout, "sqlite", version.SQLite())
		return 0
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cleanup {
		log := newLogger(cfg.Log.Format, new(slog.LevelVar), stderr)
		if err := gateway.Cleanup(cfg, log, *withFirewall); err != nil {
			return 1
		}
		return 0
	}
	if *check {
		fmt.Fprintf(stdout, "%s: OK (site %s, %d WANs, %d zones)\n", *configPath, cfg.Site, len(cfg.WAN), len(cfg.Zones))
		return 0
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log.Format, level, stderr)
	if err := serve(cfg, *configPath, log, level); err != nil {
		return 1
	}
	return 0
}

func newLogger(format string, level *slog.LevelVar, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the daemon with signal handling until SIGTERM or SIGINT.
func serve(cfg *config.Config, path string, log *slog.Logger, level *slog.LevelVar) error {
	g, err := gateway.New(cfg, gateway.Options{Logger: log, Level: level, ConfigPath: path})
	if err != nil {
		log.Error("gatewayd cannot start", "err", err)
		return err
	}
	log = g.Logger() // from here on, lines reach the status page's log too
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				log.Info("stopping", "signal", sig.String())
				cancel()
				continue
			}
			reload(g, path, log)
		}
	}
}

// reload validates the file before anything changes; a bad file leaves the
// running config in force and says so in one line.
func reload(g *gateway.Gateway, path string, log *slog.Logger) {
	cfg, err := config.Load(path)
	if err != nil {
		var errs *config.Errors
		if errors.As(err, &errs) && len(errs.List) > 1 {
			err = fmt.Errorf("%s (and %d more problems)", errs.List[0], len(errs.List)-1)
		}
		log.Error("config reload rejected; keeping the running config", "err", err.Error())
		return
	}
	if err := g.Reload(cfg); err != nil {
		log.Error("config reload incomplete", "err", err)
	}
}
