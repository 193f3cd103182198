package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

// client is the API client with the verb's output choice.
type client struct {
	*httpapi.Client
	json bool
}

func queryFlags(name string) (*flag.FlagSet, func() (*client, error)) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr := fs.String("addr", "http://127.0.0.1:9740", "the daemon's `URL`")
	tokenFile := fs.String("token-file", "", "read the API token from `file` (default $PORTSYNC_TOKEN)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return fs, func() (*client, error) {
		c := &client{Client: &httpapi.Client{Addr: strings.TrimRight(*addr, "/"), HTTP: &http.Client{Timeout: 30 * time.Second, CheckRedirect: httpapi.FollowLeader}}, json: *asJSON}
		c.Token = strings.TrimSpace(os.Getenv("PORTSYNC_TOKEN"))
		if *tokenFile != "" {
			t, err := config.ReadSecret(*tokenFile)
			if err != nil {
				return nil, fmt.Errorf("token file: %w", err)
			}
			c.Token = t
		}
		return c, nil
	}
}

func fail(verb string, err error) int {
	fmt.Fprintf(os.Stderr, "portsync %s: %v\n", verb, err)
	return 1
}

func cmdStatus(args []string) int {
	fs, mk := queryFlags("status")
	if fs.Parse(args) != nil {
		return 2
	}
	c, err := mk()
	if err != nil {
		return fail("status", err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: portsync status [-addr URL] [-json] CONTAINER...")
		return 2
	}
	code := 0
	var raws []json.RawMessage
	var details []httpapi.ContainerDetail
	for _, id := range fs.Args() {
		d, raw, err := c.Container(id)
		if err != nil {
			fmt.Fprintf(os.Stderr, "portsync status: %s: %v\n", id, err)
			code = 1
			continue
		}
		raws = append(raws, raw)
		details = append(details, d)
	}
	if c.json {
		if raws == nil {
			raws = []json.RawMessage{}
		}
		printJSON(raws)
		return code
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tPRESENCE\tCLEARED\tAGENCIES\tTOS HOLDS\tMISMATCH\tPENDING")
	for _, d := range details {
		var agencies []string
		for _, name := range slices.Sorted(maps.Keys(d.Agencies)) {
			a := name + "=" + string(d.Agencies[name])
			if holds := d.Holds[name]; len(holds) > 0 {
				a += "(" + strings.Join(holdNames(holds), ",") + ")"
			}
			agencies = append(agencies, a)
		}
		var pending []string
		for _, p := range d.PendingCommands {
			pending = append(pending, p.Action+" "+p.Hold)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%v\t%s\n", d.Container, d.Presence, d.Cleared,
			strings.Join(agencies, " "), dash(strings.Join(d.TOSHolds, ",")), d.Mismatch, dash(strings.Join(pending, ", ")))
	}
	tw.Flush()
	return code
}

// holdNames names open hold types for people: the general hold ("" in
// the API) as "general".
func holdNames(holds []string) []string {
	out := make([]string, len(holds))
	for i, h := range holds {
		out[i] = cmp.Or(h, "general")
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func cmdMismatches(args []string) int {
	fs, mk := queryFlags("mismatches")
	if fs.Parse(args) != nil {
		return 2
	}
	c, err := mk()
	if err != nil {
		return fail("mismatches", err)
	}
	mismatches, raw, err := c.Mismatches()
	if err != nil {
		return fail("mismatches", err)
	}
	if c.json {
		os.Stdout.Write(raw)
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tAGENCY\tKIND\tSINCE\tAGE")
	for _, m := range mismatches {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Container, m.Agency, m.Kind,
			m.Since.UTC().Format(time.RFC3339), time.Since(m.Since).Round(time.Second))
	}
	tw.Flush()
	if len(mismatches) == 0 {
		fmt.Println("no open mismatches")
	}
	return 0
}

func cmdCluster(args []string) int {
	fs, mk := queryFlags("cluster")
	if fs.Parse(args) != nil {
		return 2
	}
	c, err := mk()
	if err != nil {
		return fail("cluster", err)
	}
	nodes, raw, err := c.Cluster()
	if err != nil {
		return fail("cluster", err)
	}
	if c.json {
		os.Stdout.Write(raw)
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tROLE\tTERM\tAPPLIED\tLAG\tANSWERS")
	for _, n := range nodes {
		lag, answers := "-", "yes"
		if n.Lag != nil {
			lag = fmt.Sprint(*n.Lag)
		}
		if !n.Reachable {
			answers = "no: " + n.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", n.ID, n.Address, n.Role, n.Term, n.AppliedIndex, lag, answers)
	}
	tw.Flush()
	return 0
}

func cmdHistory(args []string) int {
	fs, mk := queryFlags("history")
	if fs.Parse(args) != nil {
		return 2
	}
	c, err := mk()
	if err != nil {
		return fail("history", err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: portsync history [-addr URL] [-json] CONTAINER")
		return 2
	}
	history, raw, err := c.History(fs.Arg(0))
	if err != nil {
		return fail("history", err)
	}
	if c.json {
		os.Stdout.Write(raw)
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tKIND\tSOURCE\tEVENT\tWHAT")
	for _, e := range history {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format("2006-01-02 15:04:05.000"), e.Kind,
			dash(e.Source), dash(e.EventID), describeEntry(e))
	}
	tw.Flush()
	return 0
}

func describeEntry(e state.JournalEntry) string {
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	switch e.Kind {
	case state.JournalAgencyEvent:
		what := e.Agency + " " + e.Status
		if e.Hold != "" {
			what += " " + e.Hold
		}
		if by, ok := strings.CutPrefix(e.Source, config.OverridePrefix); ok {
			what += " (override by " + by + ")"
		}
		add(what + " at " + e.EventAt.Format(time.RFC3339))
	case state.JournalTOSEvent:
		add(e.Status + " holds=[" + strings.Join(e.Holds, ",") + "] at " + e.EventAt.Format(time.RFC3339))
	default:
		add(e.Command)
		add(strings.TrimSpace(e.Action + " " + e.Hold))
		add(e.Status)
	}
	if e.Result != "" && e.Result != sync.ResultApplied {
		add("(" + e.Result + ")")
	}
	add(e.Detail)
	return strings.Join(parts, " ")
}

func cmdBackup(args []string) int {
	fs, mk := queryFlags("backup")
	out := fs.String("o", "", "write the copy to `file`")
	if fs.Parse(args) != nil {
		return 2
	}
	c, err := mk()
	if err != nil {
		return fail("backup", err)
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: portsync backup [-addr URL] -o FILE")
		return 2
	}
	c.HTTP.Timeout = 0 // a large store takes a while; the server streams it
	resp, err := c.Get("/api/v1/backup")
	if err != nil {
		return fail("backup", err)
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".portsync-backup-*")
	if err != nil {
		return fail("backup", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), *out)
	}
	if err != nil {
		return fail("backup", err)
	}
	fmt.Printf("wrote %s (%d bytes)\n", *out, n)
	return 0
}
