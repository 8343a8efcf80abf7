package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Verdict is the scenario's result: what the tills, head office and the
// daemon saw, and each goal side by side with the measured value.
type Verdict struct {
	Scenario  string          `json:"scenario"`
	Start     time.Time       `json:"start"`
	Duration  time.Duration   `json:"duration"`
	Goals     Goals           `json:"goals"`
	POS       POSVerdict      `json:"pos"`
	Faults    []FaultVerdict  `json:"faults"`
	Failover  FailoverVerdict `json:"failover"`
	Telemetry []StreamVerdict `json:"telemetry"`
	// ReturnDelays is, per kind of outage, the longest time after head
	// office became reachable again until a record made before arrived.
	ReturnDelays map[string]time.Duration `json:"delivery_delay_after_return"`
	Daemon       DaemonVerdict            `json:"daemon"`
	Config       []PushResult             `json:"config"`
	Traffic      TrafficStats             `json:"traffic"`
	Alarms       map[string]int           `json:"alarms_received"`
	Rows         []Row                    `json:"rows"`
	Pass         bool                     `json:"pass"`
}

// POSVerdict sums up the tills' transactions.
type POSVerdict struct {
	Attempted         int           `json:"attempted"`
	Succeeded         int           `json:"succeeded"`
	OutsideAttempted  int           `json:"outside_both_down_attempted"`
	OutsideSucceeded  int           `json:"outside_both_down_succeeded"`
	SuccessOutside    float64       `json:"success_outside_both_down"`
	LongestGap        time.Duration `json:"longest_gap"`
	LongestGapOutside time.Duration `json:"longest_gap_outside_both_down"`
	P50               time.Duration `json:"p50_latency"`
	P99               time.Duration `json:"p99_latency"`
	// P99Steady is the p99 of transactions clear of every fault window
	// (the load alone).
	P99Steady time.Duration `json:"p99_latency_no_fault"`
	// FailedDuring counts failures outside both-down by the faults under
	// way when they started (or up to 10 s before).
	FailedDuring map[string]int `json:"failed_during,omitempty"`
	// Failures are the failures outside both-down.
	Failures []POSFailure `json:"failures_outside_both_down,omitempty"`
	// FailedOn counts those failures by the WAN that was active.
	FailedOn map[string]int `json:"failed_on,omitempty"`
}

// POSFailure is one failed transaction outside both-down.
type POSFailure struct {
	At     time.Duration `json:"at"`
	Till   string        `json:"till"`
	WAN    string        `json:"wan"`    // active when it started
	Faults string        `json:"faults"` // under way when it started
	Err    string        `json:"err"`
	Took   time.Duration `json:"took"`
}

func (f POSFailure) String() string {
	return fmt.Sprintf("%s %s on %s (%s): %s after %s", f.At.Round(100*time.Millisecond), f.Till, f.WAN, f.Faults, f.Err, ms(f.Took))
}

// FaultVerdict is one fault's detection (or, for flapping, its switches).
type FaultVerdict struct {
	Kind FaultKind     `json:"kind"`
	WAN  string        `json:"wan"`
	At   time.Duration `json:"at"`
	// Detect is the time until the WAN was marked down, -1 if never.
	Detect time.Duration `json:"detect"`
	Goal   time.Duration `json:"goal,omitempty"`
	// Failover is the time until traffic moved away, 0 if it did not
	// have to (the WAN was standby).
	Failover   time.Duration `json:"failover,omitempty"`
	Switches   int           `json:"switches,omitempty"`
	SwitchGoal int           `json:"switch_goal,omitempty"`
	Note       string        `json:"note,omitempty"`
	OK         bool          `json:"ok"`
}

// FailoverVerdict counts switches.
type FailoverVerdict struct {
	Failovers int      `json:"failovers"`
	False     int      `json:"false_failovers"`
	FalseAt   []string `json:"false_at,omitempty"`
	Flaps     int      `json:"flaps"`
}

