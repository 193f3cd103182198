// Package sync is portsync's engine: the pure decision over one
// container's state (decide.go, with its table test), the single writer
// that applies inbound events to the store in group commits (engine.go,
// apply.go, txndecide.go) and the requests other goroutines make of it
// (requests.go), the catalogue of alerts (alertcatalogue.go), the SLA
// deadlines and the recent-container cache, the sweep and the repair from
// a TOS snapshot, retention's pruning, the command dispatcher, the alert
// manager, source health, the status publisher and the metrics.
//
// It knows nothing of processes, schedules or HTTP serving: package
// sync/daemon wires it to the adapters and runs it, and package
// sync/httpapi serves it. Neither is imported from here.
//
// The package shadows the standard library's sync; its files import the
// standard one as stdsync.
package sync
