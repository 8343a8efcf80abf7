package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/branchgw/branchgw/gateway/passwd"
)

// validator checks a decoded Config. Errors carry the line recorded by the
// walker for the path, or for its closest ancestor present in the file.
type validator struct {
	lines   map[string]int
	baseDir string
	errs    errorList
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs.add(Error{Path: path, Line: v.line(path), Msg: fmt.Sprintf(format, clip(args)...)})
}

func (v *validator) line(path string) int {
	for p := path; p != ""; {
		if l, ok := v.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

var (
	idRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	ifnameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$`)
	domainRE = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$`)
	wordRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	// hostnameRE is a DNS name that is not an IP address: at least one
	// label starts with a letter.
	hostnameRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

func (v *validator) config(c *Config) {
	v.id("site", c.Site, true)
	if c.GatewayID != c.Site { // the default copies site, already checked
		v.id("gateway_id", c.GatewayID, false)
	}
	if c.Version < 0 || c.Version > MaxVersion {
		v.fail("version", "%d: must be between 0 and %d", c.Version, int64(MaxVersion))
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	v.wans(c)
	v.failover(c)
	v.lan(c)
	v.zones(c)
	v.qos(c)
	v.pos(&c.POS)
	v.inspect(&c.Inspect)
	v.telemetry(&c.Telemetry)
	v.mqtt(&c.MQTT)
	v.web(c)
	v.remote(&c.Remote)
	s := c.Supervisor
	v.durationRange("supervisor.restart_backoff", s.RestartBackoff, 10*time.Millisecond, time.Minute)
	v.durationRange("supervisor.restart_backoff_max", s.RestartBackoffMax, s.RestartBackoff.D(), time.Hour)
	v.durationRange("supervisor.shutdown_timeout", s.ShutdownTimeout, time.Second, 5*time.Minute)
	if c.Firmware.MarkGoodAfter != 0 {
		v.durationRange("firmware.mark_good_after", c.Firmware.MarkGoodAfter, 30*time.Second, 24*time.Hour)
	}
}

// IsID reports whether s is a valid site or gateway id: a safe file name
// and MQTT topic level too.
func IsID(s string) bool { return idRE.MatchString(s) }

func (v *validator) id(path, s string, required bool) {
	switch {
	case s == "" && required:
		v.fail(path, "required")
	case s != "" && !idRE.MatchString(s):
		v.fail(path, "%q: use 1 to 63 lower-case letters, digits and dashes (it becomes part of MQTT topics)", s)
	}
}

func (v *validator) oneOf(path, s string, allowed ...string) bool {
	if !slices.Contains(allowed, s) {
		v.fail(path, "%q: must be one of %s", s, strings.Join(allowed, ", "))
		return false
	}
	return true
}

func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.fail(path, "%d: must be between %d and %d", n, lo, hi)
	}
}

func (v *validator) durationRange(path string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		v.fail(path, "%s: must be between %s and %s", d.D(), lo, hi)
	}
}

func (v *validator) ifname(path, s string) {
	switch {
	case s == "":
		v.fail(path, "required")
	case !ifnameRE.MatchString(s):
		v.fail(path, "%q: not an interface name (1 to 15 letters, digits, '-', '_', '.')", s)
	}
}

func (v *validator) ip(path, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		v.fail(path, "%q: not an IP address", s)
		return netip.Addr{}, false
	}
	return a, true
}

func (v *validator) prefix(path, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		v.fail(path, "%q: not an address with prefix length (like \"198.18.10.1/24\")", s)
		return netip.Prefix{}, false
	}
	return p, true
}

func (v *validator) ipPort(path, s string) bool {
	if _, err := netip.ParseAddrPort(s); err != nil {
		v.fail(path, "%q: not an IP address and port (like \"198.51.100.10:443\")", s)
		return false
	}
	return true
}

func (v *validator) domain(path, s string) {
	if !domainRE.MatchString(s) {
		v.fail(path, "%q: not a domain name (like \"pay.example.com\" or \"*.example.com\")", s)
	}
}

// file resolves a path against the config's directory.
func (v *validator) file(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.baseDir, p)
}

