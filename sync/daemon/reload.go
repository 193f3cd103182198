package daemon

import (
	"errors"
	"fmt"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// ReloadFile re-reads the configuration file in force and reloads it. An
// invalid file is refused whole, with every problem logged, and the
// running configuration stays.
func (d *Daemon) ReloadFile() error {
	file := d.current().cfg.File
	cfg, err := config.Load(file, adapters.Registry)
	if err != nil {
		d.metrics.SetConfig(nil, false)
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				d.log.Error("reload refused: configuration invalid", "file", e.File, "line", e.Line, "key", e.Key, "err", e.Msg)
			}
		}
		return fmt.Errorf("reload %s: %w", file, err)
	}
	return d.Reload(cfg)
}

// Reload swaps the sources, the TOS sink, the alert channels, the status
// publisher, the decision policy and the schedules for those of cfg. The
// store, the outbox and the alerts stay: what is in flight is committed by
// the writer as usual, its acknowledgements go out on the old connections
// while they last, and anything not acknowledged the broker delivers again
// on the new ones (persistent sessions; dedupe makes a second delivery
// harmless). Commands and notices wait in the store for the new sink and
// channels.
func (d *Daemon) Reload(cfg *config.Config) error {
	d.reload.Lock()
	defer d.reload.Unlock()
	old := d.current()
	for _, key := range needRestart(old.cfg, cfg) {
		d.log.Warn("setting changed; it takes effect at the next restart", "key", key)
	}
	next, err := buildAdapters(cfg, d.log, d.adapterEnv)
	if err != nil {
		d.metrics.SetConfig(nil, false)
		return fmt.Errorf("reload: %w", err)
	}
	// The old connections go first: a broker allows one session per
	// client id, and the new connections usually reuse it. Before Run has
	// started, nothing runs yet: Run starts the new set.
	if d.running {
		old.stopSources()
	}
	old.disconnect()
	if d.running {
		if err := next.start(d.workCtx, d.engine()); err != nil {
			d.metrics.SetConfig(nil, false)
			return fmt.Errorf("reload: %w", err)
		}
	}
	d.engine().Reload(cfg, next.outputs())
	if d.running {
		if err := d.schedule(cfg); err != nil {
			return fmt.Errorf("reload: %w", err)
		}
	}
	d.set.Store(next)
	d.metrics.SetConfig(cfg, true)
	d.log.Info("configuration reloaded", "file", cfg.File, "hash", cfg.Hash, "sources", len(next.sources), "channels", len(next.channels))
	return nil
}

// needRestart lists the settings a reload cannot change.
func needRestart(old, cfg *config.Config) []string {
	var keys []string
	if old.StateDir != cfg.StateDir {
		keys = append(keys, "state_dir")
	}
	if old.HTTP.Listen != cfg.HTTP.Listen || old.HTTP.TLS != cfg.HTTP.TLS {
		keys = append(keys, "http.listen")
	}
	if old.Log != cfg.Log {
		keys = append(keys, "log")
	}
	return keys
}
