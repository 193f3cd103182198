package config_test

import (
	"strings"
	"testing"

	"github.com/portsync/portsync/config"
)

// TestOverrideTokenIsATokenOfItsOwn: http.override_token_file is the one
// secret that lets an operator change an agency's ledger, so it must be
// readable and may be neither the API token (every dashboard user would
// hold it) nor an http_push source's (the agency could override itself).
func TestOverrideTokenIsATokenOfItsOwn(t *testing.T) {
	cases := []struct {
		name string
		// setup writes token files into dir and returns the YAML values of
		// the two push sources' token_file, http.token_file and
		// http.override_token_file.
		setup func(t *testing.T, dir string) (first, second, api, override string)
		want  []string // substrings of the one error at override_token_file; none: valid
	}{
		{
			name: "a token of its own",
			setup: func(t *testing.T, dir string) (string, string, string, string) {
				return writeSecret(t, dir, "c.token", "c"), writeSecret(t, dir, "q.token", "q"),
					writeSecret(t, dir, "api.token", "a"), writeSecret(t, dir, "override.token", "o\n")
			},
		},
		{
			name: "unreadable",
			setup: func(t *testing.T, dir string) (string, string, string, string) {
				return writeSecret(t, dir, "c.token", "c"), writeSecret(t, dir, "q.token", "q"), "", dir + "/missing.token"
			},
			want: []string{"missing.token"},
		},
		{
			name: "the API token file",
			setup: func(t *testing.T, dir string) (string, string, string, string) {
				api := writeSecret(t, dir, "api.token", "a")
				return writeSecret(t, dir, "c.token", "c"), writeSecret(t, dir, "q.token", "q"), api, api
			},
			want: []string{"http.token_file", "api.token"},
		},
		{
			name: "the API token in another file",
			setup: func(t *testing.T, dir string) (string, string, string, string) {
				return writeSecret(t, dir, "c.token", "c"), writeSecret(t, dir, "q.token", "q"),
					writeSecret(t, dir, "api.token", "same\n"), writeSecret(t, dir, "override.token", " same")
			},
			want: []string{"http.token_file", "api.token", "override.token"},
		},
		{
			name: "a push source's token",
			setup: func(t *testing.T, dir string) (string, string, string, string) {
				return writeSecret(t, dir, "c.token", "c"), writeSecret(t, dir, "q.token", "q"), "", writeSecret(t, dir, "override.token", "q\n")
			},
			want: []string{"ciq-push", "q.token", "override.token"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := baseText(t)
			first, second, api, override := tc.setup(t, dir)
			text := withPushSources(t, base, first, second, api)
			text = replaceOnce(t, text, "  listen: 127.0.0.1:9740\n", "  listen: 127.0.0.1:9740\n  override_token_file: "+override+"\n")
			cfg, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid file refused:\n%v", err)
				}
				if cfg.HTTP.OverrideTokenFile != override {
					t.Fatalf("http.override_token_file = %q, want %q", cfg.HTTP.OverrideTokenFile, override)
				}
				return
			}
			errs := configErrors(t, err)
			line := lineOf(t, text, "override_token_file:")
			if len(errs) != 1 || errs[0].Key != "http.override_token_file" || errs[0].Line != line {
				t.Fatalf("want one error for http.override_token_file on line %d, got:\n%v", line, errs)
			}
			for _, sub := range tc.want {
				if !strings.Contains(errs[0].Msg, sub) {
					t.Errorf("message %q does not contain %q", errs[0].Msg, sub)
				}
			}
		})
	}
}

// TestSourceNameMayNotLookLikeAnOverride: the journal and the ledger tell
// an operator's override by its source name, override:WHO.
func TestSourceNameMayNotLookLikeAnOverride(t *testing.T) {
	base, _ := baseText(t)
	text := strings.Replace(base, "name: customs-mqtt", "name: \"override:x\"", 1)
	if text == base {
		t.Fatal("could not rename a source")
	}
	errs := configErrors(t, func() error { _, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{}); return err }())
	if len(errs) != 1 || errs[0].Key != "sources[0].name" || !strings.Contains(errs[0].Msg, "override:") {
		t.Fatalf("want one error at sources[0].name about override:, got:\n%v", errs)
	}
}
