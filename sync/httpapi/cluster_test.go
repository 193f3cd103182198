package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// leaderStub is a Backend whose only answer is where the leader is.
type leaderStub struct {
	Backend
	url      string
	follower bool
	token    string // the API's token, "" for none
}

func (b leaderStub) LeaderURL() (string, bool) { return b.url, b.follower }
func (b leaderStub) Current() Current          { return Current{Token: b.token} }

func TestWritesGoToTheLeader(t *testing.T) {
	reached := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })
	cases := []struct {
		name, method string
		b            leaderStub
		want         int
		location     string
		reached      bool
		noToken      bool
	}{
		{"a follower leaves a request without a token to the handler (401 there)", http.MethodPost, leaderStub{url: "http://10.0.0.2:9740", follower: true, token: "tok"},
			http.StatusOK, "", true, true},
		{"a follower leaves a request with a wrong token to the handler (401 there)", http.MethodPost, leaderStub{url: "http://10.0.0.2:9740", follower: true, token: "other"},
			http.StatusOK, "", true, false},
		{"a follower redirects a request with the API's token", http.MethodPost, leaderStub{url: "http://10.0.0.2:9740", follower: true, token: "tok"},
			http.StatusTemporaryRedirect, "http://10.0.0.2:9740/api/v1/deadletters/dl-1/retry?x=1", false, false},
		{"without an API token a follower redirects a write without one", http.MethodPost, leaderStub{url: "http://10.0.0.2:9740", follower: true},
			http.StatusTemporaryRedirect, "http://10.0.0.2:9740/api/v1/deadletters/dl-1/retry?x=1", false, true},
		{"leader takes a write", http.MethodPost, leaderStub{}, http.StatusOK, "", true, false},
		{"follower serves a read", http.MethodGet, leaderStub{url: "http://10.0.0.2:9740", follower: true}, http.StatusOK, "", true, false},
		{"follower redirects a write", http.MethodPost, leaderStub{url: "http://10.0.0.2:9740", follower: true},
			http.StatusTemporaryRedirect, "http://10.0.0.2:9740/api/v1/deadletters/dl-1/retry?x=1", false, false},
		{"follower without a leader", http.MethodPost, leaderStub{follower: true}, http.StatusServiceUnavailable, "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reached = false
			s := &Server{Backend: c.b}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(c.method, "/api/v1/deadletters/dl-1/retry?x=1", nil)
			if !c.noToken {
				req.Header.Set("Authorization", "Bearer tok")
			}
			s.toLeader(next).ServeHTTP(rec, req)
			if rec.Code != c.want || rec.Header().Get("Location") != c.location || reached != c.reached {
				t.Errorf("HTTP %d Location %q reached %v; want %d %q %v", rec.Code, rec.Header().Get("Location"), reached, c.want, c.location, c.reached)
			}
		})
	}
}

// roleStub is a ready Backend of a cluster node in the given role.
type roleStub struct {
	Backend
	role string // "" for a single node
}

func (b roleStub) Ready() (bool, []string) { return true, nil }
func (b roleStub) ClusterNodes(context.Context, bool) ([]ClusterNode, error) {
	if b.role == "" {
		return nil, ErrNoCluster
	}
	return []ClusterNode{{ID: "n1", Role: b.role}}, nil
}

// TestReadyzSaysTheRole: a load balancer finds the leader with
// /readyz?role=leader; every ready node answers a plain /readyz with 200.
func TestReadyzSaysTheRole(t *testing.T) {
	cases := []struct {
		role, query string
		want        int
		body        string
	}{
		{"", "", http.StatusOK, `{"ready":true}`},
		{"leader", "", http.StatusOK, `{"ready":true,"role":"leader"}`},
		{"follower", "", http.StatusOK, `{"ready":true,"role":"follower"}`},
		{"leader", "?role=leader", http.StatusOK, `{"ready":true,"role":"leader"}`},
		{"follower", "?role=leader", http.StatusServiceUnavailable, `{"ready":false,"reasons":["this node is the follower, not the leader"],"role":"follower"}`},
	}
	for _, c := range cases {
		s := &Server{Backend: roleStub{role: c.role}}
		rec := httptest.NewRecorder()
		s.handleReady(rec, httptest.NewRequest(http.MethodGet, "/readyz"+c.query, nil))
		var compact bytes.Buffer
		if err := json.Compact(&compact, rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
		if got := compact.String(); rec.Code != c.want || got != c.body {
			t.Errorf("role %q %s: HTTP %d %s, want %d %s", c.role, c.query, rec.Code, got, c.want, c.body)
		}
	}
}
