package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/passwd"
	"github.com/branchgw/branchgw/gateway/web"
)

func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"hash-password"}, strings.NewReader("correct horse\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !passwd.Verify(strings.TrimSpace(out.String()), "correct horse") {
		t.Errorf("hash %q does not verify", out.String())
	}
	if code := run([]string{"hash-password"}, strings.NewReader("short\n"), &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "at least 8 characters") {
		t.Errorf("short password: exit %d, %q", code, errb.String())
	}
}

// TestAgainstRealSocket runs the daemon's API server on a real socket.
func TestAgainstRealSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "gw.sock")
	var restarted string
	srv := web.NewSocket(config.Web{Socket: sock}, web.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Snapshot: func() any { return map[string]string{"site": "store-1"} },
		Restart: func(_ context.Context, name string) error {
			restarted = name
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Run(ctx)
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-socket", sock, "status"}, 0, `"site": "store-1"`},
		{[]string{"-socket", sock, "restart", "wan"}, 0, `"restarted": "wan"`},
		{[]string{"-socket", filepath.Join(t.TempDir(), "none.sock"), "status"}, 1, "is gatewayd running?"},
		{[]string{"frobnicate"}, 2, "usage: gwctl"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, nil, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%v: exit %d, out %q err %q; want exit %d with %q", tc.args, code, out.String(), errb.String(), tc.code, tc.want)
		}
	}
	if restarted != "wan" {
		t.Errorf("restart reached %q", restarted)
	}
	var m map[string]string
	var out bytes.Buffer
	run([]string{"-socket", sock, "status"}, nil, &out, io.Discard)
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Errorf("status is not JSON: %v", err)
	}
}
