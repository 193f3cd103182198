// Package httpapi is portsync's HTTP API and dashboard: the handlers, the
// wire types they answer with (ContainerDetail, Overview, ...), the mount
// of the http_push endpoint (package adapters/httppush owns its handler),
// the embedded dashboard, and Client, the typed client the CLI's query
// verbs use.
//
// It reads the store and submits through the engine (package sync); what
// only the running daemon knows (the configuration and adapters in force,
// readiness, the full sweep) it asks through Backend, which package
// sync/daemon implements, so httpapi does not import the daemon.
package httpapi
