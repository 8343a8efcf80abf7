package gateway

import (
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier speaks sd_notify to systemd. Without NOTIFY_SOCKET (not run by
// systemd) every call is a no-op.
type Notifier struct {
	log      *slog.Logger
	watchdog time.Duration
	status   string
}

// NewNotifier reads NOTIFY_SOCKET and WATCHDOG_USEC from the environment.
func NewNotifier(log *slog.Logger) *Notifier {
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings ignored", "err", err)
	}
	return &Notifier{log: log, watchdog: wd}
}

// WatchdogInterval is how often WATCHDOG=1 must be sent: half of
// WatchdogSec, as sd_watchdog_enabled(3) advises; 0 when disabled.
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog / 2 }

func (n *Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// Ready tells systemd the daemon is up.
func (n *Notifier) Ready() { n.send(daemon.SdNotifyReady) }

// Stopping tells systemd a graceful stop has begun.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Reloading tells systemd a config reload is under way; Ready ends it.
func (n *Notifier) Reloading() { n.send(daemon.SdNotifyReloading) }

// Watchdog pings systemd's watchdog. Only the supervisor loop calls it.
func (n *Notifier) Watchdog() {
	if n.watchdog > 0 {
		n.send(daemon.SdNotifyWatchdog)
	}
}

// Status sets the one-line STATUS= shown by `systemctl status`, sending it
// only when it changes.
func (n *Notifier) Status(s string) {
	if s != n.status {
		n.status = s
		n.send("STATUS=" + s)
	}
}
