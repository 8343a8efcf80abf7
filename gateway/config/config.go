// Package config is gatewayd's configuration: the YAML schema, its defaults
// (all in defaults.go), strict decoding and validation whose errors name the
// field path and the line, like
//
//	wan[1].probes[0].target: "1.2.3": not an IP address (line 14)
//
// The shipped, commented example is example.yaml beside this file.
package config

// MaxVersion is the highest config version. A push must be newer than the
// running version, so one near int64's maximum (a typo) would refuse every
// push after it; 2^53-1 also stays exact in head office's JSON tools and
// leaves room for date-based numbering (YYYYMMDDhhmmss).
const MaxVersion = 1<<53 - 1

// Config is the whole daemon configuration.
type Config struct {
	// Site is the store's id, used in MQTT topics and on the status page.
	Site string `yaml:"site"`
	// Version numbers configs pushed by head office; a push must be newer
	// than the running one. Local edits may leave it 0.
	Version int64 `yaml:"version"`
	// GatewayID names this box in telemetry; defaults to Site.
	GatewayID  string     `yaml:"gateway_id"`
	Log        Log        `yaml:"log"`
	WAN        []WAN      `yaml:"wan"`
	Failover   Failover   `yaml:"failover"`
	LAN        LAN        `yaml:"lan"`
	Zones      []Zone     `yaml:"zones"`
	QoS        QoS        `yaml:"qos"`
	POS        POS        `yaml:"pos"`
	Inspect    Inspect    `yaml:"inspect"`
	Telemetry  Telemetry  `yaml:"telemetry"`
	MQTT       MQTT       `yaml:"mqtt"`
	Web        Web        `yaml:"web"`
	Remote     Remote     `yaml:"remote"`
	Supervisor Supervisor `yaml:"supervisor"`
	Firmware   Firmware   `yaml:"firmware"`
}

// Log selects the daemon's log level and format.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// WAN is one uplink. Its address and gateway are the OS's job (networkd,
// DHCP); gatewayd learns them from netlink unless Gateway is set.
type WAN struct {
	Name      string `yaml:"name"`
	Interface string `yaml:"interface"`
	Gateway   string `yaml:"gateway"`
	RateUp    Rate   `yaml:"rate_up"`
	RateDown  Rate   `yaml:"rate_down"`
	Priority  int    `yaml:"priority"`
	// Metered (LTE) WANs are probed sparingly while on standby and, while
	// active, carry POS and critical traffic while bulk and guest are limited.
	Metered bool `yaml:"metered"`
	// Weight is the WAN's share of new connections in weighted mode.
	Weight int     `yaml:"weight"`
	Probes []Probe `yaml:"probes"`
}

// Probe is one health check sent out of its WAN.
type Probe struct {
	// Type is icmp, tcp, http or dns.
	Type string `yaml:"type"`
	// Target is an IP (icmp), IP:port (tcp), URL (http) or resolver IP[:port] (dns).
	Target string `yaml:"target"`
	// Query is the name a dns probe resolves.
	Query string `yaml:"query"`
}

// Failover tunes WAN health detection and the switch between WANs.
type Failover struct {
	ProbeInterval Duration `yaml:"probe_interval"`
	ProbeTimeout  Duration `yaml:"probe_timeout"`
	// Window is how many recent probes per target loss and RTT are computed over.
	Window int `yaml:"window"`
	// Quorum is how many targets must answer for a WAN to count as up.
	Quorum int `yaml:"quorum"`
	// LossDownPercent is the window loss at which a target counts as failed.
	LossDownPercent int `yaml:"loss_down_percent"`
	// FailbackAfter is how long the preferred WAN must stay healthy before
	// traffic moves back to it (anti-flap hold-down).
	FailbackAfter Duration `yaml:"failback_after"`
	// Mode is "priority" (one WAN carries new connections, the other
	// waits) or "weighted" (new connections are spread over every healthy
	// WAN by weight; each stays on the WAN it started on).
	Mode string `yaml:"mode"`
}

// LAN is the store side of the box.
type LAN struct {
	Interface string `yaml:"interface"`
	// Address is the box's management address on the LAN, CIDR notation.
	Address string `yaml:"address"`
}

// Zone is one store network segment: pos, office or guest.
type Zone struct {
	Name      string `yaml:"name"`
	Interface string `yaml:"interface"`
	Subnet    string `yaml:"subnet"`
	// Strict (pos only) refuses destinations that are not allowlisted.
	Strict bool `yaml:"strict"`
	// Allow lists extra destinations (CIDR or domain) for the zone.
	Allow []string `yaml:"allow"`
}

// QoS is traffic shaping and classification.
type QoS struct {
	Enabled bool `yaml:"enabled"`
	// MarginPercent is shaved off each WAN's rate so the queue stays on the box.
	MarginPercent int `yaml:"margin_percent"`
	// DownloadMarginPercent is the margin for the download direction,
	// shaped after the modem's queue: it needs more room to keep it empty.
	DownloadMarginPercent int        `yaml:"download_margin_percent"`
	Classes               []QoSClass `yaml:"classes"`
	Rules                 []QoSRule  `yaml:"rules"`
}

// QoSClass is one traffic class and its share of the link.
type QoSClass struct {
	Name        string `yaml:"name"` // pos, interactive, default, bulk, guest
	RatePercent int    `yaml:"rate_percent"`
	CeilPercent int    `yaml:"ceil_percent"`
}

