// Command portsync is the daemon that keeps a container terminal's holds in
// step with the border agencies, and the tools to check and query it.
package main

import (
	"fmt"
	"os"

	// Zones for time_zone and mapping.at_zone, also on hosts without
	// zoneinfo.
	_ "time/tzdata"

	// The adapters portsync ships; each registers itself by type name.
	_ "github.com/portsync/portsync/adapters/alertmanager"
	_ "github.com/portsync/portsync/adapters/edifact"
	_ "github.com/portsync/portsync/adapters/email"
	_ "github.com/portsync/portsync/adapters/filedrop"
	_ "github.com/portsync/portsync/adapters/httppoll"
	_ "github.com/portsync/portsync/adapters/httpquery"
	_ "github.com/portsync/portsync/adapters/httpsink"
	_ "github.com/portsync/portsync/adapters/jsonfmt"
	_ "github.com/portsync/portsync/adapters/mappedjson"
	_ "github.com/portsync/portsync/adapters/mappedxml"
	_ "github.com/portsync/portsync/adapters/mqtt"
	_ "github.com/portsync/portsync/adapters/webhook"
	_ "github.com/portsync/portsync/adapters/x12"
	"github.com/portsync/portsync/internal/buildinfo"
)

const usage = `usage: portsync VERB [flags]

verbs:
  run -config FILE                     run the daemon in the foreground
  demo [-http ADDR] [-state-dir DIR]   everything on one machine, with a simulated customs and TOS
  check -config FILE                   validate a configuration file
  status [-addr URL] CONTAINER...      a container's integrated view
  mismatches [-addr URL]               the open mismatches
  history [-addr URL] CONTAINER        a container's journal
  backup [-addr URL] -o FILE           a consistent copy of the store, taken live
  cluster [-addr URL]                  each cluster node's role, progress and lag
  override [-addr URL] CONTAINER -agency A -action ACTION [-hold T] -by NAME -reason TEXT  an operator's decision for an agency, e.g. a release an officer confirmed by e-mail
  compact -config FILE                 rewrite the store without its free pages (daemon stopped)
  dlq [-addr URL] list|retry ID|retry-all   dead letters, and retrying them after a fix
  replay -config FILE -source NAME INPUT...  decode recorded inputs as a source would, touching no store
  version                              version, commit and Go version of this binary (also -version)

Query verbs print a table; -json prints JSON. The API token comes from
-token-file or PORTSYNC_TOKEN; override takes the override token
(http.override_token_file's) from -token-file or PORTSYNC_OVERRIDE_TOKEN.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	verb, args := os.Args[1], os.Args[2:]
	var code int
	switch verb {
	case "run":
		code = cmdRun(args)
	case "demo":
		code = cmdDemo(args)
	case "check":
		code = cmdCheck(args)
	case "status":
		code = cmdStatus(args)
	case "mismatches":
		code = cmdMismatches(args)
	case "cluster":
		code = cmdCluster(args)
	case "history":
		code = cmdHistory(args)
	case "backup":
		code = cmdBackup(args)
	case "override":
		code = cmdOverride(args)
	case "compact":
		code = cmdCompact(args)
	case "dlq":
		code = cmdDLQ(args)
	case "replay":
		code = cmdReplay(args)
	case "version", "-version", "--version":
		fmt.Print(buildinfo.Read())
	case "man":
		// Hidden: the portsync(1) man page, rendered from the help of
		// every verb (make deb ships it).
		code = cmdMan(args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "portsync: unknown verb %q\n\n%s", verb, usage)
		code = 2
	}
	os.Exit(code)
}
