package gateway

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRebootRunsTheCommandAfterAnswering(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "rebooted")
	script := filepath.Join(dir, "fake-systemctl")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+marker+"\n"), 0o755)
	g, err := New(testConfig(t), Options{Logger: quietLog(), Parts: []Part{}})
	if err != nil {
		t.Fatal(err)
	}
	g.rebootCmd = []string{script, "--no-block", "reboot"}
	if err := g.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("rebooted before the answer could go out")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(marker); err == nil {
			if string(b) != "--no-block reboot\n" {
				t.Errorf("ran with %q", b)
			}
			return
		}
	}
	t.Fatal("reboot command never ran")
}

func TestRebootWithoutSystemctl(t *testing.T) {
	g, err := New(testConfig(t), Options{Logger: quietLog(), Parts: []Part{}})
	if err != nil {
		t.Fatal(err)
	}
	g.rebootCmd = []string{"/nonexistent/systemctl"}
	if err := g.Reboot(context.Background()); err == nil {
		t.Error("no error without the reboot command")
	}
}
