package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	psdaemon "github.com/portsync/portsync/sync/daemon"
)

// Intervals of the service-manager conversation.
const (
	readyPoll      = 100 * time.Millisecond
	statusInterval = 10 * time.Second
)

// notify sends a state to systemd. Outside systemd (no NOTIFY_SOCKET) it
// does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notify failed", "err", err)
	}
}

// superviseService speaks systemd's notify protocol for a running daemon:
// READY=1 once the store is open and every subscription acknowledged,
// STATUS= with the counts an operator wants, WATCHDOG=1 while the writer
// makes progress (a stuck writer stops the pings, and systemd restarts the
// service), and RELOADING=1 ... READY=1 around a reload on SIGHUP. It
// returns when ctx is done. hup delivers SIGHUP.
func superviseService(ctx context.Context, d *psdaemon.Daemon, log *slog.Logger, hup <-chan os.Signal) {
	watchdog, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings unreadable", "err", err)
	}
	var ping <-chan time.Time
	if watchdog > 0 {
		t := time.NewTicker(watchdog / 3)
		defer t.Stop()
		ping = t.C
	}
	status := time.NewTicker(statusInterval)
	defer status.Stop()
	poll := time.NewTicker(readyPoll)
	defer poll.Stop()
	ready := false
	for {
		select {
		case <-ctx.Done():
			notify(log, daemon.SdNotifyStopping+"\nSTATUS=stopping")
			return
		case <-poll.C:
			if ready {
				continue
			}
			if ok, why := d.Ready(); ok {
				ready = true
				notify(log, daemon.SdNotifyReady+"\nSTATUS="+d.Summary())
				log.Info("ready")
			} else if len(why) > 0 {
				notify(log, "STATUS=waiting: "+why[0])
			}
		case <-status.C:
			if ready {
				notify(log, "STATUS="+d.Summary())
			}
		case <-ping:
			if idle := time.Since(d.Progress()); idle < watchdog {
				notify(log, daemon.SdNotifyWatchdog)
			} else {
				log.Error("writer makes no progress; withholding the watchdog ping so systemd restarts the service", "idle", idle.Round(time.Second))
			}
		case <-hup:
			notify(log, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
			if err := d.ReloadFile(); err != nil {
				log.Error("reload refused; the running configuration stays", "err", err)
				notify(log, daemon.SdNotifyReady+"\nSTATUS=reload refused: "+err.Error())
				continue
			}
			notify(log, daemon.SdNotifyReady+"\nSTATUS="+d.Summary())
		}
	}
}
