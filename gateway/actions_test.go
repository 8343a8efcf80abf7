package gateway

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRebootAsksSystemdAfterAnswering(t *testing.T) {
	g, err := New(testConfig(t), Options{Logger: quietLog(), Parts: []Part{}})
	if err != nil {
		t.Fatal(err)
	}
	g.rebootFile = filepath.Join(t.TempDir(), "reboot-requested")
	release, asked := make(chan time.Time), make(chan struct{})
	g.rebootAfter = func() <-chan time.Time { close(asked); return release }
	if err := g.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-asked // the request waits for its delay, which the test holds
	if _, err := os.Stat(g.rebootFile); err == nil {
		t.Fatal("asked before the answer could go out")
	}
	release <- time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(g.rebootFile); err == nil {
			return
		}
	}
	t.Fatal("reboot never requested")
}

func TestRebootWithoutRuntimeDirectory(t *testing.T) {
	g, err := New(testConfig(t), Options{Logger: quietLog(), Parts: []Part{}})
	if err != nil {
		t.Fatal(err)
	}
	g.rebootFile = "/nonexistent/dir/reboot-requested"
	if err := g.Reboot(context.Background()); err == nil {
		t.Error("no error without the runtime directory")
	}
}