// readable resolves *p and checks that the file can be read.
func (v *validator) readable(path string, p *string) {
	if *p == "" {
		return
	}
	*p = v.file(*p)
	f, err := openRegular(*p)
	if err != nil {
		v.fail(path, "%s", err)
		return
	}
	f.Close()
}

// maxSecret bounds a secret file: keys and hashes are a few hundred bytes.
const maxSecret = 64 << 10

// openRegular opens a file a config names, which must be a regular file:
// a device (/dev/zero) or a FIFO would hang the daemon or fill its memory.
func openRegular(p string) (*os.File, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, errors.New(unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q: not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, errors.New(unwrapPathError(err))
	}
	return f, nil
}

// readFile reads a regular file of at most limit bytes.
func readFile(p string, limit int64) ([]byte, error) {
	f, err := openRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q: %w", p, err)
	case int64(len(b)) > limit:
		return nil, fmt.Errorf("%q: larger than %d KiB", p, limit>>10)
	}
	return b, nil
}

// secret fills *value from file when a _file variant is given.
func (v *validator) secret(path string, value *string, filePath string) {
	switch {
	case filePath == "":
	case *value != "":
		v.fail(path, "set either %s or %s_file, not both", lastElem(path), lastElem(path))
	default:
		b, err := readFile(v.file(filePath), maxSecret)
		if err != nil {
			v.fail(path+"_file", "%s", err)
			return
		}
		*value = strings.TrimRight(string(b), "\r\n")
	}
}

func unwrapPathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Sprintf("%q: %s", pe.Path, pe.Err)
	}
	return err.Error()
}

func lastElem(path string) string {
	return path[strings.LastIndex(path, ".")+1:]
}

func (v *validator) wans(c *Config) {
	switch {
	case len(c.WAN) == 0:
		v.fail("wan", "at least one WAN is required")
	case len(c.WAN) > 2:
		v.fail("wan", "at most 2 WANs are supported, found %d", len(c.WAN))
	}
	names, ifaces := map[string]bool{}, map[string]bool{}
	for i, w := range c.WAN {
		p := fmt.Sprintf("wan[%d]", i)
		if !wordRE.MatchString(w.Name) {
			v.fail(p+".name", "%q: use a short lower-case name like \"wan1\"", w.Name)
		} else if names[w.Name] {
			v.fail(p+".name", "%q: used by another WAN", w.Name)
		}
		names[w.Name] = true
		v.ifname(p+".interface", w.Interface)
		if w.Interface != "" && ifaces[w.Interface] {
			v.fail(p+".interface", "%q: used by another WAN", w.Interface)
		}
		ifaces[w.Interface] = true
		if w.Gateway != "" {
			v.ip(p+".gateway", w.Gateway)
		}
		if c.QoS.Enabled {
			v.rate(p+".rate_up", w.RateUp)
			v.rate(p+".rate_down", w.RateDown)
		}
		v.intRange(p+".priority", w.Priority, 1, 100)
		if len(w.Probes) == 0 {
			v.fail(p+".probes", "at least one probe is required to tell whether the WAN works")
		}
		for j, pr := range w.Probes {
			v.probe(fmt.Sprintf("%s.probes[%d]", p, j), pr)
		}
		if c.Failover.Quorum > len(w.Probes) && len(w.Probes) > 0 {
			v.fail("failover.quorum", "%d: more than the %d probes of %s", c.Failover.Quorum, len(w.Probes), p)
		}
	}
}

func (v *validator) rate(path string, r Rate) {
	switch {
	case r == 0:
		v.fail(path, "required when qos is enabled: the shaper needs the link's rate (like \"20mbit\")")
	case r < 64e3:
		v.fail(path, "%d bit/s: too slow to shape, at least 64kbit", r)
	case r > 100e9:
		// Beyond any line, and the shaper's arithmetic: 204963823041217241bit
		// became an 8 kbit/s root class (issue 18, 8).
		v.fail(path, "%d bit/s: faster than any line, at most 100gbit", r)
	}
}

