package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// scalar is a config type parsed from one YAML scalar. The strict walker
// calls parse first, so a bad value is reported with its path and line.
type scalar interface {
	parse(s string) error
}

// Duration is a time.Duration written with a unit ("500ms", "2m"). A bare
// number is refused: "5" could mean seconds or nanoseconds.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf("%q: a duration needs a unit, like \"500ms\" or \"30s\"", s)
		}
		return fmt.Errorf("%q: not a duration (like \"500ms\" or \"30s\")", s)
	}
	if v < 0 {
		return fmt.Errorf("%q: must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.parse(n.Value) }

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ByteSize is a size in bytes written as "64MiB", "128KiB", "1GB" or a number.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (b *ByteSize) parse(s string) error {
	v, err := parseWithUnit(s, byteUnits)
	if err != nil {
		return fmt.Errorf("%q: not a size (like \"64MiB\", \"128KiB\" or a number of bytes)", s)
	}
	*b = ByteSize(v)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error { return b.parse(n.Value) }

// Rate is a link rate in bits per second written as "20mbit", "512kbit",
// "1gbit" or a number of bits per second.
type Rate int64

var rateUnits = []struct {
	suffix string
	mult   int64
}{
	{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"bit", 1},
}

func (r *Rate) parse(s string) error {
	v, err := parseWithUnit(strings.ToLower(s), rateUnits)
	if err != nil {
		return fmt.Errorf("%q: not a rate (like \"20mbit\" or \"512kbit\")", s)
	}
	*r = Rate(v)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error { return r.parse(n.Value) }

// parseWithUnit reads "<number><unit>"; the number may have a fraction.
func parseWithUnit(s string, units []struct {
	suffix string
	mult   int64
}) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("bad number")
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, errors.New("too large")
	}
	return int64(v), nil
}
