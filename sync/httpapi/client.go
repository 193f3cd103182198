package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/portsync/portsync/state"
)

// Client talks to a running daemon's API, with the bearer token when it
// has one. The CLI's query verbs use it.
type Client struct {
	Addr  string // the daemon's URL, without a trailing slash
	Token string
	HTTP  *http.Client
}

// FollowLeader is the CheckRedirect of a client of a cluster: a follower
// answers a write with 307 to the leader's API, and the token goes along
// (Go's client drops it when the leader is on another host; every node
// of a cluster has the same token).
func FollowLeader(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return fmt.Errorf("stopped after %d redirects (the cluster keeps changing leaders?)", len(via))
	}
	// Never in the clear to a leader reached over plain HTTP from HTTPS.
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing to follow %s to %s: the token would leave TLS", via[0].URL.Host, req.URL)
	}
	if auth := via[0].Header.Get("Authorization"); auth != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", auth)
	}
	return nil
}

// Error is an error answer of the API.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status) }

// Do sends a request without a body and returns the response, whatever
// its status.
func (c *Client) Do(method, path string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.Addr+path, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.HTTP.Do(req)
}

// Get fetches path; an answer other than 2xx is an *Error with the API's
// message.
func (c *Client) Get(path string) (*http.Response, error) {
	resp, err := c.Do(http.MethodGet, path)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, apiError(resp.StatusCode, data)
	}
	return resp, nil
}

// apiError makes an error answer into an *Error with the API's message.
func apiError(status int, data []byte) *Error {
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &body) != nil || body.Error == "" {
		body.Error = strings.TrimSpace(string(data))
	}
	return &Error{Status: status, Msg: body.Error}
}

// GetJSON fetches path into v and returns the answer as it came.
func (c *Client) GetJSON(path string, v any) (json.RawMessage, error) {
	resp, err := c.Get(path)
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

// Post sends an empty POST and returns the status and body, whatever the
// status.
func (c *Client) Post(path string) (int, []byte, error) {
	resp, err := c.Do(http.MethodPost, path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// Override is POST /api/v1/containers/{id}/override: an operator's
// decision for an agency, with the override token as the client's Token.
// An answer other than 202 is an *Error with the API's message.
func (c *Client) Override(id string, o OverrideRequest) (OverrideAnswer, json.RawMessage, error) {
	var answer OverrideAnswer
	body, err := json.Marshal(o)
	if err != nil {
		return answer, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.Addr+"/api/v1/containers/"+url.PathEscape(id)+"/override", bytes.NewReader(body))
	if err != nil {
		return answer, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return answer, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer, nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return answer, nil, apiError(resp.StatusCode, raw)
	}
	return answer, raw, json.Unmarshal(raw, &answer)
}

// Container is GET /api/v1/containers/{id}.
func (c *Client) Container(id string) (ContainerDetail, json.RawMessage, error) {
	var d ContainerDetail
	raw, err := c.GetJSON("/api/v1/containers/"+url.PathEscape(id), &d)
	return d, raw, err
}

// Cluster is GET /api/v1/cluster.
func (c *Client) Cluster() ([]ClusterNode, json.RawMessage, error) {
	var body struct {
		Nodes []ClusterNode `json:"nodes"`
	}
	raw, err := c.GetJSON("/api/v1/cluster", &body)
	return body.Nodes, raw, err
}

// Mismatches is every page of GET /api/v1/mismatches.
func (c *Client) Mismatches() ([]state.Mismatch, json.RawMessage, error) {
	return GetAll[state.Mismatch](c, "/api/v1/mismatches", "mismatches")
}

// History is every page of GET /api/v1/containers/{id}/history.
func (c *Client) History(id string) ([]state.JournalEntry, json.RawMessage, error) {
	return GetAll[state.JournalEntry](c, "/api/v1/containers/"+url.PathEscape(id)+"/history", "history")
}

// DeadLetters is every page of GET /api/v1/deadletters.
func (c *Client) DeadLetters() ([]state.DeadLetter, json.RawMessage, error) {
	return GetAll[state.DeadLetter](c, "/api/v1/deadletters", "deadletters")
}

// GetAll fetches every page of a paged list, following next_cursor to
// the end, and returns its items under key and the whole answer as one
// page would have it, for -json.
func GetAll[T any](c *Client, path, key string) ([]T, json.RawMessage, error) {
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
		if _, err := c.GetJSON(q, &page); err != nil {
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
