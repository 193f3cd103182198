package httpout_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters/httpout"
)

func TestRedirectNotFollowed(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
		}
	}))
	defer srv.Close()
	c, err := httpout.New(httpout.Config{URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Post(context.Background(), srv.URL+"/old", "application/json", []byte("{}"), nil)
	var se *httpout.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusFound || !se.Refused() || !strings.Contains(err.Error(), "/new") {
		t.Errorf("Post = %v, want a refused 302 naming the new URL", err)
	}
	if hits != 1 {
		t.Errorf("%d requests, want the redirect not followed", hits)
	}
}

func TestStatusErrorRedactsPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	c, _ := httpout.New(httpout.Config{}, nil)
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	_, err := c.Post(context.Background(), u, "text/plain", nil, nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") || httpout.IsRefused(err) {
		t.Errorf("Post = %v, want a retryable error without the password", err)
	}
}

func TestThrottle(t *testing.T) {
	var th httpout.Throttle
	now := time.Now()
	if !th.Allow(now) || th.Allow(now.Add(30*time.Second)) || !th.Allow(now.Add(61*time.Second)) {
		t.Error("Throttle does not allow once a minute")
	}
}
