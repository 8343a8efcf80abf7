package store

import (
	"context"
	"os"
	"testing"
	"time"
)

// flowRecord is a typical record of the busiest stream.
var flowRecord = []byte(`{"src":"198.18.10.23:51234","dst":"203.0.113.10:443","proto":"tcp","app":"pay.example","bytes_up":1834,"bytes_down":5120,"rtt_ms":23}`)

// BenchmarkAppend measures durable ingest (every Append fsync'd before it
// returns) with 8 producers per CPU, with group commit and, side by side,
// with one commit per record, and with 8 and 64 producers per CPU: the
// producers wait for their fsync, so throughput grows with how many share
// each commit. It reports records/s, records per commit and
// bytes on disk per record (database file after a checkpoint).
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []struct {
		name     string
		maxBatch int
		perCPU   int
	}{
		{"group-commit/producers=8xCPU", 0, 8},
		{"commit-per-record/producers=8xCPU", 1, 8},
		{"group-commit/producers=64xCPU", 0, 64},
		{"commit-per-record/producers=64xCPU", 1, 64},
	} {
		b.Run(mode.name, func(b *testing.B) {
			c := testConfig(b)
			c.Budget = 1 << 40 // measure ingest, not eviction
			s := open(b, c, Options{MaxBatch: mode.maxBatch})
			ctx := context.Background()
			b.SetParallelism(mode.perCPU)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Append(ctx, "flows", flowRecord); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			sn := s.Snapshot()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(sn.Appended)/float64(max(sn.Commits, 1)), "records/commit")
			s.Close() // checkpoints the WAL into the file
			var size int64
			for _, suf := range []string{"", "-wal"} {
				if fi, err := os.Stat(c.StorePath + suf); err == nil {
					size += fi.Size()
				}
			}
			if b.N >= 10000 { // small runs are dominated by the schema pages
				b.ReportMetric(float64(size)/float64(b.N), "disk-bytes/record")
			}
		})
	}
}
