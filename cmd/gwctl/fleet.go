package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/fleet"
)

const fleetUsage = `usage: gwctl fleet [flags] [list | watch | send <site> <command> [args-json] | push-config <file> | keygen]

  list                  every site: online, active WAN, POS health, backlog, config, firmware
  watch                 the same, redrawn on every change
  send                  sign a command for one site and wait for its response
  push-config <file>    push a config to -sites (default: every known site), per-site result
  keygen                make a head-office signing key: private to -key, public on stdout

flags:
`

// fleetFlags are the broker connection and signing settings.
type fleetFlags struct {
	broker, prefix, user, passwordFile, ca, key, confirmKey, sites, out string
	json                                                                bool
	timeout, pushTTL                                                    time.Duration
}

func runFleet(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gwctl fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f fleetFlags
	fs.StringVar(&f.broker, "broker", "tcp://127.0.0.1:1883", "head-office broker URL (tcp://, ssl://, mqtts://)")
	fs.StringVar(&f.prefix, "prefix", "branchgw", "topic prefix")
	fs.StringVar(&f.user, "user", "", "broker username")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the broker password")
	fs.StringVar(&f.ca, "ca", "", "CA file for the broker's TLS certificate")
	fs.StringVar(&f.key, "key", "", "head-office ed25519 private key file (base64), for send and push-config")
	fs.StringVar(&f.confirmKey, "confirm-key", "", "push-config that changes remote.command_keys: a new key's private file, to confirm the change with")
	fs.DurationVar(&f.pushTTL, "push-ttl", fleet.DefaultPushTTL, "push-config: how long a site may still apply the push (at most 720h)")
	fs.StringVar(&f.sites, "sites", "", "comma-separated sites for push-config (default: every known site)")
	fs.StringVar(&f.out, "o", "", "send diag: write the bundle here (default: <site>-<UTC time>.tar.gz in the current directory)")
	fs.BoolVar(&f.json, "json", false, "print JSON")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "how long to wait for answers")
	fs.Usage = func() { fmt.Fprint(stderr, fleetUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cmd, rest := "list", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	var err error
	switch {
	case cmd == "keygen" && len(rest) == 0:
		err = keygen(f.key, stdout)
	case (cmd == "list" || cmd == "watch") && len(rest) == 0:
		err = withFleet(f, func(ctx context.Context, fl *fleet.Fleet) error { return list(ctx, fl, f, cmd == "watch", stdout) })
	case cmd == "send" && (len(rest) == 2 || len(rest) == 3):
		err = withFleet(f, func(ctx context.Context, fl *fleet.Fleet) error { return send(ctx, fl, f, rest, stdout) })
	case cmd == "push-config" && len(rest) == 1:
		err = withFleet(f, func(ctx context.Context, fl *fleet.Fleet) error { return pushConfig(ctx, fl, f, rest[0], stdout) })
	default:
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "gwctl fleet:", err)
		return 1
	}
	return 0
}

func withFleet(f fleetFlags, fn func(context.Context, *fleet.Fleet) error) error {
	o := fleet.Options{Broker: f.broker, Prefix: f.prefix, Username: f.user}
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return err
		}
		o.Password = strings.TrimSpace(string(b))
	}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate in it", f.ca)
		}
		o.TLS = &tls.Config{RootCAs: roots}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	fl, err := fleet.Connect(ctx, o)
	if err != nil {
		return err
	}
	defer fl.Close()
	settle(fl)
	return fn(ctx, fl)
}

// settle waits for the retained messages to arrive: until nothing changed
// for half a second (at most 5 s).
func settle(fl *fleet.Fleet) {
	limit := time.After(5 * time.Second)
	for {
		select {
		case <-fl.Changed():
		case <-time.After(500 * time.Millisecond):
			return
		case <-limit:
			return
		}
	}
}

func list(ctx context.Context, fl *fleet.Fleet, f fleetFlags, watch bool, stdout io.Writer) error {
	for {
		sites := fl.Sites()
		if f.json {
			b, _ := json.MarshalIndent(sites, "", "  ")
			fmt.Fprintln(stdout, string(b))
		} else {
			if watch {
				fmt.Fprint(stdout, "\033[H\033[2J")
			}
			printTable(stdout, sites)
		}
		if !watch {
			return nil
		}
		select {
		case <-fl.Changed():
		case <-time.After(10 * time.Second): // keep "last seen" honest
		}
	}
}

