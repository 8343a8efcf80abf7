package fleet_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// TestBrokerExampleACL runs mosquitto with the shipped ACL, TLS and
// per-site passwords: a site reaches only its own root; head office reaches
// every site.
func TestBrokerExampleACL(t *testing.T) {
	mkpasswd := testenv.NeedCommand(t, "mosquitto_passwd")
	pki := mqtttest.NewPKI(t, "fleet-ca")
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	for i, u := range []string{"headoffice", "store-01", "store-02"} {
		args := []string{"-b", pw, u, u + "-secret"}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(mkpasswd, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	acl, _ := filepath.Abs("broker/acl")
	broker := mqtttest.Start(t, mqtttest.Options{
		TLS:          &mqtttest.TLS{CAFile: pki.CAFile, CertFile: pki.ServerCert, KeyFile: pki.Server},
		PasswordFile: pw,
		Extra:        "acl_file " + acl + "\n",
	})
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	connect := func(user string) (mqtt.Client, chan string) {
		got := make(chan string, 100)
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID(user + "-acl").
			SetUsername(user).SetPassword(user + "-secret").SetTLSConfig(&tls.Config{RootCAs: roots}).
			SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", user, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(100) })
		return c, got
	}
	ho, hoGot := connect("headoffice")
	s1, s1Got := connect("store-01")
	for c, filter := range map[mqtt.Client]string{ho: "branchgw/#", s1: "branchgw/+/cmd/+"} {
		if tok := c.Subscribe(filter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", filter, tok.Error())
		}
	}
	pub := func(c mqtt.Client, topic string) {
		tok := c.Publish(topic, 1, false, []byte("x"))
		tok.WaitTimeout(10 * time.Second)
	}
	// A site publishes under its own root and tries a neighbour's.
	pub(s1, "branchgw/store-01/status")
	pub(s1, "branchgw/store-02/status")
	pub(s1, "elsewhere/x")
	// Head office commands both sites.
	pub(ho, "branchgw/store-01/cmd/ping")
	pub(ho, "branchgw/store-02/cmd/ping")

	seen := func(ch chan string) map[string]bool {
		m := map[string]bool{}
		deadline := time.After(2 * time.Second) // absence needs a wait; no figure is asserted
		for {
			select {
			case topic := <-ch:
				m[topic] = true
			case <-deadline:
				return m
			}
		}
	}
	hoSeen, s1Seen := seen(hoGot), seen(s1Got)
	for _, tc := range []struct {
		who   string
		seen  map[string]bool
		topic string
		want  bool
	}{
		{"head office", hoSeen, "branchgw/store-01/status", true},
		{"head office", hoSeen, "branchgw/store-02/status", false}, // store-01 may not publish there
		{"head office", hoSeen, "branchgw/store-02/cmd/ping", true},
		{"store-01", s1Seen, "branchgw/store-01/cmd/ping", true},
		{"store-01", s1Seen, "branchgw/store-02/cmd/ping", false}, // nor read its neighbour's commands
	} {
		if tc.seen[tc.topic] != tc.want {
			t.Errorf("%s received %s: %v, want %v", tc.who, tc.topic, tc.seen[tc.topic], tc.want)
		}
	}
	if t.Failed() {
		fmt.Println(broker.Log())
	}
}
