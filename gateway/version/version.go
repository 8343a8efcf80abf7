// Package version holds what `gatewayd -version` prints. The Makefile sets
// the variables with -ldflags -X; a plain `go build` says "dev".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by the Makefile.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Arch is the target architecture, with the ARM level for 32-bit ARM
// ("arm64", "armv7", "amd64").
func Arch() string {
	if runtime.GOARCH == "arm" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "GOARM" {
					return "armv" + s.Value[:1]
				}
			}
		}
	}
	return runtime.GOARCH
}

// String is the one-line version: name, version, commit, date, Go, os/arch.
func String(name string) string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s, %s/%s)",
		name, Version, Commit, Date, runtime.Version(), runtime.GOOS, Arch())
}