func (v *validator) probe(p string, pr Probe) {
	if !v.oneOf(p+".type", pr.Type, "icmp", "tcp", "http", "dns") {
		return
	}
	t := p + ".target"
	if pr.Target == "" {
		v.fail(t, "required")
		return
	}
	switch pr.Type {
	case "icmp":
		v.ip(t, pr.Target)
	case "tcp":
		v.ipPort(t, pr.Target)
	case "http":
		u, err := url.Parse(pr.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(t, "%q: not an http:// or https:// URL", pr.Target)
		}
	case "dns":
		if _, err := netip.ParseAddr(pr.Target); err != nil {
			v.ipPort(t, pr.Target)
		}
		if pr.Query == "" {
			v.fail(p+".query", "required for a dns probe: the name to resolve")
		} else {
			v.domain(p+".query", pr.Query)
		}
	}
	if pr.Type != "dns" && pr.Query != "" {
		v.fail(p+".query", "only a dns probe has a query")
	}
}

func (v *validator) failover(c *Config) {
	f := c.Failover
	v.durationRange("failover.probe_interval", f.ProbeInterval, 20*time.Millisecond, time.Minute)
	v.durationRange("failover.probe_timeout", f.ProbeTimeout, 10*time.Millisecond, 30*time.Second)
	v.intRange("failover.window", f.Window, 3, 1000)
	if f.Quorum < 1 {
		v.fail("failover.quorum", "%d: at least 1", f.Quorum)
	}
	v.intRange("failover.loss_down_percent", f.LossDownPercent, 1, 100)
	v.durationRange("failover.failback_after", f.FailbackAfter, 0, 24*time.Hour)
	v.oneOf("failover.mode", f.Mode, "priority", "weighted")
	for i, w := range c.WAN {
		v.intRange(fmt.Sprintf("wan[%d].weight", i), w.Weight, 1, 100)
	}
}

func (v *validator) lan(c *Config) {
	v.ifname("lan.interface", c.LAN.Interface)
	for i, w := range c.WAN {
		if w.Interface != "" && w.Interface == c.LAN.Interface {
			v.fail("lan.interface", "%q: also wan[%d]'s interface", w.Interface, i)
		}
	}
	if c.LAN.Address == "" {
		v.fail("lan.address", "required: the box's address on the LAN (like \"198.18.10.1/24\")")
	} else {
		v.prefix("lan.address", c.LAN.Address)
	}
}

func (v *validator) zones(c *Config) {
	seen := map[string]bool{}
	for i, z := range c.Zones {
		p := fmt.Sprintf("zones[%d]", i)
		if v.oneOf(p+".name", z.Name, "pos", "office", "guest") && seen[z.Name] {
			v.fail(p+".name", "%q: defined twice", z.Name)
		}
		seen[z.Name] = true
		v.ifname(p+".interface", z.Interface)
		if z.Subnet == "" {
			v.fail(p+".subnet", "required")
		} else if pf, ok := v.prefix(p+".subnet", z.Subnet); ok && pf.Masked() != pf {
			v.fail(p+".subnet", "%q: has host bits set; did you mean %q?", z.Subnet, pf.Masked())
		} else if ok && !pf.Addr().Is4() {
			// The zone firewall (netctl/zones) routes IPv4 zones only.
			v.fail(p+".subnet", "%q: only IPv4 zones are supported", z.Subnet)
		} else if ok {
			for j, o := range c.Zones[:i] {
				if op, err := netip.ParsePrefix(o.Subnet); err == nil && op.Overlaps(pf) {
					v.fail(p+".subnet", "%q: overlaps zones[%d] (%s): a device would be in two zones", z.Subnet, j, o.Subnet)
				}
			}
		}
		if z.Strict && z.Name != "pos" {
			v.fail(p+".strict", "only the pos zone has a strict mode")
		}
		for j, a := range z.Allow {
			ap := fmt.Sprintf("%s.allow[%d]", p, j)
			if _, err := netip.ParsePrefix(a); err == nil {
				continue
			}
			if _, err := netip.ParseAddr(a); err == nil {
				continue
			}
			v.domain(ap, a)
		}
	}
}

var dscpNames = map[string]int{
	"CS0": 0, "CS1": 8, "AF11": 10, "AF12": 12, "AF13": 14, "CS2": 16, "AF21": 18, "AF22": 20,
	"AF23": 22, "CS3": 24, "AF31": 26, "AF32": 28, "AF33": 30, "CS4": 32, "AF41": 34, "AF42": 36,
	"AF43": 38, "CS5": 40, "VA": 44, "EF": 46, "CS6": 48, "CS7": 56,
}