func printTable(w io.Writer, sites []fleet.Site) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tSTATE\tWAN\tPOS\tBACKLOG\tCONFIG\tFIRMWARE\tLAST SEEN")
	online := 0
	for _, s := range sites {
		state := "offline"
		if s.Online {
			state, online = "online", online+1
		}
		seen := "-"
		if !s.LastSeen.IsZero() {
			seen = time.Since(s.LastSeen).Round(time.Second).String() + " ago"
		}
		cfg := fmt.Sprintf("v%d", s.ConfigVersion)
		if s.ConfigState != "" {
			cfg += " (" + s.ConfigState + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Site, state, dash(s.ActiveWAN), dash(s.POSHealth),
			s.Backlog, cfg, dash(s.Version), seen)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d sites, %d online\n", len(sites), online)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, errors.New("-key is required to sign (gwctl fleet keygen -key FILE makes one)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	switch {
	case err == nil && len(raw) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case err == nil && len(raw) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	}
	return nil, fmt.Errorf("%s: not a base64 ed25519 private key", path)
}

func keygen(path string, stdout io.Writer) error {
	if path == "" {
		return errors.New("-key FILE names where the private key goes")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, base64.StdEncoding.EncodeToString(priv.Seed())); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "public key for remote.command_keys: %s\n", base64.StdEncoding.EncodeToString(pub))
	return nil
}

func send(ctx context.Context, fl *fleet.Fleet, f fleetFlags, rest []string, stdout io.Writer) error {
	key, err := loadKey(f.key)
	if err != nil {
		return err
	}
	var args json.RawMessage
	if len(rest) == 3 {
		if !json.Valid([]byte(rest[2])) {
			return fmt.Errorf("arguments %q: not JSON", rest[2])
		}
		args = json.RawMessage(rest[2])
	}
	if rest[1] == "diag" {
		return fetchDiag(ctx, fl, key, f, rest[0], args, stdout)
	}
	r, err := fl.Send(ctx, key, rest[0], rest[1], args, f.timeout)
	if err != nil {
		return fmt.Errorf("%s %s: %w", rest[0], rest[1], err)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	fmt.Fprintln(stdout, string(b))
	if !r.OK {
		return fmt.Errorf("%s %s: %s", rest[0], rest[1], r.Error)
	}
	return nil
}

// fetchDiag writes a site's diagnostics bundle to -o, or to
// <site>-<UTC time>.tar.gz in the current directory. The name is head
// office's: a store's answer never chooses where a file lands, and an
// existing file is never overwritten.
func fetchDiag(ctx context.Context, fl *fleet.Fleet, key ed25519.PrivateKey, f fleetFlags, site string, args json.RawMessage, stdout io.Writer) error {
	if !config.IsID(site) {
		return fmt.Errorf("%q: not a site id", site)
	}
	data, err := fl.Fetch(ctx, key, site, "diag", args, f.timeout)
	if err != nil {
		return fmt.Errorf("%s diag: %w", site, err)
	}
	name := f.out
	if name == "" {
		name = fmt.Sprintf("%s-%s.tar.gz", site, time.Now().UTC().Format("20060102T150405Z"))
	}
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes, checksum verified\n", name, len(data))
	return nil
}

func pushConfig(ctx context.Context, fl *fleet.Fleet, f fleetFlags, file string, stdout io.Writer) error {
	key, err := loadKey(f.key)
	if err != nil {
		return err
	}
	tmpl, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var sites []string
	if f.sites != "" {
		sites = strings.Split(f.sites, ",")
	} else {
		for _, s := range fl.Sites() {
			sites = append(sites, s.Site)
		}
	}
	if len(sites) == 0 {
		return errors.New("no sites: none known on the broker, and -sites not given")
	}
	s := fleet.Signing{Key: key, TTL: f.pushTTL}
	if f.confirmKey != "" {
		if s.Confirm, err = loadKey(f.confirmKey); err != nil {
			return err
		}
	}
	results := fl.PushConfig(ctx, s, sites, func(site string) (string, error) { return fleet.SiteYAML(tmpl, site) })
	if f.json {
		b, _ := json.MarshalIndent(results, "", "  ")
		fmt.Fprintln(stdout, string(b))
	}
	failed := 0
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !f.json {
		fmt.Fprintln(tw, "SITE\tRESULT\tRUNNING\tDETAIL")
	}
	for _, site := range sites {
		r := results[site]
		if r.State != "applied" {
			failed++
		}
		if !f.json {
			fmt.Fprintf(tw, "%s\t%s\t v%d\t%s\n", site, r.State, r.Running, strings.Join(append(r.Errors, r.Reason), "; "))
		}
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d sites did not apply the config", failed, len(sites))
	}
	return nil
}
