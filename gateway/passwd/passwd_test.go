package passwd

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	h, err := New("s3cret", minIterations)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(h, "s3cret") {
		t.Error("right password refused")
	}
	if Verify(h, "s3cret ") || Verify(h, "") {
		t.Error("wrong password accepted")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "not a password hash"},
		{"md5$1$2$3", "not a password hash"},
		{"pbkdf2-sha256$10$c2FsdHNhbHQ$a2V5", "iterations"},
		{"pbkdf2-sha256$20000$!!$a2V5", "base64"},
		{"pbkdf2-sha256$20000$c2FsdHNhbHQ$a2V5", "right length"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
		if Verify(tc.in, "x") {
			t.Errorf("Verify(%q) accepted a bad hash", tc.in)
		}
	}
}

// TestAttackHugeIterationCount (issue 18, 7): a hash with 2^40 iterations
// is refused by Parse (and so by config validation); Verify refuses it at
// once instead of computing for days in the single check slot.
func TestAttackHugeIterationCount(t *testing.T) {
	h, err := New("s3cret", minIterations)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Replace(h, "$10000$", "$1099511627776$", 1)
	if _, err := Parse(huge); err == nil || !strings.Contains(err.Error(), "iterations") {
		t.Fatalf("Parse of 2^40 iterations: %v, want refused", err)
	}
	if Verify(huge, "s3cret") {
		t.Error("Verify accepted a hash it cannot afford to check")
	}
}
