//go:build !failpoints

// Package failpoint owns portsync's crash points: named places in the code
// where a test build can kill the daemon with SIGKILL, to show that a crash
// at exactly that moment loses nothing, applies nothing twice and leaves the
// store consistent (DESIGN section 8).
//
// In a normal build Hit is an empty function that the compiler inlines
// away. Built with `-tags failpoints`, Hit reads the environment variable
// PORTSYNC_FAILPOINT once, at start: a comma-separated list of point names,
// each optionally NAME@N to fire at the N-th hit of that point (the first
// hit without @N). When a listed point is hit for the chosen time, Hit
// writes one line to standard error and sends SIGKILL to its own process: no
// deferred function, no shutdown code and no buffered write runs, as in a
// real crash. An unknown name or a bad N stops the process at start with
// exit status 2, so that a typo cannot make a crash test pass vacuously.
//
// The points:
//
//   - commit.before: in the writer's store transaction, after every write
//     of a group commit and before the commit; the transaction is lost.
//   - commit.after: after the group commit is durable, before any of its
//     messages is acknowledged.
//   - ack.partial: in a group of more than one message, after the first
//     is acknowledged (and settled) and before the second.
//   - dispatch.sent: after the TOS sink accepted a chunk of commands,
//     before the dispatcher records the attempts and journals them as sent.
//   - filedrop.beforemove: in the file_drop source, once the engine has
//     settled a committed file and before it is renamed to done/ or
//     rejected/.
package failpoint

// Hit marks the crash point name. It does nothing in a normal build.
func Hit(name string) {}
