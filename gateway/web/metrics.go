package web

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsAuth guards /metrics on the LAN: a session, or HTTP basic auth
// with the technician password for a scraper.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.local || s.auth.session(r) != nil {
			next.ServeHTTP(w, r)
			return
		}
		ok, tried, wait := s.auth.basicOK(r)
		switch {
		case ok:
			next.ServeHTTP(w, r)
			return
		case wait > 0:
			tooMany(w, wait)
			return
		case tried:
			s.audit(r, "metrics_login_failed", "wrong password for /metrics (basic auth)")
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="branchgw", charset="UTF-8"`)
		apiError(w, http.StatusUnauthorized, "log in, or scrape with basic auth and the technician password")
	})
}

// metrics serves the status as Prometheus metrics, from the hub's current
// frame: a scrape never touches the components.
func (s *Server) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{hub: s.hub})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("branchgw_"+name, help, labels, nil)
}

var (
	mInfo        = desc("info", "Constant 1, labelled with the gateway's identity.", "site", "gateway_id", "version")
	mReady       = desc("ready", "1 once every component came up.")
	mAlarms      = desc("alarms", "Alarms now, by severity.", "severity")
	mWANState    = desc("wan_state", "1 for the WAN's current health state.", "wan", "state")
	mWANUp       = desc("wan_up", "1 if the WAN is usable (up or degraded).", "wan")
	mWANActive   = desc("wan_active", "1 for the WAN carrying traffic.", "wan")
	mWANRTT      = desc("wan_rtt_seconds", "Probe round-trip time over the window.", "wan")
	mWANLoss     = desc("wan_loss_ratio", "Probe loss over the window.", "wan")
	mWANFailover = desc("wan_failovers_total", "Times traffic moved onto this WAN.", "wan")
	mQoSBytes    = desc("qos_class_bytes_total", "Bytes sent in the QoS class.", "class", "direction")
	mQoSPackets  = desc("qos_class_packets_total", "Packets sent in the QoS class.", "class", "direction")
	mQoSDrops    = desc("qos_class_drops_total", "Packets dropped in the QoS class.", "class", "direction")
	mQoSBacklog  = desc("qos_class_backlog_bytes", "Bytes queued in the QoS class.", "class", "direction")
	mQoSRate     = desc("qos_class_rate_bps", "Current rate of the QoS class, bits per second.", "class", "direction")
	mQoSActive   = desc("qos_active", "1 while shaping is installed.")
	mFlows       = desc("flows_active", "Flows in the inspection table.")
	mFlowsEvict  = desc("flows_evicted_total", "Flows evicted because the table was full.")
	mDevices     = desc("devices", "LAN devices known.")
	mDevicesNew  = desc("devices_new", "LAN devices first seen in the last 24 h that are not terminals.")
	mCapPkts     = desc("capture_packets_total", "Packets the LAN capture received.")
	mCapDrops    = desc("capture_drops_total", "Packets the LAN capture ring dropped.")
	mPOSDegraded = desc("pos_degraded", "1 if the terminal is degraded.", "terminal")
	mPOSHS       = desc("pos_tls_handshake_seconds", "The terminal's average TLS handshake time.", "terminal")
	mPOSRetrans  = desc("pos_retransmit_ratio", "The terminal's TCP retransmission share.", "terminal")
	mBacklogRec  = desc("store_backlog_records", "Telemetry records not yet acknowledged by head office.")
	mBacklogB    = desc("store_backlog_bytes", "Bytes of telemetry not yet acknowledged.")
	mStoreBudget = desc("store_budget_bytes", "The telemetry store's effective byte budget.")
	mEvicted     = desc("store_evicted_records_total", "Telemetry records dropped because the budget was full.")
	mDropped     = desc("store_events_dropped_total", "Events dropped because the queue in front of the telemetry store was full.")
	mQueued      = desc("store_events_queued", "Events waiting for the telemetry store.")
	mUplinkUp    = desc("uplink_connected", "1 while the head-office MQTT session is up.")
	mUplinkRec   = desc("uplink_reconnects_total", "MQTT reconnects.")
	mUplinkAcked = desc("uplink_acked_records_total", "Telemetry records acknowledged by the broker.")
	mCompUp      = desc("component_up", "1 if the component is running.", "component")
	mCompRest    = desc("component_restarts_total", "Component restarts.", "component")
	mCPU         = desc("system_cpu_percent", "Box CPU use.")
	mMemUsed     = desc("system_memory_used_bytes", "Box memory in use.")
	mDiskUsed    = desc("system_disk_used_ratio", "Fill of the fullest watched filesystem.")
)

// collector turns the current Status into metrics at scrape time.
type collector struct{ hub *hub }

// Describe sends nothing: the metric set follows the daemon's parts (an
// unchecked collector), and describing by collecting would build a status
// before the daemon is wired.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func b01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	f := c.hub.current(time.Second)
	st := f.st
	if st == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	cnt := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	g(mInfo, 1, st.Site, st.GatewayID, st.Version)
	g(mReady, b01(st.Ready))
	sev := map[string]float64{SevCritical: 0, SevWarning: 0, SevInfo: 0}
	for _, a := range st.Alarms {
		sev[a.Severity]++
	}
	for k, v := range sev {
		g(mAlarms, v, k)
	}
	for _, w := range st.WANs {
		for _, s := range []string{"unknown", "up", "degraded", "down"} {
			g(mWANState, b01(w.State == s), w.Name, s)
		}
		g(mWANUp, b01(w.State == "up" || w.State == "degraded"), w.Name)
		g(mWANActive, b01(w.Active), w.Name)
		g(mWANRTT, w.RTT.D().Seconds(), w.Name)
		g(mWANLoss, w.Loss/100, w.Name)
		cnt(mWANFailover, float64(w.Failovers), w.Name)
	}
	for _, q := range st.QoS {
		cnt(mQoSBytes, float64(q.Bytes), q.Name, q.Direction)
		cnt(mQoSPackets, float64(q.Packets), q.Name, q.Direction)
		cnt(mQoSDrops, float64(q.Drops), q.Name, q.Direction)
		g(mQoSBacklog, float64(q.Backlog), q.Name, q.Direction)
		g(mQoSRate, q.RateBps, q.Name, q.Direction)
	}
	if sh := st.Shaping; sh != nil {
		g(mQoSActive, b01(sh.Active))
	}
	if fl := st.Flows; fl != nil {
		g(mFlows, float64(fl.Active))
		cnt(mFlowsEvict, float64(fl.Evicted))
		cnt(mCapPkts, float64(fl.Packets))
		cnt(mCapDrops, float64(fl.CaptureDrops))
		g(mDevices, float64(len(st.Devices)))
		n := 0
		for _, d := range st.Devices {
			if d.New {
				n++
			}
		}
		g(mDevicesNew, float64(n))
	}
	for _, t := range st.POS {
		g(mPOSDegraded, b01(t.Degraded), t.Name)
		g(mPOSHS, t.AvgHS.D().Seconds(), t.Name)
		g(mPOSRetrans, t.RetransRate, t.Name)
	}
	if u := st.Uplink; u != nil {
		g(mUplinkUp, b01(u.Connected))
		cnt(mUplinkRec, float64(u.Reconnects))
		cnt(mUplinkAcked, float64(u.AckedRecords))
		g(mBacklogRec, float64(u.BacklogRecords))
		g(mBacklogB, float64(u.BacklogBytes))
	}
	if s := st.Store; s != nil {
		g(mStoreBudget, float64(s.EffectiveBudget))
		cnt(mEvicted, float64(s.EvictedRecords))
		cnt(mDropped, float64(s.EventsDropped))
		g(mQueued, float64(s.EventsQueued))
		if st.Uplink == nil {
			g(mBacklogRec, float64(s.Records))
			g(mBacklogB, float64(s.Bytes))
		}
	}
	for _, comp := range st.Components {
		g(mCompUp, b01(comp.State == "running"), comp.Name)
		cnt(mCompRest, float64(comp.Restarts), comp.Name)
	}
	g(mCPU, st.System.CPUPercent)
	g(mMemUsed, float64(st.System.MemUsed))
	if st.System.DiskTotal > 0 {
		g(mDiskUsed, float64(st.System.DiskUsed)/float64(st.System.DiskTotal))
	}
}
