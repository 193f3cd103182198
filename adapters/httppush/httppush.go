// Package httppush registers the http_push source type: agency events
// (DESIGN 3.1) POSTed to the daemon's own API, POST /api/v1/events. The
// daemon's HTTP server is the transport, and it answers each request only
// once the event is durable (202) or dead-lettered (4xx, with the same code
// and reason as the dead letter), so this package holds no connection of
// its own: it checks the type's settings and gives the daemon the source.
package httppush

import (
	"context"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// Type is the source type name.
const Type = "http_push"

func init() {
	adapters.RegisterSource(Type, adapters.SourceType{New: newSource, Check: check})
}

func check(cfg config.Source) []config.KeyError {
	var errs []config.KeyError
	if cfg.Kind != config.KindAgency {
		errs = append(errs, config.KeyError{Key: "kind", Msg: "an http_push source takes agency events only"})
	}
	for key, set := range map[string]bool{"broker": cfg.Broker != "", "topic": cfg.Topic != "", "url": cfg.URL != "", "dir": cfg.Dir != ""} {
		if set {
			errs = append(errs, config.KeyError{Key: key, Msg: "not used by http_push sources"})
		}
	}
	return errs
}

// source is passive: requests reach the engine through the daemon's API.
type source struct{}

func newSource(*adapters.Env, config.Source) (adapters.Source, error) { return source{}, nil }

func (source) Start(context.Context, adapters.Deliver) error { return nil }
func (source) Stop()                                         {}
