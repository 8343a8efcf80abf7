//go:build linux

package scenario

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/fleet"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/diskfull"
)

// Options are Run's dependencies.
type Options struct {
	// Gatewayd is the daemon binary to run in the gw namespace.
	Gatewayd string
	// Goals are checked by the verdict; the zero value means DefaultGoals.
	Goals Goals
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// Progress, when set, gets one line per fault as it happens.
	Progress io.Writer
	// Prefix names the lab; empty picks a fresh one.
	Prefix string
	// Artifacts, when set, is a directory that receives gatewayd's and
	// mosquitto's logs and every observation (observations.json) before
	// the lab is removed.
	Artifacts string
}

// topicPrefix is the MQTT topic prefix of the example config.
const topicPrefix = "branchgw"

// Run builds the store lab, runs gatewayd in it, drives the store's load
// and the fault schedule of p, and returns the verdict. The lab is removed
// before Run returns, whatever happens.
func Run(ctx context.Context, p Params, o Options) (v *Verdict, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Goals == (Goals{}) {
		o.Goals = DefaultGoals
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if _, err := os.Stat(o.Gatewayd); err != nil {
		return nil, fmt.Errorf("scenario: gatewayd binary: %w", err)
	}
	lab, err := netlab.New(ctx, netlab.Options{Prefix: o.Prefix, Log: o.Log})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, lab.Close()) }()
	svc, err := lab.StartServices(ctx, netlab.ServiceOptions{})
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	dir, err := lab.Dir()
	if err != nil {
		return nil, err
	}
	br, err := startBroker(ctx, lab, dir)
	if err != nil {
		return nil, err
	}
	defer br.stop()
	fwd, err := forward(ctx, lab, netlab.Cloud, net.JoinHostPort(netlab.Server.String(), strconv.Itoa(netlab.MQTTPort)))
	if err != nil {
		return nil, err
	}
	defer fwd.close()

	unmount, err := diskfull.Mount(dataDir(dir), p.DataSize)
	if err != nil {
		return nil, err
	}
	defer unmount()

	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	site := "lab-" + lab.Prefix
	cfgFor := func(version int64, set map[string]string) ([]byte, error) {
		return gatewaydConfig(site, dir, version, base64.StdEncoding.EncodeToString(pub), p, set)
	}
	cfg, err := cfgFor(1, nil)
	if err != nil {
		return nil, err
	}
	if err := checkConfig(cfg, dir); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}

	// Head office listens before the store starts, so it sees everything.
	ho := NewRecorder(topicPrefix + "/" + site)
	stopHO, err := ho.listen(ctx, fwd.url(), "scenario-headoffice-"+lab.Prefix)
	if err != nil {
		return nil, err
	}
	defer stopHO()
	fl, err := fleet.Connect(ctx, fleet.Options{Broker: fwd.url(), Prefix: topicPrefix})
	if err != nil {
		return nil, err
	}
	defer fl.Close()

	gw := newDaemon(lab, o.Gatewayd, cfgPath, dir, filepath.Join(dir, "gatewayd.sock"),
		storePath(dir), p.RestartDelay, o.Log)
	if err := gw.run(); err != nil {
		return nil, err
	}
	defer gw.stop()
	hold, err := waitReady(ctx, gw, 90*time.Second)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w (see %s)", err, gw.logPath)
	}
	join, err := newJoiner(lab)
	if err != nil {
		return nil, err
	}
	defer join.close()

	w := &world{lab: lab, p: p, broker: br, gw: gw, ho: ho, fleet: fl, key: key, site: site, dir: dir,
		dataDir: dataDir(dir), join: join, config: cfgFor, version: 1}
	obs := Observations{Params: p, Goals: o.Goals, HoldDown: hold}
	for _, wp := range netlab.WAN {
		obs.WANs = append(obs.WANs, wp.Name)
	}
	obs.Start = time.Now()
	fmt.Fprintf(o.Progress, "scenario %s: lab %s, gatewayd ready, %s of faults and traffic\n", p.Name, lab.Prefix, p.Length)

	// The load and the watchers run for the scenario's length.
	runCtx, stopRun := context.WithDeadline(ctx, obs.Start.Add(p.Length))
	defer stopRun()
	tr := &traffic{lab: lab, p: p}
	mon := &monitor{gw: gw, p: p}
	var bg sync.WaitGroup
	bg.Go(func() { tr.run(runCtx) })
	bg.Go(func() { join.run(runCtx, p.DeviceEvery) })
	bg.Go(func() { mon.run(runCtx) })

	var faults []FaultRun
	var fmu sync.Mutex
	var steps sync.WaitGroup
	for _, s := range p.Steps {
		steps.Go(func() {
			sleep(runCtx, time.Until(obs.Start.Add(s.At)))
			if runCtx.Err() != nil {
				return
			}
			fmt.Fprintf(o.Progress, "%6s  %s %s\n", time.Since(obs.Start).Round(time.Second), s.Kind, stepWAN(s))
			r := w.do(runCtx, s)
			fmu.Lock()
			faults = append(faults, r)
			fmu.Unlock()
			if r.Err != "" {
				fmt.Fprintf(o.Progress, "%6s  %s failed: %s\n", time.Since(obs.Start).Round(time.Second), s.Kind, r.Err)
			}
		})
	}
	steps.Wait()
	<-runCtx.Done()
	bg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	obs.End = time.Now()
	fmt.Fprintf(o.Progress, "%6s  traffic stopped; waiting up to %s for head office to receive the rest\n",
		obs.End.Sub(obs.Start).Round(time.Second), p.Drain)

	// What the store holds is what head office must get (or hear was
	// evicted). The daemon may be restarting: ask until it answers.
	obs.Produced, err = produced(ctx, gw)
	if err != nil {
		return nil, err
	}
	drain(ctx, ho, obs, p.Drain)
	mon.sample()

	slices.SortFunc(faults, func(a, b FaultRun) int { return a.Start.Compare(b.Start) })
	obs.Faults = faults
	obs.Txns, obs.Traffic = tr.results()
	obs.Traffic.Devices = join.count()
	obs.Record = ho.Snapshot()
	obs.Polled, obs.Switches, obs.Checks = mon.results()
	w.mu.Lock()
	obs.Pushes = w.pushes
	w.mu.Unlock()
	gw.stop()
	obs.Resources = gw.resources()
	if o.Artifacts != "" {
		if err := saveArtifacts(o.Artifacts, dir, obs); err != nil {
			o.Log.Warn("scenario: artifacts not saved", "err", err)
		}
	}
	return Judge(obs), nil
}