// DSCP returns the code point a rule's DSCP field names.
func DSCP(s string) (int, bool) {
	if n, ok := dscpNames[strings.ToUpper(s)]; ok {
		return n, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n <= 63
}

func (v *validator) qos(c *Config) {
	q := c.QoS
	v.intRange("qos.margin_percent", q.MarginPercent, 0, 50)
	v.intRange("qos.download_margin_percent", q.DownloadMarginPercent, 0, 50)
	classes, sum := map[string]bool{}, 0
	for i, cl := range q.Classes {
		p := fmt.Sprintf("qos.classes[%d]", i)
		if v.oneOf(p+".name", cl.Name, "pos", "interactive", "default", "bulk", "guest") && classes[cl.Name] {
			v.fail(p+".name", "%q: defined twice", cl.Name)
		}
		classes[cl.Name] = true
		v.intRange(p+".rate_percent", cl.RatePercent, 1, 100)
		v.intRange(p+".ceil_percent", cl.CeilPercent, cl.RatePercent, 100)
		sum += cl.RatePercent
	}
	if sum > 100 {
		v.fail("qos.classes", "guaranteed rates add up to %d%%, more than 100%%", sum)
	}
	for _, need := range []string{"pos", "default"} {
		if len(q.Classes) > 0 && !classes[need] {
			v.fail("qos.classes", "the %q class is required", need)
		}
	}
	for i, r := range q.Rules {
		p := fmt.Sprintf("qos.rules[%d]", i)
		if !classes[r.Class] {
			v.fail(p+".class", "%q: not a class defined in qos.classes", r.Class)
		}
		if r.Proto != "" {
			v.oneOf(p+".proto", r.Proto, "tcp", "udp")
		}
		if len(r.Ports) == 0 && r.DSCP == "" {
			v.fail(p, "matches nothing: give ports or dscp")
		}
		for j, port := range r.Ports {
			if !validPortRange(port) {
				v.fail(fmt.Sprintf("%s.ports[%d]", p, j), "%q: not a port or range (like \"443\" or \"5060-5061\")", port)
			}
		}
		if r.DSCP != "" {
			if _, ok := DSCP(r.DSCP); !ok {
				v.fail(p+".dscp", "%q: not a DSCP name (EF, AF41, CS1, …) or number 0-63", r.DSCP)
			}
		}
	}
}

func validPortRange(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 1 || a > 65535 {
		return false
	}
	if !isRange {
		return true
	}
	b, err := strconv.Atoi(hi)
	return err == nil && b >= a && b <= 65535
}

func (v *validator) pos(p *POS) {
	names := map[string]bool{}
	for i, d := range p.Devices {
		dp := fmt.Sprintf("pos.devices[%d]", i)
		if d.Name == "" {
			v.fail(dp+".name", "required")
		} else if names[d.Name] {
			v.fail(dp+".name", "%q: used by another device", d.Name)
		}
		names[d.Name] = true
		if d.MAC == "" && d.IP == "" {
			v.fail(dp, "give the terminal's mac, ip or both")
		}
		if d.MAC != "" {
			if hw, err := net.ParseMAC(d.MAC); err != nil || len(hw) != 6 {
				v.fail(dp+".mac", "%q: not a MAC address (like \"02:00:00:00:10:01\")", d.MAC)
			}
		}
		if d.IP != "" {
			v.ip(dp+".ip", d.IP)
		}
	}
	for i, d := range p.PaymentDomains {
		v.domain(fmt.Sprintf("pos.payment_domains[%d]", i), d)
	}
	v.durationRange("pos.handshake_alarm", p.HandshakeAlarm, 10*time.Millisecond, time.Minute)
	v.intRange("pos.retransmit_alarm_percent", p.RetransmitAlarmPercent, 1, 100)
}

func (v *validator) inspect(in *Inspect) {
	if !in.Enabled {
		return
	}
	v.ifname("inspect.interface", in.Interface)
	v.intRange("inspect.max_flows", in.MaxFlows, 64, 10_000_000)
	v.intRange("inspect.max_devices", in.MaxDevices, 16, 1_000_000)
	v.durationRange("inspect.flow_idle_timeout", in.FlowIdleTimeout, time.Second, 24*time.Hour)
	if in.ReassemblyBytes < 1<<10 || in.ReassemblyBytes > 1<<20 {
		v.fail("inspect.reassembly_bytes", "%d bytes: must be between 1KiB and 1MiB", in.ReassemblyBytes)
	}
	for d, cat := range in.Categories {
		p := fmt.Sprintf("inspect.categories[%q]", d)
		v.domain(p, d)
		if !wordRE.MatchString(cat) {
			v.fail(p, "%q: a category is one lower-case word like \"payment\"", cat)
		}
	}
	for i, r := range in.Resolvers {
		v.ip(fmt.Sprintf("inspect.resolvers[%d]", i), r)
	}
}

func (v *validator) telemetry(t *Telemetry) {
	if t.StorePath == "" {
		v.fail("telemetry.store_path", "required")
	}
	t.StorePath = v.file(t.StorePath)
	if t.Budget < 1<<20 {
		v.fail("telemetry.budget", "%d bytes: at least 1MiB", t.Budget)
	}
	v.intRange("telemetry.batch_records", t.BatchRecords, 1, 10_000)
	// 128 KB is AWS IoT Core's message limit; staying under it keeps us portable.
	if t.BatchBytes < 1<<10 || t.BatchBytes > 128<<10 {
		v.fail("telemetry.batch_bytes", "%d bytes: must be between 1KiB and 128KiB (the broker message limit)", t.BatchBytes)
	}
	v.intRange("telemetry.replay_per_second", t.ReplayPerSecond, 1, 100)
}

func (v *validator) mqtt(m *MQTT) {
	v.secret("mqtt.password", &m.Password, m.PasswordFile)
	u, err := url.Parse(m.Broker)
	switch {
	case m.Broker == "":
	case err != nil && strings.Contains(m.Broker, "@"):
		// It may hold a password: never echo it (errors go to logs and to
		// head office in a push's report).
		v.fail("mqtt.broker", "not a broker URL (not shown: it holds an '@'; credentials belong in mqtt.username and mqtt.password_file)")
	case err != nil || u.Host == "":
		v.fail("mqtt.broker", "%q: not a broker URL (like \"mqtts://broker.example:8883\")", m.Broker)
	case u.User != nil:
		// In the URL a password would reach the logs, last_error, the
		// uplink's events and the diagnostics bundle (issue 18, 9).
		v.fail("mqtt.broker", "%q: credentials in the URL are refused: use mqtt.username and mqtt.password_file", u.Redacted())
	case !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts"}, u.Scheme):
		v.fail("mqtt.broker", "%q: scheme must be tcp, mqtt, ssl, tls or mqtts", m.Broker)
	case u.Port() == "":
		v.fail("mqtt.broker", "%q: needs a port (1883 plain, 8883 TLS)", m.Broker)
	}
	switch {
	case m.TopicPrefix == "":
		v.fail("mqtt.topic_prefix", "required")
	case strings.ContainsAny(m.TopicPrefix, "+#\x00") || strings.HasPrefix(m.TopicPrefix, "/") ||
		strings.HasSuffix(m.TopicPrefix, "/") || strings.Contains(m.TopicPrefix, "//"):
		v.fail("mqtt.topic_prefix", "%q: no wildcards, empty levels or leading/trailing '/'", m.TopicPrefix)
	case strings.Count(m.TopicPrefix, "/") > 2:
		// <prefix>/<site>/cmd/<name>/resp must stay within 7 slashes (AWS IoT).
		v.fail("mqtt.topic_prefix", "%q: at most 3 levels, so topics stay within 7 slashes", m.TopicPrefix)
	}
	_, given := v.lines["mqtt.client_id"] // a derived id inherits site's checks
	if given && (len(m.ClientID) > 128 || strings.ContainsAny(m.ClientID, "+#/")) {
		v.fail("mqtt.client_id", "%q: at most 128 characters, without '+', '#' or '/'", m.ClientID)
	}
	v.readable("mqtt.tls.ca_file", &m.TLS.CAFile)
	v.readable("mqtt.tls.cert_file", &m.TLS.CertFile)
	v.readable("mqtt.tls.key_file", &m.TLS.KeyFile)
	if (m.TLS.CertFile == "") != (m.TLS.KeyFile == "") {
		v.fail("mqtt.tls", "cert_file and key_file go together (mutual TLS)")
	}
	v.durationRange("mqtt.keep_alive", m.KeepAlive, 5*time.Second, 20*time.Minute)
	v.durationRange("mqtt.max_reconnect_delay", m.MaxReconnectDelay, time.Second, 60*time.Second)
	v.intRange("mqtt.inflight", m.Inflight, 1, 100)
}

func (v *validator) web(c *Config) {
	w := &c.Web
	v.secret("web.technician_password_hash", &w.TechnicianPasswordHash, w.TechnicianPasswordHashFile)
	if w.TechnicianPasswordHash != "" {
		if _, err := passwd.Parse(w.TechnicianPasswordHash); err != nil {
			v.fail("web.technician_password_hash", "%s", err)
		}
	}
	if w.Socket == "" {
		v.fail("web.socket", "required: gwctl talks to the daemon through it")
	}
	w.Socket = v.file(w.Socket)
	for i, h := range w.Hostnames {
		if !hostnameRE.MatchString(h) {
			v.fail(fmt.Sprintf("web.hostnames[%d]", i), "%q: not a host name (lower-case labels of letters, digits and dashes, like gateway.store.lan)", h)
		}
	}
	v.readable("web.tls_cert_file", &w.TLSCertFile)
	v.readable("web.tls_key_file", &w.TLSKeyFile)
	if (w.TLSCertFile == "") != (w.TLSKeyFile == "") {
		v.fail("web", "tls_cert_file and tls_key_file go together")
	}
	if v.oneOf("web.tls", w.TLS, "self-signed", "off") && w.TLS == "off" && w.TLSCertFile != "" {
		v.fail("web.tls", "off, but tls_cert_file is set: remove one")
	}
	if w.Listen == "" {
		if w.RedirectListen != "" {
			v.fail("web.redirect_listen", "needs web.listen")
		}
		return
	}
	ap, err := netip.ParseAddrPort(w.Listen)
	if err != nil {
		v.fail("web.listen", "%q: not an IP address and port (like \"198.18.10.1:443\")", w.Listen)
		return
	}
	if w.RedirectListen != "" {
		rp, err := netip.ParseAddrPort(w.RedirectListen)
		switch {
		case err != nil:
			v.fail("web.redirect_listen", "%q: not an IP address and port (like \"198.18.10.1:80\")", w.RedirectListen)
		case w.TLS == "off" && w.TLSCertFile == "":
			v.fail("web.redirect_listen", "redirects to HTTPS, but web.tls is off")
		case rp.Addr() != ap.Addr() || rp.Port() == ap.Port():
			v.fail("web.redirect_listen", "%s: must be web.listen's address (%s) on another port", rp, ap.Addr())
		}
	}
	if w.TechnicianPasswordHash == "" && !ap.Addr().IsLoopback() {
		v.fail("web.listen", "serving on the LAN needs web.technician_password_hash (make one with gwctl hash-password)")
	}
	for i, z := range c.Zones {
		if pf, err := netip.ParsePrefix(z.Subnet); err == nil && z.Name == "guest" && pf.Contains(ap.Addr()) {
			v.fail("web.listen", "%s is on the guest network (zones[%d]); the status page must never face guests", ap.Addr(), i)
		}
	}
}

func (v *validator) remote(r *Remote) {
	if r.CommandKeys != nil && len(r.CommandKeys) == 0 {
		// Written out but empty: head office could never reach the box
		// again. Leaving the field out is how a box runs without it.
		v.fail("remote.command_keys", "empty: list at least one head-office key (gwctl fleet keygen makes one), or leave the field out")
	}
	for i, k := range r.CommandKeys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != ed25519.PublicKeySize {
			v.fail(fmt.Sprintf("remote.command_keys[%d]", i), "not a base64 ed25519 public key (32 bytes)")
		}
	}
	v.durationRange("remote.confirm_window", r.ConfirmWindow, 10*time.Second, time.Hour)
}
