package inspect

import (
	"cmp"
	"slices"
	"time"
)

// Summary is one period (a minute by default) of LAN activity, for
// telemetry: what head office charts and keeps.
type Summary struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// FlowsActive is the table size at End; FlowsNew and FlowsEnded count
	// flows that started and ended in the period.
	FlowsActive int    `json:"flows_active"`
	FlowsNew    uint64 `json:"flows_new"`
	FlowsEnded  uint64 `json:"flows_ended"`
	// FlowsEvicted counts flows pushed out by max_flows in the period.
	FlowsEvicted uint64 `json:"flows_evicted"`
	// TopApps and TopDevices are bytes in the period, most first.
	TopApps    []AppBytes    `json:"top_apps"`
	TopDevices []DeviceBytes `json:"top_devices"`
	// Devices is the inventory delta: devices first seen or changed (new
	// address, DHCP hostname or fingerprint) in the period.
	Devices []Device `json:"devices"`
	// DevicesMore counts the changed devices left out of Devices.
	DevicesMore int          `json:"devices_more,omitempty"`
	POS         []Terminal   `json:"pos"`
	Capture     CaptureStats `json:"capture"`
}

// AppBytes is one name's traffic in a period.
type AppBytes struct {
	Name     string `json:"name"`
	Category string `json:"category,omitempty"`
	Bytes    uint64 `json:"bytes"`
}

// DeviceBytes is one device's traffic in a period.
type DeviceBytes struct {
	MAC      string `json:"mac"`
	Hostname string `json:"hostname,omitempty"`
	Bytes    uint64 `json:"bytes"`
}

// SummaryFunc receives summaries on the capture goroutine; it must not block.
type SummaryFunc func(Summary)

const summaryTop = 10

// summaryDevices bounds the inventory delta of one summary. A flood of new
// MACs (the store day's device burst, a scan, a looping switch) made
// summaries of 675 KB, ten times the telemetry store's record limit: the
// store refused them whole, and head office got no flow summary at all.
const summaryDevices = 100

// summaryState is what the previous summary saw, to compute deltas.
type summaryState struct {
	start                   int64
	apps                    map[string]uint64
	devs                    map[[6]byte]uint64
	created, ended, evicted uint64
}

// maybeSummarize emits a summary when the period is over.
func (in *Inspector) maybeSummarize(ts int64) {
	if in.deps.OnSummary == nil {
		return
	}
	st := &in.sum
	if st.start == 0 {
		st.start = ts
		st.apps, st.devs = map[string]uint64{}, map[[6]byte]uint64{}
		return
	}
	if ts-st.start < int64(in.deps.SummaryEvery) {
		return
	}
	s := Summary{Start: time.Unix(0, st.start), End: time.Unix(0, ts), FlowsActive: in.flows.len(),
		FlowsNew: in.flows.created - st.created, Capture: in.capture}
	ended := in.flows.expired + in.flows.evicted
	s.FlowsEnded, s.FlowsEvicted = ended-st.ended, in.flows.evicted-st.evicted
	st.created, st.ended, st.evicted = in.flows.created, ended, in.flows.evicted

	// Cumulative bytes per name: ended flows plus the live ones.
	cum := map[string]*AppBytes{}
	for name, t := range in.apps.totals {
		cum[name] = &AppBytes{Name: name, Category: t.category, Bytes: t.bytes}
	}
	in.flows.each(func(f *flow) {
		if f.name == "" {
			return
		}
		a := cum[f.name]
		if a == nil {
			a = &AppBytes{Name: f.name, Category: f.category}
			cum[f.name] = a
		}
		a.Bytes += f.bytes[0] + f.bytes[1]
	})
	apps := map[string]uint64{}
	for name, a := range cum {
		apps[name] = a.Bytes
		if d := a.Bytes - min(a.Bytes, st.apps[name]); d > 0 {
			s.TopApps = append(s.TopApps, AppBytes{Name: name, Category: a.Category, Bytes: d})
		}
	}
	st.apps = apps
	slices.SortFunc(s.TopApps, func(a, b AppBytes) int { return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Name, b.Name)) })
	s.TopApps = s.TopApps[:min(len(s.TopApps), summaryTop)]

	devs := make(map[[6]byte]uint64, len(in.devs.idx))
	snap := in.snap.Load()
	for i := range in.devs.slab {
		d := &in.devs.slab[i]
		if d.first == 0 {
			continue
		}
		devs[d.mac] = d.bytes
		if delta := d.bytes - min(d.bytes, st.devs[d.mac]); delta > 0 {
			s.TopDevices = append(s.TopDevices, DeviceBytes{MAC: macString(d.mac), Hostname: d.hostname, Bytes: delta})
		}
		if d.changed >= st.start {
			if len(s.Devices) == summaryDevices {
				s.DevicesMore++
				continue
			}
			for _, dv := range snap.Devices {
				if dv.MAC == macString(d.mac) {
					s.Devices = append(s.Devices, dv)
				}
			}
		}
	}
	st.devs = devs
	slices.SortFunc(s.TopDevices, func(a, b DeviceBytes) int { return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.MAC, b.MAC)) })
	s.TopDevices = s.TopDevices[:min(len(s.TopDevices), summaryTop)]
	s.POS = snap.POS
	st.start = ts
	in.deps.OnSummary(s)
}
