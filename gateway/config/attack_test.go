package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// aliasBomb is about 20 KB of YAML whose aliases expand into 101 WANs of 100
// bad probes each: the old walker followed every alias and reported 20,200
// errors, all of which a push sent back to head office.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("site: s1\nwan:\n  - &w\n    name: wan1\n    interface: eth0\n    probes:\n      - &b {type: bad, target: x}\n")
	for range 99 {
		b.WriteString("      - *b\n")
	}
	for range 100 {
		b.WriteString("  - *w\n")
	}
	b.WriteString("lan:\n  interface: eth1\n  address: 198.18.10.1/24\n")
	for b.Len() < 20<<10 {
		b.WriteString("# padding to the attack's size\n")
	}
	return b.String()
}

// errorsOf parses y and returns its error list, failing if it parsed.
func errorsOf(t *testing.T, y string) []Error {
	t.Helper()
	_, err := Parse([]byte(y), t.TempDir())
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %v", err)
	}
	return errs.List
}

// TestAttackYAMLAliases (issue 18, 5): aliases are refused where they are
// used, so the walker never expands them, and the report stays small.
func TestAttackYAMLAliases(t *testing.T) {
	list := errorsOf(t, aliasBomb())
	if len(list) > maxErrors+1 {
		t.Fatalf("%d errors reported, want at most %d", len(list), maxErrors+1)
	}
	if !strings.Contains(list[0].String(), "aliases are not allowed") {
		t.Errorf("first error %q does not name the alias", list[0])
	}
	if got := len(fmt.Sprint(list)); got > 16<<10 {
		t.Errorf("the report is %d bytes", got)
	}
}

// TestAttackErrorFlood (issue 18, 5): a file with thousands of problems
// reports the first 50 and counts the rest; long values are clipped.
func TestAttackErrorFlood(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimal)
	for i := range 1000 {
		fmt.Fprintf(&b, "bogus%d: %s\n", i, strings.Repeat("v", 100))
	}
	list := errorsOf(t, b.String())
	if len(list) != maxErrors+1 || list[maxErrors].Msg != "and 950 more problems" {
		t.Fatalf("%d errors, last %q", len(list), list[len(list)-1])
	}

	long := strings.Repeat("é", 5000)
	list = errorsOf(t, edit(t, "198.51.100.1", long))
	if s := list[0].String(); len(s) > 200 || !strings.Contains(s, "…") || !strings.Contains(s, "not an IP address") {
		t.Errorf("a 10 KB value echoed as %d bytes: %.300s", len(s), s)
	}
}

func TestAttackHugeFile(t *testing.T) {
	big := minimal + "# " + strings.Repeat("x", MaxSize) + "\n"
	if list := errorsOf(t, big); !strings.Contains(list[0].Msg, "larger than 128 KiB") {
		t.Errorf("got %v", list)
	}
	// Load stops reading at the cap, whatever the file's size.
	p := filepath.Join(t.TempDir(), "gatewayd.yaml")
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load: %v", err)
	}
}

// TestSmallerAttacks covers issue 18, 10: a second document and a version
// that would refuse every later push.
func TestSmallerAttacks(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"second document", minimal + "---\nsite: other\n", "a second YAML document (after ---): a config is one document (line 13)"},
		{"second document, empty", minimal + "---\n", "a second YAML document"},
		{"version at int64's maximum", minimal + "version: 9223372036854775807\n", "version: 9223372036854775807: must be between 0 and 9007199254740991"},
		{"negative version", minimal + "version: -1\n", "must be between 0 and"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := errorsOf(t, tc.yaml)
			if !strings.Contains(list[0].String(), tc.want) {
				t.Errorf("got %q, want %q", list[0], tc.want)
			}
		})
	}
	for _, ok := range []string{minimal + "version: 9007199254740991\n", minimal + "version: 20261207153000\n", "---\n" + minimal} {
		if _, err := Parse([]byte(ok), t.TempDir()); err != nil {
			t.Errorf("%q: %v", ok[len(ok)-30:], err)
		}
	}
}

// A config may name any path as a secret or TLS file. A device that never
// ends, a FIFO nobody writes or a huge file must be refused at once, not read
// until memory runs out or wait forever.
func TestAttackSecretFromDevice(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecret+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"password from /dev/zero", "mqtt:\n  password_file: /dev/zero\n", `mqtt.password_file: "/dev/zero": not a regular file`},
		{"password from a FIFO", "mqtt:\n  password_file: " + fifo + "\n", "mqtt.password_file: \"" + fifo + "\": not a regular file"},
		{"password file too big", "mqtt:\n  password_file: " + big + "\n", "mqtt.password_file: \"" + big + "\": larger than 64 KiB"},
		{"CA from a FIFO", "mqtt:\n  tls:\n    ca_file: " + fifo + "\n", "mqtt.tls.ca_file: \"" + fifo + "\": not a regular file"},
		{"hash from /dev/urandom", "web:\n  technician_password_hash_file: /dev/urandom\n", `web.technician_password_hash_file: "/dev/urandom": not a regular file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Parse([]byte(minimal+tc.yaml), dir); done <- err }()
			select {
			case err := <-done:
				var errs *Errors
				if !errors.As(err, &errs) || len(errs.List) != 1 || !strings.Contains(errs.List[0].String(), tc.want) {
					t.Errorf("error = %v, want one problem containing %q", err, tc.want)
				}
			case <-time.After(time.Minute): // a hang, not a timing goal
				t.Fatal("Parse hangs on the file")
			}
		})
	}
}
