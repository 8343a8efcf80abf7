package main

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartToReady measures, per start of the real binary on the
// example config: time from exec to READY=1 on a real NOTIFY_SOCKET, and the
// resident memory after 2 s idle.
func BenchmarkStartToReady(b *testing.B) {
	var ready time.Duration
	var rss int
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		sockPath := filepath.Join(dir, "notify.sock")
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		d := startDaemon(b, labConfig(b, dir), filepath.Join(dir, "gw.sock"), "NOTIFY_SOCKET="+sockPath)
		buf := make([]byte, 512)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				b.Fatalf("no READY=1: %v", err)
			}
			if string(buf[:n]) == "READY=1" {
				break
			}
		}
		ready += time.Since(start)
		time.Sleep(2 * time.Second)
		kb, err := readVmRSS(d.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		rss += kb
		d.cmd.Process.Signal(syscall.SIGTERM)
		<-d.exit
		conn.Close()
	}
	b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ms-to-READY")
	b.ReportMetric(float64(rss)/1024/float64(b.N), "MiB-idle-RSS")
}
