//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

func cmdBench(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	return errors.New("bench: not yet")
}
