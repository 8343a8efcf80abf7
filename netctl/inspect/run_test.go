package inspect

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// fakeSource replays frames, then returns end (timeouts, EOF or an error).
type fakeSource struct {
	frames [][]byte
	end    error
	closed bool
}

func (f *fakeSource) ReadPacket() ([]byte, time.Time, uint16, error) {
	if len(f.frames) == 0 {
		if errors.Is(f.end, ErrTimeout) {
			time.Sleep(time.Millisecond)
		}
		return nil, time.Time{}, 0, f.end
	}
	fr := f.frames[0]
	f.frames = f.frames[1:]
	return fr, t0, 7, nil
}

func (f *fakeSource) Stats() (CaptureStats, error) {
	return CaptureStats{Interface: "fake", Packets: 3, Drops: 1}, nil
}

func (f *fakeSource) Close() error { f.closed = true; return nil }

func TestRun(t *testing.T) {
	frames := [][]byte{craft.TCPFrame(office, webHost, craft.Opts{}, craft.TCP{SYN: true})}
	tests := []struct {
		name    string
		open    func() (Source, error)
		src     *fakeSource
		cancel  bool
		wantErr string
	}{
		{"ends at EOF", nil, &fakeSource{frames: frames, end: io.EOF}, false, ""},
		{"returns on cancel", nil, &fakeSource{frames: frames, end: ErrTimeout}, true, ""},
		{"capture error", nil, &fakeSource{frames: frames, end: errors.New("network is down")}, false, `inspect: capture on "lan0": network is down`},
		{"open error", func() (Source, error) { return nil, errors.New("no such device") }, nil, false, `inspect: open capture on "lan0": no such device`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := tt.open
			if open == nil {
				open = func() (Source, error) { return tt.src, nil }
			}
			in, err := New(testConfig(), nil, Deps{Open: open, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			err = in.Run(ctx)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Run: %v, want %q", err, tt.wantErr)
			}
			if tt.src != nil {
				if !tt.src.closed {
					t.Error("source not closed")
				}
				s := in.Snapshot()
				if tt.wantErr == "" && (s.Capture.Interface != "fake" || s.Capture.Drops != 1 || s.Decode.Frames != 1 || s.TopFlows[0].VLAN != 7) {
					t.Errorf("snapshot %+v %+v", s.Capture, s.TopFlows)
				}
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"resolver":  func(c *Config) { c.Inspect.Resolvers = []string{"dns.example"} },
		"pos allow": func(c *Config) { c.POSAllow = []string{"not an address"} },
		"pos mac":   func(c *Config) { c.POS.Devices[0].MAC = "zz" },
	} {
		c := testConfig()
		mut(&c)
		if _, err := New(c, nil, Deps{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
