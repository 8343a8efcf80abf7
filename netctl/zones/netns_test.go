//go:build linux

package zones

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/vishvananda/netns"
)

// A minimal store lab for this package's tests: throwaway network
// namespaces joined by veth pairs, built with ip(8). netctl/netlab is the
// project's full lab; this one only needs to be small and self-contained.

func randomPrefix(t testing.TB) string {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "bz" + hex.EncodeToString(b)
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// addNS creates a named namespace, removed when the test ends.
func addNS(t testing.TB, name string) netns.NsHandle {
	t.Helper()
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	return h
}

// inNS runs f on an OS thread switched into ns. Sockets f creates stay in
// ns after it returns. A thread that cannot switch back is never reused.
func inNS(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, err) // thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// serveTCP accepts on addr in ns and answers each connection with the
// remote address it saw, so a client learns whether it was masqueraded.
func serveTCP(t testing.TB, ns netns.NsHandle, addr string) {
	t.Helper()
	listenTCP(t, ns, addr, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "%s\n", c.RemoteAddr())
	})
}

// listenTCP accepts on addr in ns until the test ends and runs handle for
// each connection, closing it afterwards.
func listenTCP(t testing.TB, ns netns.NsHandle, addr string, handle func(net.Conn)) {
	t.Helper()
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatalf("listen tcp %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// serveUDP answers each datagram on addr in ns with the sender's address.
func serveUDP(t testing.TB, ns netns.NsHandle, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := inNS(ns, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(from.String()+"\n"), from)
		}
	}()
}

// probeTimeout bounds one probe; a refused flow is one that gets no answer
// within it (the firewall drops silently, so there is no RST to wait for).
const probeTimeout = 400 * time.Millisecond

// probe opens a flow from ns to addr ("tcp" or "udp") and returns the
// source address the server saw, or ok=false if nothing came back.
func probe(ns netns.NsHandle, proto, addr string, timeout time.Duration) (seen string, ok bool) {
	var c net.Conn
	err := inNS(ns, func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err = (&net.Dialer{}).DialContext(ctx, proto+"4", addr)
		return err
	})
	if err != nil {
		return "", false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if proto == "udp" {
		if _, err := c.Write([]byte("probe")); err != nil {
			return "", false
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(line), true
}

// parallel runs fs with at most n at a time and waits for all.
func parallel(n int, fs []func()) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f()
		}()
	}
	wg.Wait()
}

func needLab(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
}
