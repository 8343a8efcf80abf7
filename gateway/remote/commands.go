package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Handler runs one command with its arguments and returns a JSON-able result.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Response answers a command on …/cmd/<name>/resp.
type Response struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	Result any       `json:"result,omitempty"`
	At     time.Time `json:"at"`
}

// Audit is one line of the command audit trail, sent as an event.
type Audit struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	// Outcome is done, failed or refused.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// Commands verifies and runs head office's commands.
type Commands struct {
	Verifier *Verifier
	Handlers map[string]Handler
	// Audit receives every command's outcome, refused ones included.
	Audit func(Audit)
	// Timeout bounds one command's run.
	Timeout time.Duration
}

// Handle runs the command in payload, received on …/cmd/<name>, and returns
// the response to publish. It never panics on bad input.
func (c *Commands) Handle(ctx context.Context, name string, payload []byte) Response {
	body, signer, err := c.Verifier.Open(name, payload)
	resp := Response{ID: body.ID, Name: name, At: c.Verifier.Now().UTC()}
	if err != nil {
		return c.finish(resp, "refused", fmt.Errorf("refused: %w", err))
	}
	h, ok := c.Handlers[name]
	if !ok {
		return c.finish(resp, "refused", fmt.Errorf("refused: unknown command %q", name))
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, signerKey{}, signer), timeout)
	defer cancel()
	result, err := runHandler(rctx, h, body.Args)
	if err != nil {
		return c.finish(resp, "failed", err)
	}
	resp.OK, resp.Result = true, result
	return c.finish(resp, "done", nil)
}

type signerKey struct{}

// Signer is the head-office key that signed the command a handler runs.
func Signer(ctx context.Context) ed25519.PublicKey {
	k, _ := ctx.Value(signerKey{}).(ed25519.PublicKey)
	return k
}

func (c *Commands) finish(resp Response, outcome string, err error) Response {
	a := Audit{ID: resp.ID, Command: resp.Name, Outcome: outcome}
	if err != nil {
		resp.Error, a.Reason = err.Error(), err.Error()
	}
	if c.Audit != nil {
		c.Audit(a)
	}
	return resp
}

// runHandler turns a handler's panic into an error response.
func runHandler(ctx context.Context, h Handler, args json.RawMessage) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("command crashed: %v (%s)", r, firstFrame(debug.Stack()))
		}
	}()
	return h(ctx, args)
}

func firstFrame(stack []byte) string {
	if len(stack) > 200 {
		stack = stack[:200]
	}
	return string(stack)
}

// DecodeArgs reads a command's arguments strictly: an unknown field or a
// wrong type is an error the response carries.
func DecodeArgs(args json.RawMessage, v any) error {
	if len(args) == 0 {
		args = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad arguments: %w", err)
	}
	if dec.More() {
		return errors.New("bad arguments: trailing data")
	}
	return nil
}
