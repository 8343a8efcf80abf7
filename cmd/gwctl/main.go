// Command gwctl is the technician's and ops' command line: it talks to the
// daemon's local API on its unix socket.
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
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/passwd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: gwctl [-socket PATH] <command>

commands:
  status                 the daemon's state (JSON)
  restart <component>    restart one component
  hash-password          read a password on stdin, print its hash for
                         web.technician_password_hash
  fleet ...              head office: every site over MQTT (gwctl fleet -h)
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gwctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", config.DefaultSocket, "the daemon's unix socket")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	switch cmd := fs.Arg(0); {
	case cmd == "status" && fs.NArg() == 1:
		err = call(*socket, http.MethodGet, "/api/v1/status", stdout)
	case cmd == "restart" && fs.NArg() == 2:
		err = call(*socket, http.MethodPost, "/api/v1/components/"+fs.Arg(1)+"/restart", stdout)
	case cmd == "fleet":
		return runFleet(fs.Args()[1:], stdout, stderr)
	case cmd == "hash-password" && fs.NArg() == 1:
		err = hashPassword(stdin, stdout)
	default:
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "gwctl:", err)
		return 1
	}
	return 0
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

// call sends one request to the daemon and copies the JSON answer.
func call(socket, method, path string, stdout io.Writer) error {
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}
	req, err := http.NewRequest(method, "http://gatewayd"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("is gatewayd running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	_, err = stdout.Write(body)
	return err
}
