package daemon

import (
	"log/slog"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// CheckAdapters builds every adapter cfg describes as New and Reload do,
// connecting nothing, and lets go of them. `portsync check` calls it after
// validation so that it runs the very constructors the daemon runs: what
// they refuse without the network (a certificate, a mapping, a directory)
// cannot pass check and then stop the daemon. The error is a
// config.Errors naming the element.
func CheckAdapters(cfg *config.Config) error {
	log := slog.New(slog.DiscardHandler)
	set, err := buildAdapters(cfg, log, func(cfg *config.Config, brokers map[string]adapters.Broker) *adapters.Env {
		return &adapters.Env{Config: cfg, Logger: log, Brokers: brokers}
	})
	if err != nil {
		return err
	}
	set.disconnect()
	return nil
}
