package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// client talks to a running daemon's API.
type client struct {
	addr  string
	token string
	json  bool
	http  *http.Client
}

func queryFlags(name string) (*flag.FlagSet, func() (*client, error)) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr := fs.String("addr", "http://127.0.0.1:9740", "the daemon's `URL`")
	tokenFile := fs.String("token-file", "", "read the API token from `file` (default $PORTSYNC_TOKEN)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return fs, func() (*client, error) {
		c := &client{addr: strings.TrimRight(*addr, "/"), json: *asJSON, http: &http.Client{Timeout: 30 * time.Second}}
		c.token = strings.TrimSpace(os.Getenv("PORTSYNC_TOKEN"))
		if *tokenFile != "" {
			t, err := config.ReadSecret(*tokenFile)
			if err != nil {
				return nil, fmt.Errorf("token file: %w", err)
			}
			c.token = t
		}
		return c, nil
	}
}

// apiError is an error answer of the API.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.msg, e.status) }

func (c *client) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, c.addr+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &body) != nil || body.Error == "" {
			body.Error = strings.TrimSpace(string(data))
		}
		return nil, &apiError{status: resp.StatusCode, msg: body.Error}
	}
	return resp, nil
}

func (c *client) getJSON(path string, v any) (json.RawMessage, error) {
	resp, err := c.get(path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return raw, json.Unmarshal(raw, v)
}

// getAll fetches every page of a paged list, following next_cursor to
// the end, and returns its items under key and the whole answer as one
// page would have it, for -json.
func getAll[T any](c *client, path, key string) ([]T, json.RawMessage, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var items []json.RawMessage
	var first map[string]json.RawMessage
	cursor := ""
	for {
		q := path + sep + "limit=1000"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var page map[string]json.RawMessage
		if _, err := c.getJSON(q, &page); err != nil {
			return nil, nil, err
		}
		var got []json.RawMessage
		if err := json.Unmarshal(page[key], &got); err != nil {
			return nil, nil, fmt.Errorf("GET %s: %q is not a list: %w", path, key, err)
		}
		items = append(items, got...)
		if first == nil {
			first = page
		}
		var next string
		if raw, ok := page["next_cursor"]; ok {
			if err := json.Unmarshal(raw, &next); err != nil {
				return nil, nil, fmt.Errorf("GET %s: next_cursor: %w", path, err)
			}
		}
		if next == "" {
			break
		}
		if next == cursor {
			return nil, nil, fmt.Errorf("GET %s: the server gave the same cursor twice", path)
		}
		cursor = next
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	all, err := json.Marshal(items)
	if err != nil {
		return nil, nil, err
	}
	first[key] = all
	delete(first, "next_cursor")
	whole, err := json.MarshalIndent(first, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	var out []T
	if err := json.Unmarshal(all, &out); err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return out, append(whole, '\n'), nil
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
	var details []sync.ContainerDetail
	for _, id := range fs.Args() {
		var d sync.ContainerDetail
		raw, err := c.getJSON("/api/v1/containers/"+url.PathEscape(id), &d)
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
			agencies = append(agencies, name+"="+string(d.Agencies[name]))
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
	mismatches, raw, err := getAll[state.Mismatch](c, "/api/v1/mismatches", "mismatches")
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
	history, raw, err := getAll[state.JournalEntry](c, "/api/v1/containers/"+url.PathEscape(fs.Arg(0))+"/history", "history")
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
		add(e.Agency + " " + e.Status + " at " + e.EventAt.Format(time.RFC3339))
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
	c.http.Timeout = 0 // a large store takes a while; the server streams it
	resp, err := c.get("/api/v1/backup")
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
