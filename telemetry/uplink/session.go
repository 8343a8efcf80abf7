package uplink

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// session runs one connection: connect, birth, send until the connection
// drops or ctx ends. upFor is how long it stayed up after its birth message
// was acknowledged (0 if it never got that far).
//
// Each connection uses a fresh paho client. paho's own redelivery of
// unacknowledged messages after a reconnect completes the original tokens
// without an error (messageIds.claimID calls flowComplete on them), which
// would look like a PUBACK and make us delete records the broker never
// acknowledged. The store is our outbox instead: whatever was in flight
// when the connection dropped is still there and is sent again, so head
// office sees at most one in-flight window twice, and drops it by seq.
func (u *Uplink) session(ctx context.Context) (upFor time.Duration, err error) {
	lost := make(chan struct{})
	var lostErr error
	var once sync.Once
	u.opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		once.Do(func() { lostErr = err; close(lost) })
	})
	c := mqtt.NewClient(u.opts)
	u.handlers.Range(func(k, v any) bool {
		c.AddRoute(k.(string), v.(mqtt.MessageHandler))
		return true
	})
	ct := c.Connect()
	if err := wait(ctx, lost, ct); err != nil {
		if ctx.Err() != nil {
			// Shutting down mid-connect: close the connection if it
			// still comes up, rather than leave it open behind us.
			go func() {
				if ct.Wait() && ct.Error() == nil {
					c.Disconnect(0)
				}
			}()
			return 0, nil
		}
		return 0, fmt.Errorf("connect to %s: %w%s", u.broker, err, hint(err))
	}
	u.client.Store(&c)
	defer u.client.Store(nil)
	var subErr error
	u.handlers.Range(func(k, _ any) bool {
		subErr = wait(ctx, lost, c.Subscribe(k.(string), 1, nil))
		return subErr == nil
	})
	if subErr == nil {
		subErr = wait(ctx, lost, c.Publish(u.prefix+"/status", 1, true, u.statusPayload("online")))
	}
	if subErr != nil {
		c.Disconnect(0)
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, fmt.Errorf("after connecting to %s: %w", u.broker, subErr)
	}
	born := time.Now()
	u.connectedSince.Store(u.deps.Now().UnixMilli())
	u.connected.Store(true)
	u.publish()
	u.log.Info("uplink: connected", "broker", u.broker)
	u.event("connected", "connected to "+u.broker)

	err = u.send(ctx, c, lost)
	u.connected.Store(false)
	u.replaying.Store(false)
	u.publish()
	select {
	case <-lost:
		if err == nil {
			err = fmt.Errorf("connection to %s lost: %w", u.broker, lostErr)
		}
	default:
		if ctx.Err() != nil {
			// A clean DISCONNECT suppresses the will: say offline ourselves.
			t := c.Publish(u.prefix+"/status", 1, true, u.statusPayload("offline"))
			t.WaitTimeout(2 * time.Second)
		}
		c.Disconnect(250)
	}
	msg := "shutdown"
	if err != nil {
		msg = err.Error()
	}
	u.event("disconnected", msg)
	return time.Since(born), err
}

// hint names the setting to check for the usual connect failures.
func hint(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.As(err, &ua):
		return " (mqtt.tls.ca_file does not hold the CA that signed the broker's certificate)"
	case errors.As(err, &hn):
		return " (set mqtt.tls.server_name to a name in the broker's certificate)"
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return " (check mqtt.username and mqtt.password)"
	case strings.Contains(err.Error(), "certificate required"):
		return " (the broker wants a client certificate: set mqtt.tls.cert_file and key_file)"
	}
	return ""
}

// wait waits for a paho token, the connection's loss or ctx.
func wait(ctx context.Context, lost <-chan struct{}, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-lost:
		return errors.New("connection lost")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send publishes batches while the connection is up. At most window batches
// and the pacer's bytes are unacknowledged; each batch's records are deleted
// from the store when its PUBACK arrives.
func (u *Uplink) send(ctx context.Context, c mqtt.Client, lost <-chan struct{}) error {
	sch := u.newScheduler()
	pace := newPacer(u.batchByte, u.window)
	slots := make(chan struct{}, u.window)
	end := make(chan struct{})
	var acks sync.WaitGroup
	defer acks.Wait()
	defer close(end)
	for {
		select {
		case slots <- struct{}{}:
		case <-lost:
			return nil
		case <-ctx.Done():
			return nil
		}
		if err := u.acked.retry(ctx, u.deps.Now(), time.Second, u.deps.Store.Delete); err != nil {
			u.log.Debug("uplink: acknowledged records still not deleted", "err", err)
		}
		var b *batch
		wake := idleWake
		size := pace.batchBytes(time.Now())
		if size > 0 {
			var err error
			if b, wake, err = sch.next(ctx, size); err != nil {
				<-slots
				return err
			}
		}
		if b == nil {
			<-slots
			timer := time.NewTimer(wake)
			select {
			case <-u.deps.Store.Notify():
			case <-pace.room:
			case <-timer.C:
			case <-lost:
			case <-ctx.Done():
			}
			timer.Stop()
			continue
		}
		ticket := pace.sent(len(b.payload), time.Now())
		tok := u.publishFn(c, b.topic, b.payload)
		u.inflight.Add(1)
		u.sentBatches.Add(1)
		u.sentRecords.Add(int64(b.records))
		acks.Add(1)
		go func() {
			defer acks.Done()
			defer func() { u.inflight.Add(-1); <-slots }()
			select {
			case <-tok.Done():
			case <-end:
				return
			}
			if err := tok.Error(); err != nil {
				// Not acknowledged: the records are still stored. On a live
				// connection they go again now, not on the next one.
				select {
				case <-lost:
				default:
					u.log.Warn("uplink: publish failed; sending the batch again", "stream", b.stream, "first", b.first, "last", b.last, "err", err)
					sch.redo(b)
				}
				pace.failed(ticket)
				return
			}
			pace.acked(ticket, time.Now())
			if err := u.deps.Store.Delete(context.Background(), b.stream, b.first, b.last); err != nil {
				// Acknowledged is delivered: never send these again, delete
				// them later, and keep the session (ending it would resend
				// everything on the next connection).
				u.acked.add(b.stream, b.first, b.last)
				u.log.Warn("uplink: cannot delete acknowledged records; retrying", "stream", b.stream, "first", b.first, "last", b.last, "err", err)
			}
			u.ackedBatches.Add(1)
			u.ackedRecords.Add(int64(b.records))
			u.lastAck.Store(u.deps.Now().UnixMilli())
		}()
	}
}

// publishBatch hands one batch to the connection at QoS 1.
func publishBatch(c mqtt.Client, topic string, payload []byte) mqtt.Token {
	return c.Publish(topic, 1, false, payload)
}
