//go:build failpoints

// This is the failpoints build; the package documentation is in
// failpoint_off.go.

package failpoint

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// envVar names the crash points to arm.
const envVar = "PORTSYNC_FAILPOINT"

// names are the crash points the code marks with Hit.
var names = []string{"commit.before", "commit.after", "ack.partial", "dispatch.sent", "filedrop.beforemove"}

// point is an armed crash point: it fires at hit number at.
type point struct {
	at   int64
	hits atomic.Int64
}

// armed is built once in init and only read afterwards.
var armed map[string]*point

func init() {
	var err error
	armed, err = parse(os.Getenv(envVar))
	if err != nil {
		fmt.Fprintf(os.Stderr, "portsync: %s: %v\n", envVar, err)
		os.Exit(2)
	}
	for name, p := range armed {
		fmt.Fprintf(os.Stderr, "portsync: failpoint %s armed: SIGKILL at hit %d\n", name, p.at)
	}
}

// parse reads a list such as "commit.before@3,dispatch.sent".
func parse(spec string) (map[string]*point, error) {
	out := map[string]*point{}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, nth, hasN := strings.Cut(item, "@")
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("unknown failpoint %q (known: %s)", name, strings.Join(names, ", "))
		}
		at := int64(1)
		if hasN {
			n, err := strconv.ParseInt(nth, 10, 64)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("failpoint %q: want NAME@N with N a whole number from 1", item)
			}
			at = n
		}
		out[name] = &point{at: at}
	}
	return out, nil
}

// Hit counts a hit of the crash point name and, if it is armed for this
// hit, kills the process with SIGKILL at once.
func Hit(name string) {
	p, ok := armed[name]
	if !ok {
		return
	}
	n := p.hits.Add(1)
	if n != p.at {
		return
	}
	fmt.Fprintf(os.Stderr, "portsync: failpoint %s: hit %d, SIGKILL\n", name, n)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; this goroutine does nothing more
}
