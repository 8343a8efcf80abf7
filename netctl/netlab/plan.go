package netlab

import "net/netip"

// Node is one host of the lab; its namespace is "<prefix>-<node>".
type Node string

// The lab's hosts.
const (
	GW     Node = "gw"
	ISP1   Node = "isp1"
	ISP2   Node = "isp2"
	Core   Node = "core"
	Cloud  Node = "cloud"
	POS1   Node = "pos1"
	POS2   Node = "pos2"
	Office Node = "office"
	Guest  Node = "guest"
)

// Nodes lists every host in build order.
var Nodes = []Node{GW, ISP1, ISP2, Core, Cloud, POS1, POS2, Office, Guest}

// LANHosts are the store devices behind the gateway.
var LANHosts = []Node{POS1, POS2, Office, Guest}

// Interface names inside the gateway namespace (what gatewayd's config names).
const (
	WAN1If = "wan1"
	WAN2If = "wan2"
	LANIf  = "lan0"
	// HostIf is the one interface of every LAN host and of cloud.
	HostIf = "eth0"
	// ISPDownIf is the ISP's interface toward the gateway (the "modem" side);
	// its egress queue shapes the download, and setting it down is a cable pull.
	ISPDownIf = "cpe"
	// ISPUpIf is the ISP's interface toward core; its egress shapes the upload.
	ISPUpIf = "up"
)

func a(s string) netip.Addr   { return netip.MustParseAddr(s) }
func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// The address plan. Everything is in 198.18.0.0/15 or a TEST-NET.
var (
	LANNet   = p("198.18.10.0/24")
	GWLAN    = a("198.18.10.1")
	HostAddr = map[Node]netip.Addr{
		POS1: a("198.18.10.11"), POS2: a("198.18.10.12"),
		Office: a("198.18.10.70"), Guest: a("198.18.10.130"),
	}
	// HostMAC fixes the POS terminals' MACs so configs can name them.
	HostMAC = map[Node]string{POS1: "02:00:00:00:10:01", POS2: "02:00:00:00:10:02"}

	// WAN[i] describes the link between gw and isp i+1.
	WAN = [2]WANPlan{
		{Name: "wan1", ISP: ISP1, GWIf: WAN1If, Net: p("198.18.1.0/24"), GWAddr: a("198.18.1.2"), ISPAddr: a("198.18.1.1"),
			CoreNet: p("198.18.101.0/30"), ISPCore: a("198.18.101.1"), CoreISP: a("198.18.101.2"), CoreIf: "isp1", Metric: 100},
		{Name: "wan2", ISP: ISP2, GWIf: WAN2If, Net: p("198.18.2.0/24"), GWAddr: a("198.18.2.2"), ISPAddr: a("198.18.2.1"),
			CoreNet: p("198.18.102.0/30"), ISPCore: a("198.18.102.1"), CoreISP: a("198.18.102.2"), CoreIf: "isp2", Metric: 200},
	}

	CoreCloudNet = p("198.18.200.0/30")
	CoreCloud    = a("198.18.200.1")
	CloudCore    = a("198.18.200.2")
)

// WANPlan is the addressing of one uplink.
type WANPlan struct {
	Name    string
	ISP     Node
	GWIf    string
	Net     netip.Prefix
	GWAddr  netip.Addr // the gateway's WAN address
	ISPAddr netip.Addr // the first hop (the WAN's default gateway)
	CoreNet netip.Prefix
	ISPCore netip.Addr // the ISP's address toward core
	CoreISP netip.Addr // core's address toward the ISP
	CoreIf  string     // core's interface toward the ISP
	Metric  int        // the main-table default route metric, like DHCP would set
}

// Cloud service addresses: probe targets, servers and the broker.
var (
	// TargetA and TargetB answer pings (two probe targets in two TEST-NETs).
	TargetA = a("198.51.100.1")
	TargetB = a("203.0.113.1")
	// Server runs TCP/UDP echo (7), a TCP accept on 443, HTTP (80) and mosquitto.
	Server = a("198.51.100.10")
	// DNSServer answers lab names on port 53.
	DNSServer = a("198.51.100.53")
	// WebServer is a second HTTP address.
	WebServer = a("203.0.113.80")
	// Payment is the card acquirer of the lab (pay.lab.example).
	Payment = a("192.0.2.123")
	// CloudNets are routed from core to cloud.
	CloudNets = []netip.Prefix{p("198.51.100.0/24"), p("203.0.113.0/24"), p("192.0.2.0/24")}
	// CloudAddrs are all the service addresses cloud answers on.
	CloudAddrs = []netip.Addr{TargetA, TargetB, Server, DNSServer, WebServer, Payment}
)

// Ports of the cloud services.
const (
	EchoPort  = 7
	HTTPPort  = 80
	TLSPort   = 443 // accepts and echoes, for TCP connect probes
	DNSPort   = 53
	MQTTPort  = 1883
	POSPort   = 7 // the POS transaction stream uses the echo servers
	dnsDomain = "lab.example"
)

// DNSNames are the names the lab's DNS server answers.
var DNSNames = map[string]netip.Addr{
	"probe.lab.example":     Server,
	"broker.lab.example":    Server,
	"pay.lab.example":       Payment,
	"www.lab.example":       WebServer,
	"video.lab.example":     WebServer,
	"os.update.lab.example": WebServer,
}
