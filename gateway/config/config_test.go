package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleIsValid(t *testing.T) {
	c, err := Parse(Example, ".")
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if c.Site != "store-0042" || c.GatewayID != "store-0042" || c.MQTT.ClientID != "branchgw-store-0042" {
		t.Errorf("ids: site %q gateway %q client %q", c.Site, c.GatewayID, c.MQTT.ClientID)
	}
	if len(c.WAN) != 2 || c.WAN[1].Priority != 2 || c.WAN[0].RateUp != 20e6 {
		t.Errorf("wan: %+v", c.WAN)
	}
	if c.Failover.ProbeInterval.D() != 200*time.Millisecond || c.Telemetry.Budget != 64<<20 {
		t.Errorf("failover %+v telemetry %+v", c.Failover, c.Telemetry)
	}
	if c.Inspect.Interface != "lan0" || c.Zones[0].Interface != "lan0" {
		t.Errorf("interface defaults: inspect %q zone %q", c.Inspect.Interface, c.Zones[0].Interface)
	}
}

func TestDefaultsFillMinimalConfig(t *testing.T) {
	c, err := Parse([]byte(minimal), ".")
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Socket != DefaultSocket || c.Telemetry.StorePath != DefaultStorePath {
		t.Errorf("paths: %q %q", c.Web.Socket, c.Telemetry.StorePath)
	}
	if len(c.QoS.Classes) != 5 || !c.QoS.Enabled || c.MQTT.TopicPrefix != "branchgw" {
		t.Errorf("qos %+v prefix %q", c.QoS, c.MQTT.TopicPrefix)
	}
}

// minimal is the smallest valid config; bad cases are edits of it.
const minimal = `site: s1
wan:
  - name: wan1
    interface: eth0
    rate_up: 10mbit
    rate_down: 50mbit
    probes:
      - type: icmp
        target: 198.51.100.1
lan:
  interface: eth1
  address: 198.18.10.1/24
`

