package scenario

import (
	"context"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// listen subscribes r to everything under its root on broker, with a
// persistent session (fixed client id, CleanSession false) so that a
// broker restart loses nothing queued for head office.
func (r *Recorder) listen(ctx context.Context, broker, clientID string) (func(), error) {
	handle := func(_ mqtt.Client, m mqtt.Message) { r.Handle(m.Topic(), m.Payload(), time.Now()) }
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID).
		SetCleanSession(false).SetAutoReconnect(true).SetOrderMatters(false).
		SetMaxReconnectInterval(time.Second).SetConnectRetry(true).
		SetConnectRetryInterval(500 * time.Millisecond).
		// Messages queued in the session arrive before the subscription
		// is renewed: they take the default handler.
		SetDefaultPublishHandler(handle).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe(r.root+"/#", 1, handle)
		})
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("head office: connect %s: %w", broker, err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return func() { c.Disconnect(250) }, nil
}
