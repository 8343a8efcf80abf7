package scenario

import "time"

// Txn is one POS transaction: a new TCP connection to the acquirer, a
// request and its answer.
type Txn struct {
	Till    string        `json:"till"`
	Start   time.Time     `json:"start"`
	Latency time.Duration `json:"latency"`
	OK      bool          `json:"ok"`
	Err     string        `json:"err,omitempty"`
}

// TrafficStats sum up the load besides POS.
type TrafficStats struct {
	OfficeBytes int64 `json:"office_bytes"`
	GuestBytes  int64 `json:"guest_bytes"`
	DNSOK       int64 `json:"dns_ok"`
	DNSFail     int64 `json:"dns_fail"`
	Devices     int   `json:"devices_joined"`
}

// Resources are gatewayd's figures over the scenario.
type Resources struct {
	Starts   int           `json:"starts"`
	Kills    int           `json:"kills"`
	Crashes  int           `json:"crashes"`
	RSSPeak  int64         `json:"rss_peak_bytes"`
	CPU      time.Duration `json:"cpu"`
	DiskPeak int64         `json:"disk_peak_bytes"`
	Down     []window      `json:"down"`
}
