package uplink

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

// dedupeKey is what head office drops duplicates by (README, MQTT contract).
type dedupeKey struct {
	gateway, epoch, stream string
	seq                    uint64
}

// TestFaultDedupeKeyNeverRepeats (issue 26, 3): one gateway's store goes
// through a corrupt file set aside inside one run of the daemon, a restart
// of the telemetry component, a reboot and a firmware rollback that finds a
// database from the newer version. Head office's key, (gateway, epoch,
// stream, seq), never names two different records. The old key had no
// epoch: seqs started over at 1 in the fresh database with the same boot
// id, and head office dropped the new records, the store_corrupt alarm first
// among them, as duplicates.
func TestFaultDedupeKeyNeverRepeats(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	m, tl := testConfigs(t, b.URL())
	phase := func(name, boot string, before func()) {
		t.Helper()
		before()
		r := startRig(t, m, tl, Deps{Identity: Identity{Site: testSite, GatewayID: testSite, BootID: boot, Version: "test"}})
		defer r.stop()
		for i := range 3 {
			for _, stream := range []string{"flows", store.EventStream} {
				if _, err := r.store.Append(context.Background(), stream, fmt.Appendf(nil, `{"type":"test","phase":%q,"i":%d}`, name, i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		tag := fmt.Sprintf(`"phase":%q`, name)
		if !sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool {
			return strings.Count(string(joinPayloads(ms)), tag) >= 6
		}) {
			t.Fatalf("%s: the records did not reach head office", name)
		}
	}
	phase("first run", "boot-1", func() {})
	phase("corrupt file set aside, same run", "boot-1", func() {
		os.Remove(tl.StorePath + "-wal")
		if err := os.WriteFile(tl.StorePath, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	phase("component restart", "boot-1", func() {})
	phase("reboot", "boot-2", func() {})
	phase("rollback", "boot-3", func() {
		db, err := sql.Open("sqlite3", tl.StorePath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, store.SchemaVersion+1)); err != nil {
			t.Fatal(err)
		}
	})

	keys := map[dedupeKey]string{}
	records := 0
	for _, msg := range sub.Messages() {
		if strings.HasSuffix(msg.Topic, "/status") {
			continue
		}
		var b Batch
		if err := json.Unmarshal(msg.Payload, &b); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			k := dedupeKey{b.Gateway, b.Epoch, b.Stream, r.Seq}
			if prev, ok := keys[k]; ok && prev != string(r.Data) {
				t.Errorf("key %+v names two records: %s and %s", k, prev, r.Data)
			}
			keys[k] = string(r.Data)
			records++
		}
	}
	t.Logf("%d records received under %d keys", records, len(keys))
}

func joinPayloads(ms []mqtttest.Message) []byte {
	var out []byte
	for _, m := range ms {
		out = append(out, m.Payload...)
	}
	return out
}
