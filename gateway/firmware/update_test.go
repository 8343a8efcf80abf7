package firmware

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// installManager is a fake whose Install reports steps, then returns err.
type installManager struct {
	fakeManager
	steps   []Progress
	err     error
	started chan struct{}
	release chan struct{}
}

func (m *installManager) Install(_ context.Context, _ string, progress func(Progress)) error {
	if m.started != nil {
		close(m.started)
		<-m.release
	}
	for _, p := range m.steps {
		progress(p)
	}
	return m.err
}

func TestUpdaterReportsProgressAndResult(t *testing.T) {
	steps := []Progress{{0, "Installing"}, {5, "Checking bundle"}, {20, "Checking bundle done."},
		{40, "Copying image to rootfs.1"}, {45, "Copying"}, {99, "Copying done."}, {100, "Installing done."}}
	for _, tc := range []struct {
		name   string
		bundle string
		err    error
		want   []string
	}{
		{"installed", "https://ops.example/branchgw-x86_64-v1.1.raucb", nil, []string{
			"firmware.update_started installing https://ops.example/branchgw-x86_64-v1.1.raucb",
			"firmware.update_progress 0% Installing",
			"firmware.update_progress 20% Checking bundle done.",
			"firmware.update_progress 40% Copying image to rootfs.1",
			"firmware.update_progress 99% Copying done.",
			"firmware.update_progress 100% Installing done.",
			"firmware.update_done installed https://ops.example/branchgw-x86_64-v1.1.raucb; the new slot boots on the next reboot",
		}},
		{"bad signature", "/data/b.raucb", errors.New("rauc install /data/b.raucb: signature verification failed"), []string{
			"firmware.update_started installing /data/b.raucb",
			"firmware.update_progress 0% Installing",
			"firmware.update_progress 20% Checking bundle done.",
			"firmware.update_progress 40% Copying image to rootfs.1",
			"firmware.update_progress 99% Copying done.",
			"firmware.update_progress 100% Installing done.",
			"firmware.update_failed rauc install /data/b.raucb: signature verification failed",
		}},
		{"not a bundle URL", "--ignore-compatible", nil, []string{
			`firmware.update_failed bundle "--ignore-compatible": want an absolute path or an http(s) URL`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			u := NewUpdater(&installManager{steps: steps, err: tc.err}, func(e Event) { got = append(got, e.Kind+" "+e.Message) }, nil)
			err := u.Install(context.Background(), tc.bundle)
			if (err != nil) != (tc.err != nil || strings.HasPrefix(tc.bundle, "-")) {
				t.Errorf("err = %v", err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestUpdaterOneAtATime(t *testing.T) {
	m := &installManager{started: make(chan struct{}), release: make(chan struct{})}
	u := NewUpdater(m, nil, nil)
	done := make(chan error, 1)
	go func() { done <- u.Install(context.Background(), "/data/a.raucb") }()
	<-m.started
	if err := u.Install(context.Background(), "/data/b.raucb"); !errors.Is(err, ErrBusy) {
		t.Errorf("second install: %v, want ErrBusy", err)
	}
	close(m.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m.started = nil
	if err := u.Install(context.Background(), "/data/b.raucb"); err != nil {
		t.Errorf("install after the first finished: %v", err)
	}
}
