//go:build linux

package scenario

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
)

// ErrGoalsMissed is returned by Command when the verdict missed a goal.
var ErrGoalsMissed = errors.New("the scenario missed goals")

// Command is `gwlab scenario`: it runs the scenario, prints the verdict
// table (and writes its JSON with -json) and returns ErrGoalsMissed when a
// goal was missed, so the exit status says pass or fail.
//
//	gwlab scenario [-short] [-gatewayd bin/gatewayd] [-json verdict.json] [-artifacts DIR]
func Command(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("gwlab scenario", flag.ContinueOnError)
	fs.SetOutput(stdout)
	short := fs.Bool("short", false, "the short scenario (about 2.5 minutes) instead of the 15-minute one")
	bin := fs.String("gatewayd", "bin/gatewayd", "gatewayd binary to run in the lab (make build makes it)")
	jsonPath := fs.String("json", "", "also write the verdict as JSON to this file")
	artifacts := fs.String("artifacts", "", "keep gatewayd's and mosquitto's logs and the raw observations in this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("gwlab scenario: unexpected argument %q", fs.Arg(0))
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	p := Long()
	if *short {
		p = Short()
	}
	v, err := Run(ctx, p, Options{Gatewayd: abs, Log: log, Progress: stdout, Artifacts: *artifacts})
	if err != nil {
		return err
	}
	if err := v.WriteTable(stdout); err != nil {
		return err
	}
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err != nil {
			return err
		}
		if err := errors.Join(v.WriteJSON(f), f.Close()); err != nil {
			return fmt.Errorf("verdict JSON: %w", err)
		}
	}
	if !v.Pass {
		return fmt.Errorf("%w: %s", ErrGoalsMissed, strings.Join(v.Missed(), "; "))
	}
	return nil
}