// saveArtifacts copies the logs and writes the raw observations.
func saveArtifacts(to, dir string, obs Observations) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, name := range []string{"gatewayd.log", "mosquitto.log", "gatewayd.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			err = os.WriteFile(filepath.Join(to, name), b, 0o644)
		}
		errs = append(errs, err)
	}
	b, err := json.MarshalIndent(obs, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(to, "observations.json"), b, 0o644)
	}
	return errors.Join(append(errs, err)...)
}

func stepWAN(s Step) string {
	switch s.Kind {
	case CarrierPull, Flap, BlackHole, Slow:
		return netlab.WAN[s.WAN].Name
	case Throttled:
		return netlab.WAN[1].Name
	}
	return ""
}

// waitReady waits until gatewayd is ready with wan1 active and every WAN
// up; it returns
// the failback hold-down.
func waitReady(ctx context.Context, gw *daemon, limit time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last string
	for {
		s, err := gw.snapshot(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case !s.Ready || s.Parts.WAN == nil:
			last = "not ready"
		case s.Parts.WAN.Active != netlab.WAN[0].Name:
			last = "active WAN is " + s.Parts.WAN.Active
		case !allUp(s):
			last = fmt.Sprintf("WANs not all up: %+v", s.Parts.WAN.WANs)
		default:
			return time.Duration(s.Parts.WAN.HoldDown), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("gatewayd not ready with %s active: %s", netlab.WAN[0].Name, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// allUp reports whether every WAN is up: the day starts with a settled
// gateway (a metered standby is probed every few seconds only, and needs
// several answers in a row before it counts as up).
func allUp(s *apiSnapshot) bool {
	for _, w := range s.Parts.WAN.WANs {
		if w.State != "up" {
			return false
		}
	}
	return len(s.Parts.WAN.WANs) > 0
}

// produced reads the last seq of every stream in the gateway's store.
func produced(ctx context.Context, gw *daemon) (map[string]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		s, err := gw.snapshot(ctx)
		if err == nil && s.Parts.Store != nil {
			out := map[string]uint64{}
			for _, st := range s.Parts.Store.Streams {
				out[st.Name] = st.LastSeq
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("scenario: the store's state: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// drain waits until head office has every produced record (or a gap
// event for it), at most limit.
func drain(ctx context.Context, ho *Recorder, o Observations, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		o.Record = ho.Snapshot()
		sv, _ := judgeTelemetry(o)
		missing := uint64(0)
		for _, s := range sv {
			missing += s.Lost
		}
		if missing == 0 {
			return
		}
		sleep(ctx, 500*time.Millisecond)
	}
}
