package check

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TestPostImageBuildsTheDisk runs the boards' real post-image.sh with
// Debian's genimage and e2fsprogs standing in for Buildroot's host tools,
// on stand-in boot files and a small rootfs, and reads back the partition
// table, the A/B state and the seeded data partition.
func TestPostImageBuildsTheDisk(t *testing.T) {
	genimage := testenv.NeedCommand(t, "genimage")
	mkfs := testenv.NeedCommand(t, "mkfs.ext4")
	sfdisk := testenv.NeedCommand(t, "sfdisk")
	debugfs := testenv.NeedCommand(t, "debugfs")
	e2label := testenv.NeedCommand(t, "e2label")
	testenv.NeedCommand(t, "mkfs.vfat")
	testenv.NeedCommand(t, "mcopy")
	postImage, _ := filepath.Abs(filepath.Join(tree, "board", "common", "post-image.sh"))
	overlayData, _ := filepath.Abs(filepath.Join(overlay, "data"))

	for _, tc := range []struct {
		board string
		files []string // stand-ins for what Buildroot's packages put in images/
		label string   // partition table type sfdisk reports
		parts []string // GPT names, or MBR types
	}{
		{"x86_64", []string{"efi-part/EFI/BOOT/bootx64.efi", "efi-part/EFI/BOOT/grub.cfg"}, "gpt",
			[]string{"efi", "rootfs-a", "rootfs-b", "data"}},
		{"rpi4", []string{"rpi-firmware/start4.elf", "rpi-firmware/fixup4.dat", "rpi-firmware/config.txt",
			"rpi-firmware/overlays/README", "bcm2711-rpi-4-b.dtb", "u-boot.bin", "boot.scr"}, "dos",
			[]string{"c", "83", "83", "83"}},
	} {
		t.Run(tc.board, func(t *testing.T) {
			dir := t.TempDir()
			top, images, host, target := filepath.Join(dir, "buildroot"), filepath.Join(dir, "images"), filepath.Join(dir, "host"), filepath.Join(dir, "target")
			for _, f := range tc.files {
				write(t, filepath.Join(images, f), "stand-in for "+f)
			}
			run(t, mkfs, "-q", "-L", "rootfs", filepath.Join(images, "rootfs.ext4"), "16M")
			// Buildroot's host tools and its genimage.sh wrapper, stood in
			// for by Debian's (the wrapper passes an empty root path too).
			must(t, os.MkdirAll(filepath.Join(host, "sbin"), 0o755))
			must(t, os.Symlink(mkfs, filepath.Join(host, "sbin", "mkfs.ext4")))
			write(t, filepath.Join(top, "support", "scripts", "genimage.sh"), `#!/bin/bash
set -e
[ "$1" = -c ] || exit 2
root=$(mktemp -d) tmp=$(mktemp -d)
trap 'rm -rf "$root" "$tmp"' EXIT
`+genimage+` --rootpath "$root" --tmppath "$tmp" --inputpath "$BINARIES_DIR" --outputpath "$BINARIES_DIR" --config "$2"
`)
			must(t, os.Chmod(filepath.Join(top, "support", "scripts", "genimage.sh"), 0o755))
			must(t, os.MkdirAll(target, 0o755))
			must(t, os.Symlink(overlayData, filepath.Join(target, "data")))

			cmd := exec.Command(postImage, images, tc.board)
			cmd.Dir = top
			cmd.Env = append(os.Environ(), "BINARIES_DIR="+images, "HOST_DIR="+host, "TARGET_DIR="+target,
				"BRANCHGW_RAUC_KEY=", "BRANCHGW_RAUC_CERT=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("post-image.sh %s: %v\n%s", tc.board, err, out)
			}

			disk := filepath.Join(images, map[string]string{"x86_64": "disk.img", "rpi4": "sdcard.img"}[tc.board])
			var table struct {
				PartitionTable struct {
					Label      string `json:"label"`
					Partitions []struct {
						Name string `json:"name"`
						Type string `json:"type"`
					} `json:"partitions"`
				} `json:"partitiontable"`
			}
			must(t, json.Unmarshal(run(t, sfdisk, "--json", disk), &table))
			pt := table.PartitionTable
			var got []string
			for _, p := range pt.Partitions {
				if pt.Label == "gpt" {
					got = append(got, p.Name)
				} else {
					got = append(got, p.Type)
				}
			}
			if pt.Label != tc.label || strings.Join(got, " ") != strings.Join(tc.parts, " ") {
				t.Errorf("%s: %s table %v, want %s %v", disk, pt.Label, got, tc.label, tc.parts)
			}

			// The data partition carries the shipped config, so the box
			// starts with it and an update never replaces it.
			data := filepath.Join(images, "data.ext4")
			if label := strings.TrimSpace(string(run(t, e2label, data))); label != "data" {
				t.Errorf("data.ext4 label %q, want data", label)
			}
			cfg := run(t, debugfs, "-R", "cat /gatewayd/etc/gatewayd.yaml", data)
			if !strings.Contains(string(cfg), "site: unprovisioned") {
				t.Errorf("data.ext4 does not hold the shipped config:\n%.300s", cfg)
			}

			if tc.board == "x86_64" {
				env, err := os.ReadFile(filepath.Join(images, "efi-part", "EFI", "BOOT", "grubenv"))
				must(t, err)
				if len(env) != 1024 || !strings.HasPrefix(string(env), "# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\n") {
					t.Errorf("grubenv: %d bytes, starts %q", len(env), env[:min(len(env), 80)])
				}
				if b, _ := os.ReadFile(filepath.Join(images, "efi-part", "EFI", "BOOT", "grub.cfg")); !strings.Contains(string(b), "load_env") {
					t.Error("post-image.sh did not install the A/B grub.cfg")
				}
			}
		})
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(text), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return out
}

// TestPostBuildNeedsTheKeyring: an image that could never take an update
// (no RAUC keyring) is refused at build time.
func TestPostBuildNeedsTheKeyring(t *testing.T) {
	script, _ := filepath.Abs(filepath.Join(tree, "board", "common", "post-build.sh"))
	for _, board := range boards {
		for _, tc := range []struct {
			name    string
			keyring bool
			ok      bool
		}{{"with keyring", true, true}, {"without keyring", false, false}} {
			t.Run(board+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				target := filepath.Join(dir, "target")
				must(t, os.MkdirAll(target, 0o755))
				env := append(os.Environ(), "BRANCHGW_RAUC_KEYRING=")
				if tc.keyring {
					write(t, filepath.Join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n")
					env = append(env, "BRANCHGW_RAUC_KEYRING="+filepath.Join(dir, "ca.pem"))
				}
				cmd := exec.Command(script, target, board)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if (err == nil) != tc.ok {
					t.Fatalf("post-build.sh: %v, want ok=%v\n%s", err, tc.ok, out)
				}
				if !tc.ok {
					if !strings.Contains(string(out), "BRANCHGW_RAUC_KEYRING") {
						t.Errorf("the failure does not say what to set: %s", out)
					}
					return
				}
				for _, p := range []string{"data", "etc/gatewayd", "etc/rauc/keyring.pem"} {
					if _, err := os.Stat(filepath.Join(target, p)); err != nil {
						t.Errorf("post-build.sh did not make %s: %v", p, err)
					}
				}
			})
		}
	}
}
