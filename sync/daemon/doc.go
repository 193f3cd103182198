// Package daemon runs portsync: it opens the store, builds the adapters
// of a configuration (brokers, sources, the TOS sink, alert channels),
// wires them to the engine (package sync), starts the workers and the HTTP
// listener, and stops them in order. It owns what lives for the process
// and what a reload swaps: the cron schedules (sweep, TOS snapshot,
// retention), SIGHUP reloads, the lost-session watch and `portsync
// check`'s adapter constructors. With a cluster it joins it (package
// cluster) and acts only while this node leads: on each leadership it
// builds the adapters and an engine afresh from the replicated store, and
// on losing it stops them before anything else (cluster.go).
//
// Imports go downwards: cmd/portsync → daemon → httpapi → sync. The HTTP
// API reaches the daemon only through httpapi.Backend, which Daemon
// implements.
//
// The integration, fault, crash and history tests live here: they start
// the daemon in process against a real mosquitto. The long ones (faults
// through toxiproxy, history, hostile properties) skip under -short.
package daemon
