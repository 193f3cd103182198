package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/sync/httpapi"
)

const overrideUsage = "usage: portsync override [-addr URL] CONTAINER -agency A -action released|held|hold_removed [-hold T] -by NAME -reason TEXT"

// cmdOverride sends an operator's decision for an agency to a running
// daemon (POST /api/v1/containers/{id}/override): a release a customs
// officer confirmed by e-mail, say. It needs the override token, from
// -token-file or PORTSYNC_OVERRIDE_TOKEN; the API token is refused.
func cmdOverride(args []string) int {
	fs := flag.NewFlagSet("override", flag.ContinueOnError)
	addr := fs.String("addr", "http://127.0.0.1:9740", "the daemon's `URL`")
	tokenFile := fs.String("token-file", "", "read the override token (http.override_token_file's) from `file` (default $PORTSYNC_OVERRIDE_TOKEN)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	agency := fs.String("agency", "", "the `agency` the decision is for")
	action := fs.String("action", "", "`released`, held or hold_removed")
	hold := fs.String("hold", "", "the hold `type` held or hold_removed is about (default the agency's general hold)")
	by := fs.String("by", "", "who makes the override (`name`), required")
	reason := fs.String("reason", "", "why: the officer's message and its reference (`text`), required")
	// The container comes before the flags in the usage; take it wherever
	// it stands.
	var pos []string
	for rest := args; ; {
		if fs.Parse(rest) != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"agency", *agency}, {"action", *action}, {"by", *by}, {"reason", *reason}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, "-"+f.name)
		}
	}
	if len(pos) != 1 || len(missing) > 0 {
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "portsync override: %s required\n", strings.Join(missing, ", "))
		}
		fmt.Fprintln(os.Stderr, overrideUsage)
		return 2
	}
	token := strings.TrimSpace(os.Getenv("PORTSYNC_OVERRIDE_TOKEN"))
	if *tokenFile != "" {
		t, err := config.ReadSecret(*tokenFile)
		if err != nil {
			return fail("override", fmt.Errorf("token file: %w", err))
		}
		token = t
	}
	if token == "" {
		return fail("override", errors.New("no override token: pass -token-file (http.override_token_file's) or set PORTSYNC_OVERRIDE_TOKEN"))
	}
	c := &httpapi.Client{Addr: strings.TrimRight(*addr, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second, CheckRedirect: httpapi.FollowLeader}}
	answer, raw, err := c.Override(pos[0], httpapi.OverrideRequest{Agency: *agency, Action: *action, Hold: *hold, By: *by, Reason: *reason})
	if err != nil {
		return fail("override", err)
	}
	if *asJSON {
		os.Stdout.Write(raw)
		return 0
	}
	what := answer.Action
	if answer.Hold != "" {
		what += " " + answer.Hold
	}
	fmt.Printf("%s: %s %s on %s by %s, event %s at %s\n", answer.Result, answer.Agency, what, answer.Container,
		answer.By, answer.EventID, answer.At.Format(time.RFC3339))
	fmt.Printf("%s is now %s on %s\n", answer.Agency, answer.Status, answer.Container)
	if answer.Note != "" {
		fmt.Println(answer.Note)
	} else {
		fmt.Printf("a manual_override alert is raised until %s decides again\n", answer.Agency)
	}
	return 0
}
