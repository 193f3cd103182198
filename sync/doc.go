// Package sync is portsync's engine: the pure decision over one
// container's state (decide.go, with its table test), the single writer
// that applies inbound events to the store in group commits (engine.go,
// apply.go, txndecide.go) and the requests other goroutines make of it
// (requests.go), the catalogue of alerts (alertcatalogue.go), the SLA
// deadlines and the recent-container cache, the sweep and the repair from
// a TOS snapshot, retention's pruning, and the workers the engine owns:
// the command dispatcher, the alert manager, the acknowledgement
// publisher, source health and the status publisher.
//
// Its API is what package sync/daemon, package sync/httpapi and the
// command use, and no more:
//
//   - New builds an Engine from Options (the store, the configuration,
//     the Metrics, the log, the Adapters it sends through, and how to find
//     a broker for acknowledgements), with its workers and their state
//     loaded. Run runs the writer, RunWorkers the workers; Reload swaps
//     the configuration and the Adapters.
//   - In: Deliver and Submit take a source's messages (a SourceInfo, from
//     NewSourceInfo) and report them to source health; Submit and Retry
//     answer with an Outcome. Override applies an operator's Override.
//     Sweep, ApplySnapshot (a SnapshotResult) and Prune (Pruned) are the
//     daemon's jobs; the session and system-alert methods its broker
//     watch.
//   - Out: the read model the API shows, in its words: View, Status,
//     Cleared, Ledger, Recent, Charts (ChartData), ClearedInYard,
//     PendingCommands, CommandAttempts, PendingAcks; the health of the
//     sources and outputs as EndpointStatus; Healthy and LastProgress for
//     readiness and the watchdog.
//   - Words of the contract: the Result* values of an outcome, AlertID,
//     and Decode, which decodes and checks a message as the engine admits
//     it, without a store (portsync replay).
//
// It knows nothing of processes, schedules or HTTP serving: package
// sync/daemon wires it to the adapters and runs it, and package
// sync/httpapi serves it. Neither is imported from here. The tests of
// those packages reach further in only through sync/internal/testseam.
//
// The package shadows the standard library's sync; its files import the
// standard one as stdsync.
package sync
