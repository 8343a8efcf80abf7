//go:build linux

package scenario

import (
	"context"
	"net"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// forwarder relays loopback connections to addr dialled from inside a lab
// node: head office's MQTT clients run in this process, outside the lab,
// and reach the broker in cloud through it.
type forwarder struct {
	ln net.Listener
}

func forward(ctx context.Context, l *netlab.Lab, node netlab.Node, addr string) (*forwarder, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go l.Forward(ctx, ln, node, addr)
	return &forwarder{ln: ln}, nil
}

func (f *forwarder) url() string { return "tcp://" + f.ln.Addr().String() }

func (f *forwarder) close() { f.ln.Close() }
