package check

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// partitions lists the partitions of a genimage disk image in order.
func partitions(t *testing.T, genimage string) []string {
	t.Helper()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*partition\s+([\w-]+)\s*\{`).FindAllStringSubmatch(read(t, genimage), -1) {
		names = append(names, m[1])
	}
	return names
}

type slot struct{ name, device, bootname string }

// raucSlots reads the [slot.*] sections and [system] keys of system.conf.
func raucSlots(t *testing.T, conf string) (map[string]string, []slot) {
	t.Helper()
	system := map[string]string{}
	var slots []slot
	section := ""
	for _, line := range strings.Split(read(t, conf), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			if strings.HasPrefix(section, "slot.") {
				slots = append(slots, slot{name: strings.TrimPrefix(section, "slot.")})
			}
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		switch {
		case section == "system":
			system[k] = v
		case strings.HasPrefix(section, "slot.") && k == "device":
			slots[len(slots)-1].device = v
		case strings.HasPrefix(section, "slot.") && k == "bootname":
			slots[len(slots)-1].bootname = v
		}
	}
	return system, slots
}

// TestSlotsMatchPartitions: RAUC's slots A and B are the genimage
// partitions rootfs-a and rootfs-b, there is a data partition, and the
// bundle's compatible (post-image.sh) is the system's.
func TestSlotsMatchPartitions(t *testing.T) {
	for _, board := range boards {
		t.Run(board, func(t *testing.T) {
			dir := filepath.Join(tree, "board", board)
			parts := partitions(t, filepath.Join(dir, "genimage.cfg"))
			system, slots := raucSlots(t, filepath.Join(dir, "rootfs-overlay", "etc", "rauc", "system.conf"))
			if system["compatible"] != "branchgw-"+board {
				t.Errorf("compatible=%q, post-image.sh signs bundles for branchgw-%s", system["compatible"], board)
			}
			if system["data-directory"] != "/data/rauc" {
				t.Errorf("data-directory=%q: RAUC's slot status belongs on the data partition", system["data-directory"])
			}
			if !strings.Contains(system["bundle-formats"], "-plain") {
				t.Error("bundle-formats should refuse plain bundles (verity only)")
			}
			if len(slots) != 2 {
				t.Fatalf("want 2 rootfs slots, got %+v", slots)
			}
			for _, s := range slots {
				want := "rootfs-" + strings.ToLower(s.bootname)
				part := ""
				if p, ok := strings.CutPrefix(s.device, "/dev/disk/by-partlabel/"); ok {
					part = p
				} else if m := regexp.MustCompile(`^/dev/mmcblk0p(\d)$`).FindStringSubmatch(s.device); m != nil {
					var n int
					fmt.Sscan(m[1], &n)
					if n >= 1 && n <= len(parts) {
						part = parts[n-1]
					}
				}
				if part != want {
					t.Errorf("slot %s (bootname %s) is %s, which is partition %q, want %q (partitions %v)", s.name, s.bootname, s.device, part, want, parts)
				}
			}
			hasData := false
			for _, p := range parts {
				hasData = hasData || p == "data"
			}
			if !hasData {
				t.Errorf("no data partition in %v", parts)
			}
		})
	}
	if post := read(t, filepath.Join(tree, "board", "common", "post-image.sh")); !strings.Contains(post, `-L data -d "$TARGET_DIR/data"`) {
		t.Error(`post-image.sh must make data.ext4 with label "data" (data.mount mounts /dev/disk/by-label/data) from the overlay's /data`)
	}
	if mount := read(t, filepath.Join(overlay, "usr", "lib", "systemd", "system", "data.mount")); !strings.Contains(mount, "What=/dev/disk/by-label/data\n") {
		t.Error("data.mount does not mount /dev/disk/by-label/data")
	}
}

// TestBootloadersUseSlotNames: the A/B scripts use RAUC's bootnames and
// the variables RAUC's grub and uboot backends edit.
func TestBootloadersUseSlotNames(t *testing.T) {
	grub := read(t, filepath.Join(tree, "board", "x86_64", "grub.cfg"))
	for _, v := range []string{"ORDER", "A_OK", "A_TRY", "B_OK", "B_TRY", "load_env", "save_env", "rootfs-a", "rootfs-b"} {
		if !strings.Contains(grub, v) {
			t.Errorf("grub.cfg does not use %s", v)
		}
	}
	uboot := read(t, filepath.Join(tree, "board", "rpi4", "boot.cmd"))
	for _, v := range []string{"BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT", "saveenv", "mmcblk0p${bootpart}"} {
		if !strings.Contains(uboot, v) {
			t.Errorf("boot.cmd does not use %s", v)
		}
	}
}
