//go:build linux

package scenario

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// traffic is the store's load: tills, office, guest, DNS.
type traffic struct {
	lab *netlab.Lab
	p   Params

	mu   sync.Mutex
	txns []Txn

	officeBytes, guestBytes atomic.Int64
	dnsOK, dnsFail          atomic.Int64
}

// run drives every source until ctx ends.
func (t *traffic) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, till := range []netlab.Node{netlab.POS1, netlab.POS2} {
		wg.Go(func() { t.till(ctx, till) })
	}
	wg.Go(func() { t.download(ctx, netlab.Office, "/bytes/1000000000", t.p.OfficeDown, &t.officeBytes) })
	wg.Go(func() { t.upload(ctx) })
	wg.Go(func() { t.download(ctx, netlab.Guest, "/bytes/1000000000", t.p.GuestStream, &t.guestBytes) })
	wg.Go(func() { t.dns(ctx) })
	wg.Wait()
}

// till runs one transaction every POSInterval, each on its own
// connection and goroutine, so a stalled one does not hide the next.
func (t *traffic) till(ctx context.Context, node netlab.Node) {
	addr := net.JoinHostPort(netlab.Payment.String(), strconv.Itoa(netlab.POSPort))
	tick := time.NewTicker(t.p.POSInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			start := time.Now()
			if dl, ok := ctx.Deadline(); ok && start.Add(t.p.POSTimeout).After(dl) {
				return // it could not finish before the end: not a transaction
			}
			err := t.txn(ctx, node, addr, n)
			if ctx.Err() != nil {
				return // cut short by the end of the scenario: not a transaction
			}
			x := Txn{Till: string(node), Start: start, Latency: time.Since(start), OK: err == nil}
			if err != nil {
				x.Err = err.Error()
			}
			t.mu.Lock()
			t.txns = append(t.txns, x)
			t.mu.Unlock()
		})
	}
}

func (t *traffic) txn(ctx context.Context, node netlab.Node, addr string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, t.p.POSTimeout)
	defer cancel()
	c, err := t.lab.Dial(ctx, node, "tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	msg := fmt.Sprintf("txn %s-%d amount 12.50\n", node, n)
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != msg {
		return fmt.Errorf("answer %q", line)
	}
	return nil
}

// pace sleeps so that n bytes since start keep to rate bit/s.
func pace(ctx context.Context, start time.Time, n int64, rate float64) {
	want := time.Duration(float64(n*8) / rate * float64(time.Second))
	if d := want - time.Since(start); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

// download reads an endless HTTP body from the cloud at rate, reconnecting
// after failures (office backups, guest video).
func (t *traffic) download(ctx context.Context, node netlab.Node, path string, rate float64, count *atomic.Int64) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return t.lab.Dial(ctx, node, "tcp4", addr)
		},
		ResponseHeaderTimeout: 5 * time.Second,
	}}
	buf := make([]byte, 32<<10)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+netlab.WebServer.String()+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		start, n := time.Now(), int64(0)
		for ctx.Err() == nil {
			// A stalled body (the WAN died under it) is given up after 5 s.
			timer := time.AfterFunc(5*time.Second, func() { resp.Body.Close() })
			k, err := resp.Body.Read(buf)
			timer.Stop()
			n += int64(k)
			count.Add(int64(k))
			if err != nil {
				break
			}
			pace(ctx, start, n, rate)
		}
		resp.Body.Close()
	}
}

// upload writes to the cloud's echo server at OfficeUp and reads the echo
// back (which loads the download direction too).
func (t *traffic) upload(ctx context.Context) {
	addr := net.JoinHostPort(netlab.Server.String(), strconv.Itoa(netlab.EchoPort))
	buf := make([]byte, 16<<10)
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := t.lab.Dial(dctx, netlab.Office, "tcp4", addr)
		cancel()
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		go func() { _, _ = io.Copy(io.Discard, c) }()
		start, n := time.Now(), int64(0)
		for ctx.Err() == nil {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			k, err := c.Write(buf)
			n += int64(k)
			t.officeBytes.Add(int64(k))
			if err != nil {
				break
			}
			pace(ctx, start, n, t.p.OfficeUp)
		}
		c.Close()
	}
}

// dns looks a name up from the office every DNSInterval.
func (t *traffic) dns(ctx context.Context) {
	addr := net.JoinHostPort(netlab.DNSServer.String(), strconv.Itoa(netlab.DNSPort))
	tick := time.NewTicker(t.p.DNSInterval)
	defer tick.Stop()
	for id := uint16(1); ; id++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := t.lookup(ctx, addr, id); err != nil {
			t.dnsFail.Add(1)
		} else {
			t.dnsOK.Add(1)
		}
	}
}

func (t *traffic) lookup(ctx context.Context, addr string, id uint16) error {
	q, err := dnsQuery(id, "www.lab.example.")
	if err != nil {
		return err
	}
	c, err := t.lab.Dial(ctx, netlab.Office, "udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(q); err != nil {
		return err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil || h.ID != id || h.RCode != dnsmessage.RCodeSuccess {
		return fmt.Errorf("dns: bad answer (%v)", err)
	}
	return nil
}

func dnsQuery(id uint16, name string) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA,
		Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (t *traffic) results() ([]Txn, TrafficStats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Txn(nil), t.txns...), TrafficStats{OfficeBytes: t.officeBytes.Load(), GuestBytes: t.guestBytes.Load(),
		DNSOK: t.dnsOK.Load(), DNSFail: t.dnsFail.Load()}
}
