// Package testtos owns the fake TOS snapshot server that the tests of the
// snapshot fetch (adapters/tossnapshot) and of the daemon's snapshot sweep
// share: an answer a test changes between fetches, and the requests it
// got. Only tests import it.
package testtos

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Snapshot serves a TOS snapshot answer that a test can change between
// fetches, and records the requests' headers.
type Snapshot struct {
	mu      sync.Mutex
	status  int
	body    string
	delay   time.Duration
	headers []http.Header
}

func (s *Snapshot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	status, body, delay := s.status, s.body, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// Serve sets the answer of the next fetches.
func (s *Snapshot) Serve(status int, body string) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// SetDelay makes every answer wait d first (or until the request ends).
func (s *Snapshot) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Headers are the headers of the requests so far.
func (s *Snapshot) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.headers)
}

// JSON builds a snapshot answer; holds maps containers to their holds.
func JSON(complete bool, at string, holds map[string][]string) string {
	type entry struct {
		Container string   `json:"container"`
		Holds     []string `json:"holds"`
	}
	doc := struct {
		Complete   bool    `json:"complete"`
		At         string  `json:"at"`
		Containers []entry `json:"containers"`
	}{Complete: complete, At: at, Containers: []entry{}}
	for _, c := range slices.Sorted(maps.Keys(holds)) {
		h := holds[c]
		if h == nil {
			h = []string{}
		}
		doc.Containers = append(doc.Containers, entry{c, h})
	}
	data, _ := json.Marshal(doc)
	return string(data)
}