// StreamVerdict is one telemetry stream at head office.
type StreamVerdict struct {
	Stream     string `json:"stream"`
	Produced   uint64 `json:"produced"`
	Received   uint64 `json:"received"`
	Gapped     uint64 `json:"gap_covered"`
	Lost       uint64 `json:"lost"`
	Duplicates int    `json:"duplicates"`
	// LostRanges are the first runs of lost seqs (first, last).
	LostRanges [][2]uint64 `json:"lost_ranges,omitempty"`
}

// DaemonVerdict is gatewayd's behaviour.
type DaemonVerdict struct {
	Restarts     int           `json:"restarts"`
	Kills        int           `json:"kills"`
	Crashes      int           `json:"crashes"`
	RSSPeak      int64         `json:"rss_peak_bytes"`
	CPU          time.Duration `json:"cpu"`
	CPUPercent   float64       `json:"cpu_percent"`
	DiskPeak     int64         `json:"disk_peak_bytes"`
	Checks       int           `json:"status_checks"`
	ChecksOK     int           `json:"status_checks_ok"`
	ChecksFailed int           `json:"status_checks_failed"`
	CheckErrors  []string      `json:"status_check_errors,omitempty"`
}

// Row is one line of the verdict table: a goal (or "—" for a figure
// without one), the measured value, and whether it was met.
type Row struct {
	Area     string `json:"area"`
	What     string `json:"what"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	OK       *bool  `json:"ok,omitempty"` // nil: a figure, not a goal
}

func ms(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (v *Verdict) goal(area, what, goal, measured string, ok bool) {
	v.Rows = append(v.Rows, Row{Area: area, What: what, Goal: goal, Measured: measured, OK: &ok})
}

func (v *Verdict) figure(area, what, measured string) {
	v.Rows = append(v.Rows, Row{Area: area, What: what, Goal: "—", Measured: measured})
}

// rows builds the table and the pass/fail.
func (v *Verdict) rows(o Observations) {
	g := v.Goals
	p := v.POS
	v.figure("POS", "transactions attempted / succeeded", fmt.Sprintf("%d / %d", p.Attempted, p.Succeeded))
	v.goal("POS", fmt.Sprintf("success outside both-down and the throttled SIM (+%s recovery)", g.Recovery()),
		fmt.Sprintf("≥ %.1f%%", 100*g.POSSuccess),
		fmt.Sprintf("%.2f%% (%d / %d)", 100*p.SuccessOutside, p.OutsideSucceeded, p.OutsideAttempted),
		p.OutsideAttempted > 0 && p.SuccessOutside >= g.POSSuccess)
	if len(p.FailedDuring) > 0 {
		v.figure("POS", "failures outside both-down, by fault under way", fmt.Sprint(p.FailedDuring))
		v.figure("POS", "failures outside both-down, by active WAN", fmt.Sprint(p.FailedOn))
	}
	v.figure("POS", "longest gap (outside both-down)", fmt.Sprintf("%s (%s)", ms(p.LongestGap), ms(p.LongestGapOutside)))
	v.figure("POS", "latency under load p50 / p99 (p99 clear of faults)", fmt.Sprintf("%s / %s (%s)", ms(p.P50), ms(p.P99), ms(p.P99Steady)))
	for _, f := range v.Faults {
		at := fmt.Sprintf("%s %s at %s", f.Kind, f.WAN, f.At.Round(time.Second))
		if f.Kind == Flap {
			v.goal("failover", at+": switches", fmt.Sprintf("≤ %d", f.SwitchGoal), fmt.Sprint(f.Switches), f.OK)
			continue
		}
		m := "detected in " + ms(f.Detect)
		if f.Failover > 0 {
			m += ", failover in " + ms(f.Failover)
		}
		if f.Note != "" {
			m += " (" + f.Note + ")"
		}
		v.goal("failover", at, "≤ "+ms(f.Goal), m, f.OK)
	}
	v.goal("failover", "false failovers", fmt.Sprintf("≤ %d", g.FalseFailovers),
		falseAt(v.Failover), v.Failover.False <= g.FalseFailovers)
	var lost uint64
	for _, s := range v.Telemetry {
		v.figure("telemetry", "stream "+s.Stream+": produced / received / gap-covered / duplicates",
			fmt.Sprintf("%d / %d / %d / %d", s.Produced, s.Received, s.Gapped, s.Duplicates))
		lost += s.Lost
	}
	lostText := fmt.Sprint(lost)
	for _, s := range v.Telemetry {
		if s.Lost > 0 {
			lostText += fmt.Sprintf("; %s %d, seq %v", s.Stream, s.Lost, s.LostRanges)
		}
	}
	v.goal("telemetry", "records lost without a gap event", fmt.Sprintf("≤ %d", g.UnexplainedLoss), lostText,
		lost <= uint64(g.UnexplainedLoss) && len(v.Telemetry) > 0)
	var delays []string
	for _, k := range slices.Sorted(maps.Keys(v.ReturnDelays)) {
		delays = append(delays, fmt.Sprintf("%s %s", k, ms(v.ReturnDelays[k])))
	}
	v.figure("telemetry", "max delivery delay after the link returns", strings.Join(delays, ", "))
	d := v.Daemon
	v.figure("daemon", "restarts (kill -9 / crashes)", fmt.Sprintf("%d (%d / %d)", d.Restarts, d.Kills, d.Crashes))
	v.goal("daemon", "unexpected crashes", "0", fmt.Sprint(d.Crashes), d.Crashes == 0)
	v.figure("daemon", "RSS peak / CPU / disk peak", fmt.Sprintf("%s / %s (%.1f%% of one core) / %s", mib(d.RSSPeak),
		d.CPU.Round(100*time.Millisecond), d.CPUPercent, mib(d.DiskPeak)))
	v.goal("daemon", fmt.Sprintf("status page checks failed outside restarts (every %s)", o.Params.HealthEvery), "0",
		fmt.Sprintf("%d (%d of %d answered)", d.ChecksFailed, d.ChecksOK, d.Checks), d.ChecksFailed == 0 && d.Checks > 0)
	for _, c := range v.Config {
		want := "applied"
		ok := c.State == "applied"
		if c.Kind == BadPush {
			want = "rejected or rolled-back"
			ok = c.State == "rejected" || c.State == "rolled-back"
		}
		m := c.State
		if len(c.Errors) > 0 {
			m += ": " + trim(c.Errors[0], 60)
		}
		v.goal("config", fmt.Sprintf("%s v%d", c.Kind, c.Version), want, m, ok)
	}
	t := v.Traffic
	v.figure("load", "office / guest bytes", fmt.Sprintf("%s / %s", mib(t.OfficeBytes), mib(t.GuestBytes)))
	v.figure("load", "DNS lookups ok / failed, devices joined", fmt.Sprintf("%d / %d, %d", t.DNSOK, t.DNSFail, t.Devices))
	v.figure("load", "alarms at head office", fmt.Sprint(v.Alarms))
	v.Pass = true
	for _, r := range v.Rows {
		if r.OK != nil && !*r.OK {
			v.Pass = false
		}
	}
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// Missed lists the goals that were not met.
func (v *Verdict) Missed() []string {
	var out []string
	for _, r := range v.Rows {
		if r.OK != nil && !*r.OK {
			out = append(out, fmt.Sprintf("%s: %s: goal %s, measured %s", r.Area, r.What, r.Goal, r.Measured))
		}
	}
	return out
}

// WriteTable prints the verdict as a table.
func (v *Verdict) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scenario %s, %s, started %s\n", v.Scenario, v.Duration.Round(time.Second), v.Start.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AREA\tWHAT\tGOAL\tMEASURED\t")
	for _, r := range v.Rows {
		mark := ""
		if r.OK != nil {
			mark = "ok"
			if !*r.OK {
				mark = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Area, r.What, r.Goal, r.Measured, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "PASS: every goal met"
	if !v.Pass {
		verdict = "FAIL: " + strings.Join(v.Missed(), "; ")
	}
	_, err := fmt.Fprintln(w, verdict)
	return err
}

// WriteJSON writes the verdict as indented JSON.
func (v *Verdict) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func falseAt(f FailoverVerdict) string {
	s := fmt.Sprintf("%d of %d failovers", f.False, f.Failovers)
	if len(f.FalseAt) > 0 {
		s += ": " + strings.Join(f.FalseAt, "; ")
	}
	return s
}
