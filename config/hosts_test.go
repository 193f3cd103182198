package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portsync/portsync/config"
)

func TestHTTPHosts(t *testing.T) {
	text, _ := baseText(t)
	ok := strings.Replace(text, "  listen: 127.0.0.1:9740\n",
		"  listen: 127.0.0.1:9740\n  hosts: [portsync.t1.example, Portsync-2.example., 10.0.0.5, \"::1\", \"[fe80::1]\", t1_gate]\n", 1)
	c, err := config.Parse("ok.yaml", []byte(ok), fakeRegistry{})
	if err != nil {
		t.Fatalf("valid http.hosts refused:\n%v", err)
	}
	if want := []string{"portsync.t1.example", "Portsync-2.example.", "10.0.0.5", "::1", "[fe80::1]", "t1_gate"}; !slices.Equal(c.HTTP.Hosts, want) {
		t.Fatalf("http.hosts = %v, want %v", c.HTTP.Hosts, want)
	}

	bad := strings.Replace(text, "  listen: 127.0.0.1:9740\n",
		"  listen: 127.0.0.1:9740\n  hosts:\n    - \"\"\n    - https://portsync.example\n    - portsync.example/api\n    - portsync.example:9740\n    - \"[::1]:9740\"\n    - \"port sync\"\n    - good.example\n", 1)
	_, err = config.Parse("bad.yaml", []byte(bad), fakeRegistry{})
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want config.Errors, got %v", err)
	}
	checkErrors(t, bad, errs, []wantErr{
		{`- ""`, "http.hosts[0]", []string{"empty"}},
		{"- https://portsync.example", "http.hosts[1]", []string{"not a URL"}},
		{"- portsync.example/api", "http.hosts[2]", []string{"not a URL"}},
		{"- portsync.example:9740", "http.hosts[3]", []string{"without port"}},
		{`- "[::1]:9740"`, "http.hosts[4]", []string{"without port"}},
		{`- "port sync"`, "http.hosts[5]", []string{"not a host name"}},
	})
}
