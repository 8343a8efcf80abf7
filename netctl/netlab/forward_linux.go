//go:build linux

package netlab

import (
	"context"
	"io"
	"net"
	"time"
)

// Forward relays every connection accepted on ln (a loopback listener of
// this process) to addr, dialled from inside node, until ln is closed: a
// browser or an MQTT client on the host reaches a service in the lab.
func (l *Lab) Forward(ctx context.Context, ln net.Listener, node Node, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			up, err := l.Dial(dctx, node, "tcp4", addr)
			cancel()
			if err != nil {
				return
			}
			defer up.Close()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			_, _ = io.Copy(c, up)
		}()
	}
}
