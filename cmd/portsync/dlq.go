package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

const dlqUsage = "usage: portsync dlq [-addr URL] [-json] list | retry ID | retry-all"

// cmdDLQ lists dead letters and retries them against a running daemon,
// after a mapping fix and a reload.
func cmdDLQ(args []string) int {
	fs, mk := queryFlags("dlq")
	if fs.Parse(args) != nil {
		return 2
	}
	c, err := mk()
	if err != nil {
		return fail("dlq", err)
	}
	switch {
	case fs.NArg() == 1 && fs.Arg(0) == "list":
		return dlqList(c)
	case fs.NArg() == 2 && fs.Arg(0) == "retry":
		return dlqRetry(c, []string{fs.Arg(1)})
	case fs.NArg() == 1 && fs.Arg(0) == "retry-all":
		dls, _, err := c.DeadLetters()
		if err != nil {
			return fail("dlq", err)
		}
		ids := make([]string, len(dls))
		for i, d := range dls {
			ids[i] = d.ID
		}
		return dlqRetry(c, ids)
	}
	fmt.Fprintln(os.Stderr, dlqUsage)
	return 2
}

func dlqList(c *client) int {
	dls, raw, err := c.DeadLetters()
	if err != nil {
		return fail("dlq", err)
	}
	if c.json {
		os.Stdout.Write(raw)
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSOURCE\tCODE\tREASON")
	for _, d := range dls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.ReceivedAt.UTC().Format(time.RFC3339), d.Source, d.Code, d.Reason)
	}
	tw.Flush()
	if len(dls) == 0 {
		fmt.Println("no dead letters")
	}
	return 0
}

// dlqRetry retries each dead letter and reports what became of it; it
// exits 1 if any is still rejected.
func dlqRetry(c *client, ids []string) int {
	code, applied := 0, 0
	for _, id := range ids {
		status, body, err := c.Post("/api/v1/deadletters/" + url.PathEscape(id) + "/retry")
		if err != nil {
			return fail("dlq", err)
		}
		var answer struct {
			Error   string   `json:"error"`
			Code    string   `json:"code"`
			Results []string `json:"results"`
		}
		json.Unmarshal(body, &answer)
		switch {
		case status == http.StatusOK:
			applied++
			fmt.Printf("%s: %s\n", id, strings.Join(answer.Results, ", "))
		case answer.Code != "":
			code = 1
			fmt.Printf("%s: still rejected: %s: %s\n", id, answer.Code, answer.Error)
		default:
			code = 1
			fmt.Printf("%s: %s (HTTP %d)\n", id, answer.Error, status)
		}
	}
	if len(ids) > 1 {
		fmt.Printf("%d of %d dead letters applied\n", applied, len(ids))
	}
	return code
}
