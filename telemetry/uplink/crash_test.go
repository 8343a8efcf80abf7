package uplink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

// The kill -9 test runs the daemon's telemetry half in a child process (this
// test binary, re-executed) and kills it at random points.
const childEnv = "BRANCHGW_CRASH_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(crashChild(mode))
	}
	os.Exit(m.Run())
}

// crashChild appends records and prints "A <stream> <seq>" for each one
// whose Append returned (so is acknowledged as durable). In "replay" mode it
// also runs the uplink, which deletes records once the broker has them.
func crashChild(mode string) int {
	tc := config.Defaults().Telemetry
	tc.StorePath = os.Getenv("BRANCHGW_DB")
	tc.BatchRecords = 100
	tc.ReplayPerSecond = 20
	log := testLogger(nil)
	s, err := store.Open(tc, log, store.Options{BootID: "boot-" + os.Getenv("BRANCHGW_ROUND")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	acks := make(chan string, 4096)
	// The parent's random kill clock starts at READY. One writer goroutine
	// prints the acks, flushing whenever it has caught up.
	acks <- "READY\n"
	go func() {
		w := bufio.NewWriter(os.Stdout)
		for l := range acks {
			w.WriteString(l)
			if len(acks) == 0 {
				w.Flush()
			}
		}
	}()
	ctx := context.Background()
	// Paced so that 12 ingest rounds leave a store that reopens quickly.
	producers, pause := 8, 200*time.Microsecond
	if mode == "replay" {
		m := config.Defaults().MQTT
		m.Broker = os.Getenv("BRANCHGW_BROKER")
		m.ClientID = "branchgw-crash"
		u, err := New(m, tc, log, Deps{Store: s, Identity: Identity{Site: testSite, BootID: "boot-x"},
			MinReconnectDelay: 50 * time.Millisecond, Linger: 50 * time.Millisecond})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		go u.Run(ctx)
		producers, pause = 1, time.Millisecond // live data alongside the replay
	}
	for p := range producers {
		go func() {
			for i := 0; ; i++ {
				stream := "flows"
				if i%50 == 0 {
					stream = store.EventStream
				}
				seq, err := s.Append(ctx, stream, fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i))
				if err == nil {
					acks <- fmt.Sprintf("A %s %d\n", stream, seq)
				}
				time.Sleep(pause)
			}
		}()
	}
	select {} // until killed
}

type recKey struct {
	stream string
	seq    uint64
}

// Issue 5: kill -9 at ≥ 20 random points during ingest and during replay:
// 0 acknowledged records lost (checked record by record), integrity_check
// ok each time.
func TestKill9LosesNoAcknowledgedRecord(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	db := t.TempDir() + "/telemetry.db"
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("random seed %d", seed)

	acked := map[recKey]bool{}
	var mu sync.Mutex
	const rounds = 24
	replayKills, offline := 0, 0
	for round := range rounds {
		mode := "ingest"
		if round%2 == 1 {
			mode = "replay"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+mode, "BRANCHGW_DB="+db,
			"BRANCHGW_BROKER="+b.URL(), "BRANCHGW_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		read, ready := make(chan int), make(chan struct{})
		go func() {
			n := 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "READY" {
					close(ready)
					continue
				}
				f := strings.Fields(sc.Text())
				if len(f) != 3 || f[0] != "A" {
					continue
				}
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				mu.Lock()
				acked[recKey{f[1], seq}] = true
				mu.Unlock()
				n++
			}
			io.Copy(io.Discard, out)
			read <- n
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the child did not start: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(50+rng.IntN(500)) * time.Millisecond)
		if mode == "replay" {
			// Kill it while it is sending: wait until batches flow.
			before := len(sub.Messages())
			sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool { return len(ms) > before+2 })
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			replayKills++
		}
		cmd.Process.Kill()
		cmd.Wait()
		n := <-read
		if n == 0 && mode == "ingest" {
			t.Fatalf("round %d: the child acknowledged nothing: %s", round, stderr.String())
		}
		if res, err := store.IntegrityCheck(db); err != nil || res != "ok" {
			t.Fatalf("round %d (%s): integrity_check %q, %v", round, mode, res, err)
		}
		checkNoneLost(t, round, mode, db, acked, sub)
		if mode == "replay" && sub.WaitFor(5*time.Second, func(ms []mqtttest.Message) bool {
			st := count(t, ms).status
			return len(st) > 0 && st[len(st)-1] == "offline"
		}) {
			offline++ // the last will, published by the broker for the dead child
		}
	}
	if replayKills < 10 || offline == 0 {
		t.Fatalf("%d kills during replay, %d last wills seen", replayKills, offline)
	}
	t.Logf("%d kills (%d during replay), %d acknowledged records all accounted for, %d offline wills",
		rounds, replayKills, len(acked), offline)
}

// checkNoneLost: every acknowledged record is still in the store, or the
// broker acknowledged it and the subscriber has it.
func checkNoneLost(t *testing.T, round int, mode, db string, acked map[recKey]bool, sub *mqtttest.Subscriber) {
	t.Helper()
	tc := config.Defaults().Telemetry
	tc.StorePath = db
	s, err := store.Open(tc, testLogger(t), store.Options{BootID: "checker"})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer s.Close()
	if sn := s.Snapshot(); sn.CorruptMovedTo != "" {
		t.Fatalf("round %d: the store was found corrupt", round)
	}
	stored := map[recKey]bool{}
	for _, st := range s.Streams() {
		var after uint64
		for {
			recs, err := s.Read(context.Background(), st.Name, after, 0, 10000, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				stored[recKey{r.Stream, r.Seq}] = true
			}
			after = recs[len(recs)-1].Seq
		}
	}
	var missing []recKey
	ok := sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool {
		ta := count(t, ms)
		missing = missing[:0]
		for k := range acked {
			if !stored[k] && ta.seen[k.stream][k.seq] == 0 {
				missing = append(missing, k)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		t.Fatalf("round %d (%s): %d acknowledged records neither stored nor delivered, e.g. %v",
			round, mode, len(missing), missing[:min(len(missing), 10)])
	}
}