// edit replaces old with new in minimal, failing loudly if old is absent.
func edit(t *testing.T, pairs ...string) string {
	s := minimal
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q not in minimal config", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestBadConfigs(t *testing.T) {
	twoProbes := "    probes:\n      - type: icmp\n        target: 198.51.100.1\n"
	for _, tc := range []struct {
		name string
		yaml func(t *testing.T) string
		want string
	}{
		{"empty file", func(*testing.T) string { return "" }, "the file is empty"},
		{"syntax", func(t *testing.T) string { return "site: [s1\n" }, "line 1: did not find expected ',' or ']'"},
		{"not a mapping", func(t *testing.T) string { return "- a\n- b\n" }, `expected a mapping of fields, found a list (line 1)`},
		{"unknown top-level field", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nsiet: s2") },
			`siet: unknown field (did you mean "site"?) (line 2)`},
		{"unknown nested field", func(t *testing.T) string {
			return edit(t, "        target: 198.51.100.1", "        tagret: 198.51.100.1")
		},
			`wan[0].probes[0].tagret: unknown field (did you mean "target"?) (line 9)`},
		{"duplicate key", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nsite: s2") },
			`site: defined twice (line 2)`},
		{"probe target not an IP", func(t *testing.T) string { return edit(t, "198.51.100.1", "1.2.3") },
			`wan[0].probes[0].target: "1.2.3": not an IP address (line 9)`},
		{"missing site", func(t *testing.T) string { return edit(t, "site: s1\n", "") }, `site: required`},
		{"mark-good hold too short", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nfirmware:\n  mark_good_after: 5s") },
			`firmware.mark_good_after: 5s: must be between 30s and 24h0m0s (line 3)`},
		{"bad site", func(t *testing.T) string { return edit(t, "site: s1", "site: Store/1") },
			`site: "Store/1": use 1 to 63 lower-case letters, digits and dashes (it becomes part of MQTT topics) (line 1)`},
		{"no wan", func(t *testing.T) string { return "site: s1\nlan:\n  interface: eth1\n  address: 198.18.10.1/24\n" },
			`wan: at least one WAN is required`},
		{"three wans", func(t *testing.T) string {
			w := "  - name: wan%d\n    interface: eth%d\n    rate_up: 1mbit\n    rate_down: 1mbit\n" + twoProbes
			s := "site: s1\nwan:\n"
			for i := 1; i <= 3; i++ {
				s += strings.ReplaceAll(strings.ReplaceAll(w, "wan%d", "wan"+string(rune('0'+i))), "eth%d", "eth"+string(rune('0'+i)))
			}
			return s + "lan:\n  interface: lan0\n  address: 198.18.10.1/24\n"
		}, `wan: at most 2 WANs are supported, found 3 (line 3)`},
		{"rate without unit parses as bits", func(t *testing.T) string { return edit(t, "rate_up: 10mbit", "rate_up: fast") },
			`wan[0].rate_up: "fast": not a rate (like "20mbit" or "512kbit") (line 5)`},
		{"TestAttackHugeWANRate: a rate that overflowed the shaper (issue 18, 8)", func(t *testing.T) string {
			return edit(t, "rate_up: 10mbit", "rate_up: 204963823041217241bit")
		}, `wan[0].rate_up: 204963823041217248 bit/s: faster than any line, at most 100gbit (line 5)`},
		{"rate missing with qos on", func(t *testing.T) string { return edit(t, "    rate_up: 10mbit\n", "") },
			`wan[0].rate_up: required when qos is enabled: the shaper needs the link's rate (like "20mbit") (line 3)`},
		{"duration without unit", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nfailover:\n  probe_interval: 5") },
			`failover.probe_interval: "5": a duration needs a unit, like "500ms" or "30s" (line 3)`},
		{"duration out of range", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nfailover:\n  probe_interval: 1ms") },
			`failover.probe_interval: 1ms: must be between 20ms and 1m0s (line 3)`},
		{"int field given text", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nfailover:\n  window: ten") },
			`failover.window: "ten": not a whole number (line 3)`},
		{"bool field given text", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nqos:\n  enabled: sometimes") },
			`qos.enabled: "sometimes": not true or false (line 3)`},
		{"list given a scalar", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nzones: pos") },
			`zones: expected a list, found "pos" (line 2)`},
		{"bad probe type", func(t *testing.T) string { return edit(t, "type: icmp", "type: ping") },
			`wan[0].probes[0].type: "ping": must be one of icmp, tcp, http, dns (line 8)`},
		{"tcp probe without port", func(t *testing.T) string { return edit(t, "type: icmp", "type: tcp") },
			`wan[0].probes[0].target: "198.51.100.1": not an IP address and port (like "198.51.100.10:443") (line 9)`},
		{"dns probe without query", func(t *testing.T) string { return edit(t, "type: icmp", "type: dns") },
			`wan[0].probes[0].query: required for a dns probe: the name to resolve (line 8)`},
		{"quorum above probes", func(t *testing.T) string { return edit(t, "site: s1", "site: s1\nfailover:\n  quorum: 2") },
			`failover.quorum: 2: more than the 1 probes of wan[0] (line 3)`},
		{"lan and wan share interface", func(t *testing.T) string { return edit(t, "interface: eth1", "interface: eth0") },
			`lan.interface: "eth0": also wan[0]'s interface (line 11)`},
		{"lan address without prefix", func(t *testing.T) string { return edit(t, "198.18.10.1/24", "198.18.10.1") },
			`lan.address: "198.18.10.1": not an address with prefix length (like "198.18.10.1/24") (line 12)`},
		{"zone subnet host bits", func(t *testing.T) string {
			return minimal + "zones:\n  - name: guest\n    subnet: 198.18.10.130/25\n"
		}, `zones[0].subnet: "198.18.10.130/25": has host bits set; did you mean "198.18.10.128/25"? (line 15)`},
		{"zone subnets overlap", func(t *testing.T) string {
			return minimal + "zones:\n  - name: pos\n    subnet: 198.18.10.0/26\n  - name: guest\n    subnet: 198.18.10.0/24\n"
		}, `zones[1].subnet: "198.18.10.0/24": overlaps zones[0] (198.18.10.0/26): a device would be in two zones (line 17)`},
		{"IPv6 zone", func(t *testing.T) string {
			return minimal + "zones:\n  - name: guest\n    subnet: 2001:db8::/64\n"
		}, `zones[0].subnet: "2001:db8::/64": only IPv4 zones are supported (line 15)`},
		{"strict on office", func(t *testing.T) string {
			return minimal + "zones:\n  - name: office\n    subnet: 198.18.10.0/25\n    strict: true\n"
		}, `zones[0].strict: only the pos zone has a strict mode (line 16)`},
		{"qos shares over 100", func(t *testing.T) string {
			return minimal + "qos:\n  classes:\n    - {name: pos, rate_percent: 60, ceil_percent: 100}\n    - {name: default, rate_percent: 50, ceil_percent: 100}\n"
		}, `qos.classes: guaranteed rates add up to 110%, more than 100% (line 15)`},
		{"qos rule unknown class", func(t *testing.T) string {
			return minimal + "qos:\n  rules:\n    - {class: video, ports: [\"443\"]}\n"
		}, `qos.rules[0].class: "video": not a class defined in qos.classes (line 15)`},
		{"qos rule bad port range", func(t *testing.T) string {
			return minimal + "qos:\n  rules:\n    - {class: bulk, ports: [\"9000-80\"]}\n"
		}, `qos.rules[0].ports[0]: "9000-80": not a port or range (like "443" or "5060-5061") (line 15)`},
		{"pos device bad mac", func(t *testing.T) string {
			return minimal + "pos:\n  devices:\n    - {name: till-1, mac: \"02:00:00:00:10\"}\n"
		}, `pos.devices[0].mac: "02:00:00:00:10": not a MAC address (like "02:00:00:00:10:01") (line 15)`},
		{"payment domain with scheme", func(t *testing.T) string {
			return minimal + "pos:\n  payment_domains: [\"https://pay.example.com\"]\n"
		}, `pos.payment_domains[0]: "https://pay.example.com": not a domain name (like "pay.example.com" or "*.example.com") (line 14)`},
		{"pos retransmit alarm out of range", func(t *testing.T) string {
			return minimal + "pos:\n  retransmit_alarm_percent: 0\n"
		}, `pos.retransmit_alarm_percent: 0: must be between 1 and 100 (line 14)`},
		{"inspect resolver not an IP", func(t *testing.T) string {
			return minimal + "inspect:\n  resolvers: [dns.example]\n"
		}, `inspect.resolvers[0]: "dns.example": not an IP address (line 14)`},
		{"size bad unit", func(t *testing.T) string { return minimal + "telemetry:\n  budget: 64 parsecs\n" },
			`telemetry.budget: "64 parsecs": not a size (like "64MiB", "128KiB" or a number of bytes) (line 14)`},
		{"batch over broker limit", func(t *testing.T) string { return minimal + "telemetry:\n  batch_bytes: 1MiB\n" },
			`telemetry.batch_bytes: 1048576 bytes: must be between 1KiB and 128KiB (the broker message limit) (line 14)`},
		{"broker without port", func(t *testing.T) string { return minimal + "mqtt:\n  broker: mqtts://broker.example\n" },
			`mqtt.broker: "mqtts://broker.example": needs a port (1883 plain, 8883 TLS) (line 14)`},
		{"topic prefix wildcard", func(t *testing.T) string { return minimal + "mqtt:\n  topic_prefix: chain/+\n" },
			`mqtt.topic_prefix: "chain/+": no wildcards, empty levels or leading/trailing '/' (line 14)`},
		{"topic prefix too deep", func(t *testing.T) string { return minimal + "mqtt:\n  topic_prefix: a/b/c/d\n" },
			`mqtt.topic_prefix: "a/b/c/d": at most 3 levels, so topics stay within 7 slashes (line 14)`},
		{"reconnect cap above 60s", func(t *testing.T) string { return minimal + "mqtt:\n  max_reconnect_delay: 5m\n" },
			`mqtt.max_reconnect_delay: 5m0s: must be between 1s and 1m0s (line 14)`},
		{"password and password_file", func(t *testing.T) string {
			return minimal + "mqtt:\n  password: x\n  password_file: /etc/hostname\n"
		}, `mqtt.password: set either password or password_file, not both (line 14)`},
		{"password file missing", func(t *testing.T) string {
			return minimal + "mqtt:\n  password_file: /nonexistent/mqtt.password\n"
		}, `mqtt.password_file: "/nonexistent/mqtt.password": no such file or directory (line 14)`},
		{"listen on LAN without password", func(t *testing.T) string { return minimal + "web:\n  listen: 198.18.10.1:80\n" },
			`web.listen: serving on the LAN needs web.technician_password_hash (make one with gwctl hash-password) (line 14)`},
		{"listen on guest", func(t *testing.T) string {
			return minimal + "zones:\n  - {name: guest, subnet: 198.18.10.128/25}\nweb:\n  listen: 198.18.10.129:80\n" +
				"  technician_password_hash: pbkdf2-sha256$600000$25p9gGp4//cRDnvCGXoTsw$9fmnBzOQOglxhJgwxGJpbFkiBdWOpvXPWmyJ6FGu8dA\n"
		}, `web.listen: 198.18.10.129 is on the guest network (zones[0]); the status page must never face guests (line 16)`},
		{"bad password hash", func(t *testing.T) string { return minimal + "web:\n  technician_password_hash: hunter2\n" },
			`web.technician_password_hash: not a password hash (want "pbkdf2-sha256$…", made by gwctl hash-password) (line 14)`},
		{"bad command key", func(t *testing.T) string { return minimal + "remote:\n  command_keys: [\"bm90IGEga2V5\"]\n" },
			`remote.command_keys[0]: not a base64 ed25519 public key (32 bytes) (line 14)`},
		{"host name that is an address", func(t *testing.T) string { return minimal + "web:\n  hostnames: [gateway.store.lan, 198.18.10.1]\n" },
			`web.hostnames[1]: "198.18.10.1": not a host name (lower-case labels of letters, digits and dashes, like gateway.store.lan) (line 14)`},
		{"empty command keys", func(t *testing.T) string { return minimal + "remote:\n  command_keys: []\n" },
			`remote.command_keys: empty: list at least one head-office key (gwctl fleet keygen makes one), or leave the field out (line 14)`},
		{"map given a list", func(t *testing.T) string { return minimal + "inspect:\n  categories: [a, b]\n" },
			`inspect.categories: expected a mapping, found a list (line 14)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml(t)), t.TempDir())
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want a config error", err)
			}
			var got []string
			for _, e := range errs.List {
				got = append(got, e.String())
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), tc.want)
			}
		})
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mqtt.pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(minimal+"mqtt:\n  password_file: mqtt.pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Password != "s3cret" {
		t.Errorf("password = %q", c.MQTT.Password)
	}
}

func TestErrorsListEveryProblemWithFileName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(edit(t, "site: s1", "site: S", "eth0", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `: 2 problems:
  site: "S": use 1 to 63 lower-case letters, digits and dashes (it becomes part of MQTT topics) (line 1)
  wan[0].interface: required (line 4)`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		p    interface{ parse(string) error }
	}{
		{"64MiB", 64 << 20, new(ByteSize)},
		{"1.5KB", 1500, new(ByteSize)},
		{"4096", 4096, new(ByteSize)},
		{"20mbit", 20e6, new(Rate)},
		{"512kbit", 512e3, new(Rate)},
		{"1Gbit", 1e9, new(Rate)},
		{"250ms", int64(250 * time.Millisecond), new(Duration)},
	} {
		if err := tc.p.parse(tc.in); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got int64
		switch v := tc.p.(type) {
		case *ByteSize:
			got = int64(*v)
		case *Rate:
			got = int64(*v)
		case *Duration:
			got = int64(*v)
		}
		if got != tc.want {
			t.Errorf("%q = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestAttackBrokerURLPassword (issue 18, 9): a password in mqtt.broker is
// refused, and no error repeats it (errors reach logs and head office).
// The old validation took it, and the URL went into logs, last_error, the
// uplink's events and the diagnostics bundle.
func TestAttackBrokerURLPassword(t *testing.T) {
	for _, broker := range []string{"tcp://gw:hunter2@198.51.100.10:1883", "tcp://gw:hunter2@[198.51.100.10:1883"} {
		_, err := Parse([]byte(edit(t, "site: s1", "site: s1\nmqtt:\n  broker: "+broker)), t.TempDir())
		switch {
		case err == nil:
			t.Errorf("%s: accepted", broker)
		case strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: the error shows the password: %v", broker, err)
		case !strings.Contains(err.Error(), "mqtt.password_file"):
			t.Errorf("%s: the error does not say where credentials go: %v", broker, err)
		}
	}
}
