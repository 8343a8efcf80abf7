//go:build !linux

package web

import (
	"context"
	"io"
	"time"
)

// CapturePcap is Linux only (AF_PACKET); elsewhere the bundle says so.
func CapturePcap(string) func(ctx context.Context, w io.Writer, d time.Duration) error {
	return func(context.Context, io.Writer, time.Duration) error { return ErrUnsupported }
}
