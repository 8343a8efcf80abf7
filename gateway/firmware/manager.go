// Package firmware keeps updates from bricking a store: it reports the
// booted A/B slot, marks it good only once the box has been healthy for
// firmware.mark_good_after, and installs signed update bundles. The slot
// manager is an interface; RAUC is the real one (the rauc command line,
// over RAUC's D-Bus service), a fake stands in for unit tests.
//
// The fallback itself is the bootloader's: a slot that is never marked
// good loses its boot attempts (GRUB's <slot>_TRY, U-Boot's BOOT_<slot>_LEFT)
// on the next resets, which the hardware watchdog or a power cycle cause,
// and the other slot boots.
package firmware

import (
	"context"
	"errors"
)

// ErrUnsupported says the box has no slot manager (a development machine,
// the lab): the component idles instead of failing.
var ErrUnsupported = errors.New("no A/B slot manager on this system")

// Status is the slot manager's view of the system.
type Status struct {
	// Compatible is the system's compatible string (bundles must match).
	Compatible string
	// Booted is the bootname of the running slot ("A" or "B").
	Booted string
	// Primary is the slot the bootloader tries first next time.
	Primary string
	// Slots are the rootfs slots by bootname.
	Slots []Slot
}

// Slot is one rootfs slot.
type Slot struct {
	Name     string // RAUC's slot name, "rootfs.0"
	Bootname string // "A"
	Device   string
	State    string // "booted", "active" or "inactive"
	// BootStatus is the bootloader's verdict: "good" or "bad".
	BootStatus string
	// Version is the version of the bundle last installed into the slot.
	Version string
}

// BootedSlot returns the slot that is running, if Status names one.
func (s Status) BootedSlot() (Slot, bool) {
	for _, sl := range s.Slots {
		if sl.Bootname == s.Booted || sl.State == "booted" {
			return sl, true
		}
	}
	return Slot{}, false
}

// Progress is one step of an install, as the manager reports it.
type Progress struct {
	Percent int
	Message string
}

// Manager is the A/B slot manager.
type Manager interface {
	// Status returns the slots, or ErrUnsupported.
	Status(ctx context.Context) (Status, error)
	// MarkGood tells the bootloader the booted slot works.
	MarkGood(ctx context.Context) error
	// Install writes a signed bundle (a file path or an http(s) URL) into
	// the inactive slot and makes it the next boot's primary, reporting
	// progress as it goes. The manager verifies the signature.
	Install(ctx context.Context, bundle string, progress func(Progress)) error
}
