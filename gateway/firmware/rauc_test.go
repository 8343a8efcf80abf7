package firmware

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// recorder is a Runner and StreamRunner that records command lines.
type recorder struct {
	lines  []string
	out    string
	stream []string
	err    error
}

func (r *recorder) run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.lines = append(r.lines, name+" "+strings.Join(args, " "))
	return []byte(r.out), r.err
}

func (r *recorder) streamRun(_ context.Context, line func(string), name string, args ...string) error {
	r.lines = append(r.lines, name+" "+strings.Join(args, " "))
	for _, l := range r.stream {
		line(l)
	}
	return r.err
}

// A status as rauc 1.13 prints it with a grub backend after an update to B.
const statusB = `{"compatible":"branchgw-x86_64","variant":"","booted":"B","boot_primary":"rootfs.1",
"slots":[{"rootfs.0":{"class":"rootfs","device":"/dev/disk/by-partlabel/rootfs-a","type":"ext4","bootname":"A","state":"inactive","parent":null,"mountpoint":null,"boot_status":"good",
  "slot_status":{"bundle":{"compatible":"branchgw-x86_64","version":"v1.0.0"},"status":"ok"}}},
 {"rootfs.1":{"class":"rootfs","device":"/dev/disk/by-partlabel/rootfs-b","type":"ext4","bootname":"B","state":"booted","parent":null,"mountpoint":"/","boot_status":"bad",
  "slot_status":{"bundle":{"compatible":"branchgw-x86_64","version":"v1.1.0"},"status":"ok"}}}],
"artifact-repositories":[]}`

// Some setups report the booted device instead of the bootname.
const statusDevice = `{"compatible":"branchgw-rpi4","booted":"/dev/mmcblk0p2","boot_primary":"rootfs.0",
"slots":[{"rootfs.1":{"class":"rootfs","device":"/dev/mmcblk0p3","bootname":"B","state":"inactive","boot_status":"good"}},
 {"rootfs.0":{"class":"rootfs","device":"/dev/mmcblk0p2","bootname":"A","state":"active","boot_status":"good"}}]}`

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name, json             string
		booted, primary, bootd string
		version                string
		err                    string
	}{
		{"grub after update", statusB, "B", "B", "bad", "v1.1.0", ""},
		{"booted is a device", statusDevice, "A", "A", "good", "", ""},
		{"not json", "rauc: command not understood", "", "", "", "", "not the JSON rauc prints"},
		{"no slots", `{"compatible":"x","booted":"A","slots":[]}`, "", "", "", "", "no rootfs slots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseStatus([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, ok := st.BootedSlot()
			if !ok || st.Booted != tc.booted || st.Primary != tc.primary || b.BootStatus != tc.bootd || b.Version != tc.version {
				t.Errorf("got %+v booted %+v", st, b)
			}
		})
	}
}

// TestRAUCCommandLines pins the command lines to RAUC's manual.
func TestRAUCCommandLines(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{out: statusB, stream: []string{
		"installing", "  0% Installing", " 40% Checking bundle", "100% Installing done.", "idle",
		"Installing `https://ops.example/b.raucb' succeeded"}}
	r := &RAUC{Path: "/usr/bin/rauc", Run: rec.run, Stream: rec.streamRun}
	if _, err := r.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.MarkGood(ctx); err != nil {
		t.Fatal(err)
	}
	var got []Progress
	if err := r.Install(ctx, "https://ops.example/b.raucb", func(p Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/usr/bin/rauc status --detailed --output-format=json",
		"/usr/bin/rauc status mark-good booted",
		"/usr/bin/rauc install https://ops.example/b.raucb",
	}
	if !reflect.DeepEqual(rec.lines, want) {
		t.Errorf("command lines:\n%s\nwant:\n%s", strings.Join(rec.lines, "\n"), strings.Join(want, "\n"))
	}
	wantProgress := []Progress{{0, "Installing"}, {40, "Checking bundle"}, {100, "Installing done."}}
	if !reflect.DeepEqual(got, wantProgress) {
		t.Errorf("progress %+v, want %+v", got, wantProgress)
	}
}

func TestInstallRefusesBadBundles(t *testing.T) {
	rec := &recorder{}
	r := &RAUC{Run: rec.run, Stream: rec.streamRun}
	for _, b := range []string{"--help", "bundle.raucb", "ftp://x/b.raucb", "https:///nohost", "file:///etc/passwd", ""} {
		if err := r.Install(context.Background(), b, nil); err == nil {
			t.Errorf("Install(%q) accepted", b)
		}
	}
	if len(rec.lines) != 0 {
		t.Errorf("rauc ran for a refused bundle: %v", rec.lines)
	}
}

func TestRAUCErrors(t *testing.T) {
	ctx := context.Background()
	missing := &RAUC{Path: "/nonexistent/rauc-" + t.Name()}
	missing.Run, missing.Stream = execRun, execStream
	if _, err := missing.Status(ctx); !errors.Is(err, ErrUnsupported) {
		t.Errorf("missing rauc: Status err = %v, want ErrUnsupported", err)
	}
	if err := missing.Install(ctx, "/data/b.raucb", nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("missing rauc: Install err = %v, want ErrUnsupported", err)
	}
	failing := &RAUC{Path: "sh"}
	failing.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return execRun(ctx, "sh", "-c", "echo 'Failed to mark slot: not booted' >&2; exit 1")
	}
	err := failing.MarkGood(ctx)
	if err == nil || !strings.Contains(err.Error(), "rauc status mark-good booted") || !strings.Contains(err.Error(), "Failed to mark slot") {
		t.Errorf("MarkGood err = %v, want the command and rauc's message", err)
	}
}
