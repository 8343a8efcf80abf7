// Command gwctl is the technician's and ops' command line: it talks to the
// daemon's local API on its unix socket. Tables for people, --json for
// scripts.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/passwd"
	"github.com/branchgw/branchgw/gateway/web"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: gwctl [-socket PATH] [--json] <command> [args]

commands:
  status                       verdict, alarms (with what to do), WANs, uplink, components
  wan                          WAN states and failover events
  wan test <wan>               probe a WAN now
  failover <wan> [minutes]     put all traffic on <wan> (default 30 min; max 1440)
  failover auto                back to automatic WAN choice
  pos                          card terminals' health
  devices                      LAN devices, new and unknown ones first
  flows                        top flows and apps now
  events [-n N]                recent events (alarms, actions)
  logs [-n N]                  recent daemon log lines
  diag [-o FILE] [-capture S]  download the diagnostics bundle (S s of LAN capture, default 30)
  restart <component>          restart one component
  reboot --yes                 reboot the gateway
  runbook                      every alarm and what to do about it
  hash-password                read a password on stdin, print its hash for
                               web.technician_password_hash
  fleet ...                    head office: every site over the broker (gwctl fleet -h)
  inspect -pcap FILE           packet inspection over a capture (gwctl inspect -h)

--json prints the API's JSON instead of a table.
`

// cli is one invocation: where the daemon is and how to print.
type cli struct {
	socket string
	json   bool
	out    io.Writer
	client *http.Client
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fleet" { // head office's view, over the broker
		return runFleet(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "inspect" { // offline, over a capture file
		return runInspect(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("gwctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", config.DefaultSocket, "the daemon's unix socket")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	// --json may also come after the command, where people type it.
	var rest []string
	for _, a := range args {
		if a == "--json" || a == "-json" {
			*asJSON = true
			continue
		}
		rest = append(rest, a)
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	c := &cli{socket: *socket, json: *asJSON, out: stdout}
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", c.socket)
		}}}
	err := c.dispatch(fs.Args(), stdin, stderr)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		if ue != "" {
			fmt.Fprintln(stderr, "gwctl:", string(ue))
		}
		fs.Usage()
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "gwctl:", err)
		return 1
	}
	return 0
}

// usageError is a wrong command line: exit 2 with the usage.
type usageError string

func (u usageError) Error() string { return string(u) }

func (c *cli) dispatch(a []string, stdin io.Reader, stderr io.Writer) error {
	if len(a) == 0 {
		return usageError("")
	}
	n := len(a)
	switch cmd := a[0]; {
	case cmd == "status" && n == 1:
		return c.status()
	case cmd == "wan" && n == 1:
		return c.wan()
	case cmd == "wan" && n == 3 && a[1] == "test":
		return c.action("/api/v1/wan/"+url.PathEscape(a[2])+"/test", nil, func(m map[string]any) string {
			return fmt.Sprintf("%v: %v", m["wan"], m["result"])
		})
	case cmd == "failover" && (n == 2 || n == 3):
		return c.failover(a[1:])
	case cmd == "pos" && n == 1:
		return c.pos()
	case cmd == "devices" && n == 1:
		return c.devices()
	case cmd == "flows" && n == 1:
		return c.flows()
	case cmd == "events" || cmd == "logs":
		lim, err := countFlag(cmd, a[1:], stderr)
		if err != nil {
			return err
		}
		if cmd == "events" {
			return c.events(lim)
		}
		return c.logs(lim)
	case cmd == "diag":
		return c.diag(a[1:], stderr)
	case cmd == "restart" && n == 2:
		return c.action("/api/v1/components/"+url.PathEscape(a[1])+"/restart", nil, func(m map[string]any) string {
			return fmt.Sprintf("restarted %v", m["restarted"])
		})
	case cmd == "reboot" && n == 2 && a[1] == "--yes":
		return c.action("/api/v1/reboot", map[string]bool{"confirm": true}, func(map[string]any) string { return "rebooting" })
	case cmd == "reboot":
		return usageError("reboot stops the store's internet for a minute or two: run `gwctl reboot --yes`")
	case cmd == "runbook" && n == 1:
		return c.runbook()
	case cmd == "hash-password" && n == 1:
		return hashPassword(stdin, c.out)
	}
	return usageError(fmt.Sprintf("unknown command or wrong arguments: %s", strings.Join(a, " ")))
}

func countFlag(cmd string, args []string, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("gwctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 50, "how many")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *n < 1 || *n > 1000 {
		return 0, usageError(cmd + " takes only -n N, with N from 1 to 1000")
	}
	return *n, nil
}

func hashPassword(stdin io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		return errors.New("the password needs at least 8 characters")
	}
	h, err := passwd.New(pw, passwd.DefaultIterations)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// do sends one request to the daemon and returns the body of a 200.
func (c *cli) do(method, path string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://gatewayd"+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach gatewayd at %s: is gatewayd running? (%w)", c.socket, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, nil, errors.New(e.Error)
		}
		return nil, nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return resp, b, nil
}

// get fetches path into v; with --json it prints the body as is instead.
func (c *cli) get(path string, v any) (printed bool, err error) {
	_, b, err := c.do(http.MethodGet, path, nil)
	if err != nil {
		return false, err
	}
	if c.json {
		_, err = c.out.Write(b)
		return true, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("the daemon's answer is not what this gwctl expects (version mismatch?): %w", err)
	}
	return false, nil
}

// action POSTs and prints a one-line summary (or the JSON).
func (c *cli) action(path string, body any, summary func(map[string]any) string) error {
	if body == nil {
		body = struct{}{}
	}
	_, b, err := c.do(http.MethodPost, path, body)
	if err != nil {
		return err
	}
	if c.json {
		_, err = c.out.Write(b)
		return err
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	fmt.Fprintln(c.out, summary(m))
	return nil
}

func (c *cli) failover(a []string) error {
	if a[0] == "auto" {
		if len(a) != 1 {
			return usageError("failover auto takes no more arguments")
		}
		var st web.Status
		if _, b, err := c.do(http.MethodGet, "/api/v1/status", nil); err != nil {
			return err
		} else if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		if len(st.WANs) == 0 {
			return errors.New("the daemon reports no WANs")
		}
		name := st.ActiveWAN
		if name == "" {
			name = st.WANs[0].Name
		}
		return c.action("/api/v1/wan/"+url.PathEscape(name)+"/force", map[string]int{"minutes": 0},
			func(map[string]any) string { return "WAN choice is automatic again" })
	}
	minutes := 30
	if len(a) == 2 {
		m, err := strconv.Atoi(a[1])
		if err != nil || m < 0 {
			return usageError(fmt.Sprintf("minutes %q: want a whole number", a[1]))
		}
		minutes = m
	}
	return c.action("/api/v1/wan/"+url.PathEscape(a[0])+"/force", map[string]int{"minutes": minutes},
		func(m map[string]any) string {
			if minutes == 0 {
				return "WAN choice is automatic again"
			}
			return fmt.Sprintf("all traffic on %v until %v", m["wan"], m["until"])
		})
}

func (c *cli) diag(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gwctl diag", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "file to write (default: the name the daemon suggests, here)")
	capture := fs.Int("capture", 30, "seconds of LAN capture (0 to 60)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usageError("diag takes -o FILE and -capture SECONDS")
	}
	resp, b, err := c.do(http.MethodPost, "/api/v1/diagnostics", map[string]int{"capture_seconds": *capture})
	if err != nil {
		return err
	}
	name := *out
	if name == "" {
		_, p, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		name = filepath.Base(p["filename"])
		if name == "." || name == "/" || name == "" {
			name = "branchgw-diag.tar.gz"
		}
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	if c.json {
		return json.NewEncoder(c.out).Encode(map[string]any{"file": name, "bytes": len(b)})
	}
	fmt.Fprintf(c.out, "wrote %s (%d bytes)\n", name, len(b))
	return nil
}
