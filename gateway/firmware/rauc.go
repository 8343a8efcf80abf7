package firmware

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Runner runs a command and returns its standard output; stderr is folded
// into the error. Tests replace it to record the command lines.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// StreamRunner runs a command and hands each output line to line.
type StreamRunner func(ctx context.Context, line func(string), name string, args ...string) error

// RAUC is the real slot manager: the rauc command line, as RAUC's manual
// spells it (rauc status --output-format=json, rauc status mark-good
// booted, rauc install BUNDLE). As user gatewayd it reaches rauc.service
// over D-Bus, which the image's policy (gatewayd-rauc.conf) allows.
type RAUC struct {
	// Path is the rauc binary; default "rauc" from PATH.
	Path   string
	Run    Runner
	Stream StreamRunner
}

// NewRAUC returns the manager that runs the real rauc binary.
func NewRAUC() *RAUC {
	return &RAUC{Path: "rauc", Run: execRun, Stream: execStream}
}

func (r *RAUC) path() string {
	if r.Path == "" {
		return "rauc"
	}
	return r.Path
}

// raucStatus is the subset of `rauc status --output-format=json` we read.
// Slots is a list of one-key objects: [{"rootfs.0": {...}}, ...].
type raucStatus struct {
	Compatible  string                    `json:"compatible"`
	Booted      string                    `json:"booted"`
	BootPrimary string                    `json:"boot_primary"`
	Slots       []map[string]raucSlotJSON `json:"slots"`
}

type raucSlotJSON struct {
	Class      string `json:"class"`
	Device     string `json:"device"`
	Bootname   string `json:"bootname"`
	State      string `json:"state"`
	BootStatus string `json:"boot_status"`
	SlotStatus struct {
		Bundle struct {
			Version string `json:"version"`
		} `json:"bundle"`
	} `json:"slot_status"`
}

// Status runs `rauc status --detailed --output-format=json`.
func (r *RAUC) Status(ctx context.Context) (Status, error) {
	out, err := r.run(ctx, "status", "--detailed", "--output-format=json")
	if err != nil {
		return Status{}, err
	}
	return parseStatus(out)
}

func (r *RAUC) run(ctx context.Context, args ...string) ([]byte, error) {
	run := r.Run
	if run == nil {
		run = execRun
	}
	out, err := run(ctx, r.path(), args...)
	if notInstalled(err) {
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, fmt.Errorf("rauc %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// parseStatus reads RAUC's JSON status; "booted" may be the bootname or,
// on some setups, the booted device, so the slot state decides too.
func parseStatus(b []byte) (Status, error) {
	var rs raucStatus
	if err := json.Unmarshal(b, &rs); err != nil {
		return Status{}, fmt.Errorf("rauc status: not the JSON rauc prints: %w", err)
	}
	st := Status{Compatible: rs.Compatible, Booted: rs.Booted}
	for _, m := range rs.Slots {
		for name, s := range m {
			if s.Class != "" && s.Class != "rootfs" {
				continue
			}
			sl := Slot{Name: name, Bootname: s.Bootname, Device: s.Device, State: s.State,
				BootStatus: s.BootStatus, Version: s.SlotStatus.Bundle.Version}
			st.Slots = append(st.Slots, sl)
			if name == rs.BootPrimary {
				st.Primary = s.Bootname
			}
			if s.State == "booted" || s.Device == rs.Booted {
				st.Booted = s.Bootname
			}
		}
	}
	if len(st.Slots) == 0 {
		return Status{}, errors.New("rauc status: no rootfs slots")
	}
	return st, nil
}

// MarkGood runs `rauc status mark-good booted`.
func (r *RAUC) MarkGood(ctx context.Context) error {
	_, err := r.run(ctx, "status", "mark-good", "booted")
	return err
}

// progressLine matches rauc install's progress lines ("  40% Checking bundle").
var progressLine = regexp.MustCompile(`^\s*(\d{1,3})% (.+)$`)

// Install runs `rauc install BUNDLE` and reports its progress lines. Only
// absolute paths and http(s) URLs are accepted, so nothing reaches rauc
// as an option.
func (r *RAUC) Install(ctx context.Context, bundle string, progress func(Progress)) error {
	if err := checkBundle(bundle); err != nil {
		return err
	}
	stream := r.Stream
	if stream == nil {
		stream = execStream
	}
	err := stream(ctx, func(line string) {
		if m := progressLine.FindStringSubmatch(line); m != nil && progress != nil {
			p, _ := strconv.Atoi(m[1])
			progress(Progress{Percent: p, Message: strings.TrimSpace(m[2])})
		}
	}, r.path(), "install", bundle)
	if notInstalled(err) {
		return ErrUnsupported
	}
	if err != nil {
		return fmt.Errorf("rauc install %s: %w", bundle, err)
	}
	return nil
}

// notInstalled says the rauc binary is missing (not on PATH, or the
// configured path does not exist), as opposed to rauc failing.
func notInstalled(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// checkBundle accepts an absolute .raucb path or an http(s) URL.
func checkBundle(bundle string) error {
	if strings.HasPrefix(bundle, "/") && !strings.ContainsAny(bundle, "\x00\n") {
		return nil
	}
	u, err := url.Parse(bundle)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("bundle %q: want an absolute path or an http(s) URL", bundle)
	}
	return nil
}

func execRun(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return out, fmt.Errorf("%w: %s", err, msg)
		}
		return out, err
	}
	return out, nil
}

func execStream(ctx context.Context, line func(string), name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line(sc.Text())
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