// QoSRule puts matching traffic into a class.
type QoSRule struct {
	Class string `yaml:"class"`
	// Proto is tcp, udp or empty for both.
	Proto string `yaml:"proto"`
	// Ports are destination ports or ranges ("443", "5060-5061").
	Ports []string `yaml:"ports"`
	// DSCP matches a code point name (EF, AF41, CS1) or number.
	DSCP string `yaml:"dscp"`
}

// POS lists the payment terminals and whom they pay through.
type POS struct {
	Devices []POSDevice `yaml:"devices"`
	// PaymentDomains are resolved to IP sets by snooping the LAN's DNS.
	PaymentDomains []string `yaml:"payment_domains"`
	// HandshakeAlarm is the TLS handshake time to a payment host above
	// which a terminal counts as degraded.
	HandshakeAlarm Duration `yaml:"handshake_alarm"`
	// RetransmitAlarmPercent is the share of a terminal's TCP segments
	// retransmitted, per minute, above which it counts as degraded.
	RetransmitAlarmPercent int `yaml:"retransmit_alarm_percent"`
}

// POSDevice is one card terminal or till.
type POSDevice struct {
	Name string `yaml:"name"`
	MAC  string `yaml:"mac"`
	IP   string `yaml:"ip"`
}

// Inspect bounds local packet inspection.
type Inspect struct {
	Enabled         bool     `yaml:"enabled"`
	Interface       string   `yaml:"interface"`
	MaxFlows        int      `yaml:"max_flows"`
	MaxDevices      int      `yaml:"max_devices"`
	FlowIdleTimeout Duration `yaml:"flow_idle_timeout"`
	// ReassemblyBytes bounds the per-flow buffer for split TLS ClientHellos.
	ReassemblyBytes ByteSize `yaml:"reassembly_bytes"`
	// Categories maps a domain ("*.example" matches subdomains) to a category.
	Categories map[string]string `yaml:"categories"`
	// Resolvers are the DNS servers LAN devices should use; a query to any
	// other raises an alarm. Empty means the LAN address.
	Resolvers []string `yaml:"resolvers"`
}

// Telemetry is the SQLite store-and-forward buffer.
type Telemetry struct {
	StorePath string   `yaml:"store_path"`
	Budget    ByteSize `yaml:"budget"`
	// BatchRecords and BatchBytes bound one MQTT message.
	BatchRecords int      `yaml:"batch_records"`
	BatchBytes   ByteSize `yaml:"batch_bytes"`
	// ReplayPerSecond caps backlog batches per second after an outage
	// (a batch smaller than BatchRecords and BatchBytes counts for its share).
	ReplayPerSecond int `yaml:"replay_per_second"`
}

// MQTT is the head-office broker session.
type MQTT struct {
	// Broker is tcp://, ssl:// or mqtts:// host:port; empty keeps
	// telemetry in the local store only.
	Broker       string   `yaml:"broker"`
	TopicPrefix  string   `yaml:"topic_prefix"`
	ClientID     string   `yaml:"client_id"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	TLS          TLS      `yaml:"tls"`
	KeepAlive    Duration `yaml:"keep_alive"`
	// MaxReconnectDelay caps the reconnect backoff (jitter is added below it).
	MaxReconnectDelay Duration `yaml:"max_reconnect_delay"`
	// Inflight bounds unacknowledged QoS 1 messages.
	Inflight int `yaml:"inflight"`
}

// TLS holds the files for TLS and mutual TLS to the broker.
type TLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Web is the technician's status page and the local API.
type Web struct {
	// Listen is the HTTP(S) address on the LAN; empty serves only the socket.
	Listen string `yaml:"listen"`
	// Socket is the unix socket gwctl talks to.
	Socket string `yaml:"socket"`
	// Hostnames are the names the page answers to besides its IP address;
	// any other Host header is refused (a DNS rebinding attack brings one).
	Hostnames []string `yaml:"hostnames"`
	// TLS is how the LAN page is served: "self-signed" (the default: a
	// certificate the box makes on its first start and keeps), or "off"
	// (plain HTTP, for a lab). TLSCertFile and TLSKeyFile, when set, are
	// served instead of the self-signed one.
	TLS         string `yaml:"tls"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// RedirectListen, on the address of Listen (usually port 80), answers
	// plain HTTP with a redirect to the HTTPS page, so a technician who
	// types the box's address reaches it.
	RedirectListen string `yaml:"redirect_listen"`
	// TechnicianPasswordHash is made by `gwctl hash-password`.
	TechnicianPasswordHash     string `yaml:"technician_password_hash"`
	TechnicianPasswordHashFile string `yaml:"technician_password_hash_file"`
}

// Remote is head office's command and config channel.
type Remote struct {
	// CommandKeys are base64 ed25519 public keys allowed to sign commands.
	CommandKeys []string `yaml:"command_keys"`
	// ConfirmWindow is how long a network-changing config push has to get the
	// broker link back before it is rolled back.
	ConfirmWindow Duration `yaml:"confirm_window"`
}

// Firmware is update safety on the appliance (A/B slots with RAUC).
type Firmware struct {
	// MarkGoodAfter is how long WAN, uplink and every component must have
	// been healthy, without a break, before the booted slot is marked good;
	// until then the bootloader falls back if the box reboots. 0 never marks.
	MarkGoodAfter Duration `yaml:"mark_good_after"`
}

// Supervisor tunes component restarts and shutdown.
type Supervisor struct {
	RestartBackoff    Duration `yaml:"restart_backoff"`
	RestartBackoffMax Duration `yaml:"restart_backoff_max"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
}
