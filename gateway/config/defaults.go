package config

import "time"

// This file is the one place where defaults live. Defaults fills the fields
// a config file may leave out; applyListDefaults fills the per-item ones.

// Default paths on the appliance (systemd's StateDirectory and RuntimeDirectory).
const (
	DefaultStorePath = "/var/lib/gatewayd/telemetry.db"
	DefaultSocket    = "/run/gatewayd/gatewayd.sock"
)

// DefaultQoSClasses are the five classes and their shares of a WAN's rate.
func DefaultQoSClasses() []QoSClass {
	return []QoSClass{
		{Name: "pos", RatePercent: 20, CeilPercent: 100},
		{Name: "interactive", RatePercent: 20, CeilPercent: 100},
		{Name: "default", RatePercent: 30, CeilPercent: 100},
		{Name: "bulk", RatePercent: 20, CeilPercent: 90},
		{Name: "guest", RatePercent: 10, CeilPercent: 50},
	}
}

// Defaults returns a Config holding every default.
func Defaults() Config {
	return Config{
		Log: Log{Level: "info", Format: "text"},
		Failover: Failover{
			ProbeInterval:   Duration(200 * time.Millisecond),
			ProbeTimeout:    Duration(time.Second),
			Window:          10,
			Quorum:          1,
			LossDownPercent: 60,
			FailbackAfter:   Duration(30 * time.Second),
			Mode:            "priority",
		},
		QoS: QoS{Enabled: true, MarginPercent: 10, DownloadMarginPercent: 20},
		POS: POS{HandshakeAlarm: Duration(time.Second), RetransmitAlarmPercent: 5},
		Inspect: Inspect{
			Enabled:         true,
			MaxFlows:        65536,
			MaxDevices:      4096,
			FlowIdleTimeout: Duration(2 * time.Minute),
			ReassemblyBytes: 16 << 10,
		},
		Telemetry: Telemetry{
			StorePath:       DefaultStorePath,
			Budget:          64 << 20,
			BatchRecords:    500,
			BatchBytes:      128 << 10,
			ReplayPerSecond: 20,
		},
		MQTT: MQTT{
			TopicPrefix:       "branchgw",
			KeepAlive:         Duration(30 * time.Second),
			MaxReconnectDelay: Duration(60 * time.Second),
			Inflight:          16,
		},
		Web:      Web{Socket: DefaultSocket, TLS: "self-signed"},
		Remote:   Remote{ConfirmWindow: Duration(120 * time.Second)},
		Firmware: Firmware{MarkGoodAfter: Duration(5 * time.Minute)},
		Supervisor: Supervisor{
			RestartBackoff:    Duration(time.Second),
			RestartBackoffMax: Duration(30 * time.Second),
			ShutdownTimeout:   Duration(10 * time.Second),
		},
	}
}

// applyListDefaults fills what depends on other fields or on list items.
func applyListDefaults(c *Config) {
	if c.GatewayID == "" {
		c.GatewayID = c.Site
	}
	if c.MQTT.ClientID == "" && c.GatewayID != "" {
		c.MQTT.ClientID = "branchgw-" + c.GatewayID
	}
	for i := range c.WAN {
		if c.WAN[i].Priority == 0 {
			c.WAN[i].Priority = i + 1
		}
		if c.WAN[i].Weight == 0 {
			c.WAN[i].Weight = 1
		}
	}
	if len(c.QoS.Classes) == 0 {
		c.QoS.Classes = DefaultQoSClasses()
	}
	if c.Inspect.Interface == "" {
		c.Inspect.Interface = c.LAN.Interface
	}
	for i := range c.Zones {
		if c.Zones[i].Interface == "" {
			c.Zones[i].Interface = c.LAN.Interface
		}
	}
}
