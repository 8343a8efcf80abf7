package qos

import (
	"math"
	"testing"
)

// percentOf is exact and cannot overflow, whatever rate reaches it.
func TestPercentOf(t *testing.T) {
	for _, tc := range []struct {
		rate uint64
		pct  int
		want uint64
	}{
		{20e6, 15, 3e6},
		{64e3, 33, 21120},
		{99, 50, 49},
		{100e9, 100, 100e9},
		{math.MaxUint64, 100, math.MaxUint64},
		{math.MaxUint64, 50, math.MaxUint64 / 2},
	} {
		if got := percentOf(tc.rate, tc.pct); got != tc.want {
			t.Errorf("percentOf(%d, %d) = %d, want %d", tc.rate, tc.pct, got, tc.want)
		}
	}
}
