package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFollowLeaderKeepsTheToken: a write sent to a follower reaches the
// leader on another host with its body and token (Go's client would drop
// the token across hosts).
func TestFollowLeaderKeepsTheToken(t *testing.T) {
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" || string(body) != `{"x":1}` || r.Method != http.MethodPost {
			http.Error(w, "auth "+r.Header.Get("Authorization")+" body "+string(body), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer leader.Close()
	// The leader's URL by another name than the follower's: "localhost"
	// against "127.0.0.1", another host as far as the client can tell.
	leaderURL := strings.Replace(leader.URL, "127.0.0.1", "localhost", 1)
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, leaderURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer follower.Close()

	for _, follow := range []bool{false, true} {
		hc := &http.Client{}
		if follow {
			hc.CheckRedirect = FollowLeader
		}
		req, _ := http.NewRequest(http.MethodPost, follower.URL+"/api/v1/sweep", strings.NewReader(`{"x":1}`))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusUnauthorized, true: http.StatusAccepted}[follow]; resp.StatusCode != want {
			t.Errorf("FollowLeader %v: HTTP %d, want %d", follow, resp.StatusCode, want)
		}
	}
}

// TestFollowLeaderKeepsTheTokenInTLS: the token is never carried from an
// HTTPS node to a leader reached over plain HTTP.
func TestFollowLeaderKeepsTheTokenInTLS(t *testing.T) {
	from, _ := http.NewRequest(http.MethodPost, "https://10.0.0.1:9740/api/v1/sweep", nil)
	from.Header.Set("Authorization", "Bearer tok")
	to, _ := http.NewRequest(http.MethodPost, "http://10.0.0.2:9740/api/v1/sweep", nil)
	if err := FollowLeader(to, []*http.Request{from}); err == nil || to.Header.Get("Authorization") != "" {
		t.Errorf("FollowLeader from https to http = %v, token %q; want a refusal and no token", err, to.Header.Get("Authorization"))
	}
}
