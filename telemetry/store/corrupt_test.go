package store

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damage functions turn a good store file into a bad one.
var damages = []struct {
	name   string
	damage func(t *testing.T, path string)
}{
	{"garbage", func(t *testing.T, path string) {
		os.Remove(path + "-wal")
		if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncated header", func(t *testing.T, path string) {
		os.Remove(path + "-wal")
		if err := os.Truncate(path, 50); err != nil {
			t.Fatal(err)
		}
	}},
	{"damaged pages", func(t *testing.T, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Keep the header and the first page (schema), scribble over the
		// B-tree pages of the records.
		for i := 4096 + 8; i < len(b); i += 97 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
}

func TestCorruptFileIsMovedAsideAndAFreshStoreRuns(t *testing.T) {
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := testConfig(t)
			s := open(t, c, Options{})
			for range 300 {
				if _, err := s.Append(ctx, "flows", []byte(`{"flow":"198.18.10.5:443","bytes":12345}`)); err != nil {
					t.Fatal(err)
				}
			}
			// Close checkpoints the WAL into the file, so the damage hits data.
			s.Close()
			tc.damage(t, c.StorePath)

			var alarms []Alarm
			s = open(t, c, Options{OnAlarm: func(a Alarm) { alarms = append(alarms, a) }})
			sn := s.Snapshot()
			if sn.CorruptMovedTo == "" || !strings.HasPrefix(sn.CorruptMovedTo, c.StorePath+".corrupt-") {
				t.Fatalf("not moved aside: %+v", sn)
			}
			if _, err := os.Stat(sn.CorruptMovedTo); err != nil {
				t.Fatalf("moved file: %v", err)
			}
			if len(alarms) != 1 || alarms[0].Kind != "store_corrupt" {
				t.Fatalf("alarms %+v", alarms)
			}
			// The fresh store works, and its first event is the alarm.
			if seq, err := s.Append(ctx, "flows", []byte(`{}`)); err != nil || seq != 1 {
				t.Fatalf("append to fresh store: %d, %v", seq, err)
			}
			recs, err := s.Read(ctx, EventStream, 0, 0, 10, 0)
			if err != nil || len(recs) != 1 {
				t.Fatalf("events %v, %v", recs, err)
			}
			var ev map[string]any
			json.Unmarshal(recs[0].Payload, &ev)
			if ev["type"] != "store_corrupt" || ev["moved_to"] != sn.CorruptMovedTo {
				t.Fatalf("event %s", recs[0].Payload)
			}
			s.Close()
			if res, err := IntegrityCheck(c.StorePath); err != nil || res != "ok" {
				t.Fatalf("fresh store integrity: %q, %v", res, err)
			}
			if m, _ := filepath.Glob(c.StorePath + ".corrupt-*"); len(m) == 0 {
				t.Fatal("no corrupt file kept")
			}
		})
	}
}

func TestUnreadableDirectoryIsAnErrorNotAMove(t *testing.T) {
	c := testConfig(t)
	c.StorePath = "/proc/version/telemetry.db"
	if _, err := Open(c, quiet(), Options{}); err == nil || !strings.Contains(err.Error(), "/proc/version") {
		t.Fatalf("err %v", err)
	}
}
