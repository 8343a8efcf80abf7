package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

func testConfig(t testing.TB) config.Telemetry {
	c := config.Defaults().Telemetry
	c.StorePath = filepath.Join(t.TempDir(), "telemetry.db")
	return c
}

func quiet() *slog.Logger {
	if os.Getenv("BRANCHGW_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func open(t testing.TB, c config.Telemetry, o Options) *Store {
	t.Helper()
	s, err := Open(c, quiet(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAppendReadDeleteAcrossRestart(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t)
	s := open(t, c, Options{BootID: "boot-a"})
	for i := 1; i <= 5; i++ {
		seq, err := s.Append(ctx, "flows", fmt.Appendf(nil, `{"n":%d}`, i))
		if err != nil || seq != uint64(i) {
			t.Fatalf("Append %d: seq %d, %v", i, seq, err)
		}
	}
	if seq, err := s.Append(ctx, EventStream, []byte(`{"type":"wan_down"}`)); err != nil || seq != 1 {
		t.Fatalf("Append event: seq %d, %v (each stream counts on its own)", seq, err)
	}
	if err := s.Delete(ctx, "flows", 1, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, c, Options{BootID: "boot-b"})
	recs, err := s.Read(ctx, "flows", 0, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Seq != 3 || string(recs[0].Payload) != `{"n":3}` || recs[0].Boot != "boot-a" {
		t.Fatalf("after restart got %+v", recs)
	}
	seq, err := s.Append(ctx, "flows", []byte(`{"n":6}`))
	if err != nil || seq != 6 {
		t.Fatalf("seq after restart: %d, %v; want 6 (seqs never repeat)", seq, err)
	}
	recs, _ = s.Read(ctx, "flows", 5, 0, 100, 0)
	if len(recs) != 1 || recs[0].Boot != "boot-b" {
		t.Fatalf("new record %+v, want boot-b", recs)
	}
	recs, _ = s.Read(ctx, "flows", 0, 4, 100, 0)
	if len(recs) != 2 || recs[1].Seq != 4 {
		t.Fatalf("bounded read %+v", recs)
	}
	sn := s.Snapshot()
	if sn.Records != 5 || len(sn.Streams) != 2 || sn.Streams[0].Name != EventStream {
		t.Fatalf("snapshot %+v", sn)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t, testConfig(t), Options{})
	for _, tc := range []struct {
		name, stream string
		payload      []byte
	}{
		{"not json", "flows", []byte(`{"a":`)},
		{"empty", "flows", nil},
		{"bad stream", "Flows/x", []byte(`{}`)},
		{"stream too long", "s23456789012345678901234567890123", []byte(`{}`)},
		{"too big", "flows", []byte(`"` + string(make([]byte, MaxPayload)) + `"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Append(ctx, tc.stream, tc.payload); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("err %v, want ErrBadRecord", err)
			}
		})
	}
	if err := s.Delete(ctx, "flows", 5, 1); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("reversed delete range: %v", err)
	}
	if n := s.Snapshot().Records; n != 0 {
		t.Fatalf("%d records after bad input", n)
	}
}

func TestConcurrentAppendsShareCommits(t *testing.T) {
	ctx := context.Background()
	s := open(t, testConfig(t), Options{})
	const producers, each = 16, 200
	var wg sync.WaitGroup
	seqs := make([][]uint64, producers)
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				seq, err := s.Append(ctx, "flows", fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[p] = append(seqs[p], seq)
			}
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, l := range seqs {
		for _, q := range l {
			if seen[q] {
				t.Fatalf("seq %d handed out twice", q)
			}
			seen[q] = true
		}
	}
	sn := s.Snapshot()
	if sn.Appended != producers*each || len(seen) != producers*each {
		t.Fatalf("appended %d, seqs %d", sn.Appended, len(seen))
	}
	if sn.Commits >= producers*each {
		t.Fatalf("%d commits for %d records: group commit did not batch", sn.Commits, producers*each)
	}
	t.Logf("%d records in %d commits", sn.Appended, sn.Commits)
}

func TestMigrationFromSchema1KeepsRecords(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t)
	s := open(t, c, Options{})
	if _, err := s.Append(ctx, "flows", []byte(`{"old":true}`)); err != nil {
		t.Fatal(err)
	}
	// Turn the file back into a schema-1 database, as an old firmware left it.
	if _, err := s.w.Exec(`DROP TABLE evictions; DROP TABLE epoch; PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, c, Options{})
	var v int
	if err := s.w.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema %d, %v; want %d", v, err, SchemaVersion)
	}
	recs, err := s.Read(ctx, "flows", 0, 0, 10, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records after migration: %v, %v", recs, err)
	}
	if len(s.Epoch()) != 16 {
		t.Fatalf("epoch %q after migration, want 16 hex digits", s.Epoch())
	}
}

// A firmware rollback finds a database migrated by the newer version: it is
// moved aside, never guessed at, and a fresh store runs, with an alarm.
func TestNewerSchemaIsMovedAside(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t)
	s := open(t, c, Options{})
	if _, err := s.Append(ctx, "flows", []byte(`{"new":true}`)); err != nil {
		t.Fatal(err)
	}
	old := s.Epoch()
	s.w.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion+1))
	s.Close()
	var alarms []Alarm // OnAlarm runs inside Open here
	s = open(t, c, Options{OnAlarm: func(a Alarm) { alarms = append(alarms, a) }})
	sn := s.Snapshot()
	if sn.NewerMovedTo == "" || len(alarms) != 1 || alarms[0].Kind != "store_newer_schema" || s.Epoch() == old {
		t.Fatalf("snapshot %+v, alarms %+v: want the file moved aside, an alarm, a fresh store with a new epoch", sn, alarms)
	}
	if v, err := schemaVersion(sn.NewerMovedTo); err != nil || v != SchemaVersion+1 {
		t.Fatalf("the file moved aside has schema %d (%v), want it untouched at %d", v, err, SchemaVersion+1)
	}
}

// schemaVersion reads a database file's PRAGMA user_version.
func schemaVersion(path string) (int, error) {
	db, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var v int
	err = db.QueryRow(`PRAGMA user_version`).Scan(&v)
	return v, err
}

// TestFaultBigRecordsReadOneBatch (issue 26, 8): a batch of big records
// reads only what one message can carry. The old Read took its 500 records
// whatever their size: 30 MB of 60 KiB records to send 2.
func TestFaultBigRecordsReadOneBatch(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t)
	c.Budget = 64 << 20
	s := open(t, c, Options{})
	big := fmt.Appendf(nil, `{"pad":%q}`, strings.Repeat("x", 60<<10))
	for range 20 {
		if _, err := s.Append(ctx, "flows", big); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		maxBytes, want int
	}{
		{128 << 10, 3}, // two fill 120 KiB, the third passes 128 KiB
		{1, 1},         // the first always comes
		{0, 20},        // no byte bound
	} {
		recs, err := s.Read(ctx, "flows", 0, 0, 500, tc.maxBytes)
		if err != nil || len(recs) != tc.want {
			t.Errorf("Read of at most %d bytes: %d records, %v; want %d", tc.maxBytes, len(recs), err, tc.want)
		}
	}
}
