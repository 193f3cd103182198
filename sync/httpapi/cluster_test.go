package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// leaderStub is a Backend whose only answer is where the leader is.
type leaderStub struct {
	Backend
	url      string
	follower bool
}

func (b leaderStub) LeaderURL() (string, bool) { return b.url, b.follower }

func TestWritesGoToTheLeader(t *testing.T) {
	reached := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })
	cases := []struct {
		name, method string
		b            leaderStub
		want         int
		location     string
		reached      bool
	}{
		{"leader takes a write", http.MethodPost, leaderStub{}, http.StatusOK, "", true},
		{"follower serves a read", http.MethodGet, leaderStub{url: "http://10.0.0.2:9740", follower: true}, http.StatusOK, "", true},
		{"follower redirects a write", http.MethodPost, leaderStub{url: "http://10.0.0.2:9740", follower: true},
			http.StatusTemporaryRedirect, "http://10.0.0.2:9740/api/v1/deadletters/dl-1/retry?x=1", false},
		{"follower without a leader", http.MethodPost, leaderStub{follower: true}, http.StatusServiceUnavailable, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reached = false
			s := &Server{Backend: c.b}
			rec := httptest.NewRecorder()
			s.toLeader(next).ServeHTTP(rec, httptest.NewRequest(c.method, "/api/v1/deadletters/dl-1/retry?x=1", nil))
			if rec.Code != c.want || rec.Header().Get("Location") != c.location || reached != c.reached {
				t.Errorf("HTTP %d Location %q reached %v; want %d %q %v", rec.Code, rec.Header().Get("Location"), reached, c.want, c.location, c.reached)
			}
		})
	}
}
