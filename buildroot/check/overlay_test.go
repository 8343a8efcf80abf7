package check

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

var overlay = filepath.Join(tree, "board", "common", "rootfs-overlay")

// TestShippedConfigLoads: the config the image ships passes the daemon's
// own validation, and networkd addresses exactly the interfaces it names.
func TestShippedConfigLoads(t *testing.T) {
	cfg, err := config.Load(filepath.Join(overlay, "data", "gatewayd", "etc", "gatewayd.yaml"))
	if err != nil {
		t.Fatalf("the shipped config does not load: %v", err)
	}
	want := []string{cfg.LAN.Interface}
	for _, w := range cfg.WAN {
		want = append(want, w.Interface)
	}
	slices.Sort(want)
	var got []string
	files, _ := filepath.Glob(filepath.Join(overlay, "etc", "systemd", "network", "*.network"))
	name := regexp.MustCompile(`(?m)^Name=(\S+)$`)
	for _, f := range files {
		m := name.FindStringSubmatch(read(t, f))
		if m == nil {
			t.Errorf("%s: no [Match] Name=", f)
			continue
		}
		got = append(got, m[1])
		if m[1] == cfg.LAN.Interface {
			addr := regexp.MustCompile(`(?m)^Address=(\S+)$`).FindStringSubmatch(read(t, f))
			if addr == nil || addr[1] != cfg.LAN.Address {
				t.Errorf("%s: Address=%v, but lan.address is %s", f, addr, cfg.LAN.Address)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("networkd configures %v, the config uses %v", got, want)
	}
	if cfg.Telemetry.StorePath != "/var/lib/gatewayd/telemetry.db" {
		t.Errorf("telemetry.store_path %s is not under the data partition's bind mount /var/lib/gatewayd", cfg.Telemetry.StorePath)
	}
}

func TestSysctls(t *testing.T) {
	got := map[string]string{}
	for _, line := range strings.Split(read(t, filepath.Join(overlay, "etc", "sysctl.d", "90-gatewayd.conf")), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			got[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for k, want := range map[string]string{
		"net.ipv4.ip_forward":                "1",
		"net.ipv6.conf.all.forwarding":       "1",
		"net.ipv4.conf.all.rp_filter":        "2",
		"net.ipv4.conf.default.rp_filter":    "2",
		"net.ipv4.conf.all.src_valid_mark":   "1",
		"net.ipv4.fib_multipath_hash_policy": "1",
	} {
		if got[k] != want {
			t.Errorf("sysctl %s = %q, want %q", k, got[k], want)
		}
	}
}

// TestRAUCMarkGoodMasked: RAUC's stock unit would mark every boot good at
// once; gatewayd marks the slot good only once the box is healthy.
func TestRAUCMarkGoodMasked(t *testing.T) {
	target, err := os.Readlink(filepath.Join(overlay, "etc", "systemd", "system", "rauc-mark-good.service"))
	if err != nil || target != "/dev/null" {
		t.Errorf("rauc-mark-good.service is not masked (-> /dev/null): %q %v", target, err)
	}
}

func TestDBusPolicyLetsGatewaydTalkToRAUC(t *testing.T) {
	var doc struct {
		Policies []struct {
			User  string `xml:"user,attr"`
			Allow []struct {
				Dest  string `xml:"send_destination,attr"`
				Iface string `xml:"send_interface,attr"`
			} `xml:"allow"`
		} `xml:"policy"`
	}
	if err := xml.Unmarshal([]byte(read(t, filepath.Join(overlay, "usr", "share", "dbus-1", "system.d", "gatewayd-rauc.conf"))), &doc); err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, p := range doc.Policies {
		for _, a := range p.Allow {
			if p.User == "gatewayd" && a.Dest == "de.pengutronix.rauc" && a.Iface == "de.pengutronix.rauc.Installer" {
				ok = true
			}
			if a.Dest != "de.pengutronix.rauc" {
				t.Errorf("policy for %s allows %q: only RAUC is meant", p.User, a.Dest)
			}
		}
	}
	if !ok {
		t.Error("user gatewayd may not call de.pengutronix.rauc.Installer")
	}
}

// TestPresetEnablesOverlayUnits: every unit with an [Install] section in
// the overlays is enabled by a preset (Buildroot runs preset-all).
func TestPresetEnablesOverlayUnits(t *testing.T) {
	presets := ""
	ps, _ := filepath.Glob(filepath.Join(tree, "board", "*", "rootfs-overlay", "usr", "lib", "systemd", "system-preset", "*.preset"))
	for _, p := range ps {
		presets += read(t, p)
	}
	units, _ := filepath.Glob(filepath.Join(tree, "board", "*", "rootfs-overlay", "usr", "lib", "systemd", "system", "*.*"))
	for _, u := range units {
		if strings.HasSuffix(u, ".d") {
			continue // drop-in directory
		}
		if strings.Contains(read(t, u), "[Install]") && !strings.Contains(presets, "enable "+filepath.Base(u)+"\n") {
			t.Errorf("%s has [Install] but no preset enables it", u)
		}
	}
	if !strings.Contains(presets, "enable gatewayd.service\n") {
		t.Error("no preset enables gatewayd.service")
	}
}

// TestBoardsNameTheInterfaces: each board's .link files give the NICs the
// names the .network files and the config use (wan1, wan2, lan0).
func TestBoardsNameTheInterfaces(t *testing.T) {
	name := regexp.MustCompile(`(?m)^Name=(\S+)$`)
	var want []string
	networks, _ := filepath.Glob(filepath.Join(overlay, "etc", "systemd", "network", "*.network"))
	for _, f := range networks {
		if m := name.FindStringSubmatch(read(t, f)); m != nil {
			want = append(want, m[1])
		}
	}
	slices.Sort(want)
	for _, board := range boards {
		var got []string
		links, _ := filepath.Glob(filepath.Join(tree, "board", board, "rootfs-overlay", "etc", "systemd", "network", "*.link"))
		for _, f := range links {
			text := read(t, f)
			if !strings.Contains(text, "[Match]") {
				t.Errorf("%s: no [Match] section", f)
			}
			if m := name.FindStringSubmatch(text); m != nil {
				got = append(got, m[1])
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s names %v, the .network files configure %v", board, got, want)
		}
	}
}
