package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsync/portsync/config"
)

// withPushSources adds two http_push sources, customs-push and ciq-push,
// before tos: with the token files given (as written in the YAML), and,
// when api is not empty, http.token_file.
func withPushSources(t *testing.T, text, first, second, api string) string {
	t.Helper()
	text = replaceOnce(t, text, "tos:\n", "  - name: customs-push\n    type: http_push\n    kind: agency\n    agency: customs\n    token_file: "+first+"\n"+
		"  - name: ciq-push\n    type: http_push\n    kind: agency\n    agency: quarantine\n    token_file: "+second+"\n"+
		"tos:\n")
	if api != "" {
		text = replaceOnce(t, text, "  listen: 127.0.0.1:9740\n", "  listen: 127.0.0.1:9740\n  token_file: "+api+"\n")
	}
	return text
}

// TestPushSourcesNeedTokensOfTheirOwn: the token of an http_push source is
// what names the source, so two sources with one token (one file, however
// it is spelled, or two files holding the same token) leave one of them
// unreachable; and a push token that is also the API token lets the agency
// read the whole API and the API's users push as the agency.
func TestPushSourcesNeedTokensOfTheirOwn(t *testing.T) {
	cases := []struct {
		name string
		// setup writes the token files into dir and returns the YAML
		// values of the two push sources' token_file and of
		// http.token_file ("" for none).
		setup func(t *testing.T, dir string) (first, second, api string)
		// want are substrings of the error at the second push source's
		// token_file line; none means the file is valid.
		want []string
	}{
		{
			name: "tokens of their own",
			setup: func(t *testing.T, dir string) (string, string, string) {
				return writeSecret(t, dir, "customs.token", "c-token\n"), writeSecret(t, dir, "ciq.token", "q-token\n"), writeSecret(t, dir, "api.token", "a-token\n")
			},
		},
		{
			name: "one file",
			setup: func(t *testing.T, dir string) (string, string, string) {
				p := writeSecret(t, dir, "push.token", "p-token\n")
				return p, p, ""
			},
			want: []string{"customs-push", "ciq-push", "push.token", "same token file"},
		},
		{
			name: "one file spelled two ways",
			setup: func(t *testing.T, dir string) (string, string, string) {
				p := writeSecret(t, dir, "push.token", "p-token\n")
				return p, filepath.Dir(p) + "//./push.token", ""
			},
			want: []string{"customs-push", "ciq-push", "push.token", "same token file"},
		},
		{
			name: "one file through an environment variable",
			setup: func(t *testing.T, dir string) (string, string, string) {
				p := writeSecret(t, dir, "push.token", "p-token\n")
				t.Setenv("PUSH_TOKENS", dir)
				return p, "${PUSH_TOKENS}/push.token", ""
			},
			want: []string{"customs-push", "ciq-push", "push.token", "same token file"},
		},
		{
			name: "two files with one token",
			setup: func(t *testing.T, dir string) (string, string, string) {
				return writeSecret(t, dir, "customs.token", "shared\n"), writeSecret(t, dir, "ciq.token", "  shared"), ""
			},
			want: []string{"customs-push", "ciq-push", "customs.token", "ciq.token", "same token"},
		},
		{
			name: "the API token file",
			setup: func(t *testing.T, dir string) (string, string, string) {
				p := writeSecret(t, dir, "api.token", "a-token\n")
				return writeSecret(t, dir, "customs.token", "c-token\n"), p, p
			},
			want: []string{"ciq-push", "http.token_file", "api.token"},
		},
		{
			name: "the API token in another file",
			setup: func(t *testing.T, dir string) (string, string, string) {
				return writeSecret(t, dir, "customs.token", "c-token\n"), writeSecret(t, dir, "ciq.token", "a-token"), writeSecret(t, dir, "api.token", "a-token\n")
			},
			want: []string{"ciq-push", "http.token_file", "api.token", "ciq.token"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := baseText(t)
			first, second, api := tc.setup(t, dir)
			text := withPushSources(t, base, first, second, api)
			_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid file refused:\n%v", err)
				}
				return
			}
			errs := configErrors(t, err)
			// ciq-push's token_file is the second one in the file.
			secondLine := lineOf(t, text, "name: ciq-push") + 4
			if len(errs) != 1 || errs[0].Key != "sources[3].token_file" || errs[0].Line != secondLine {
				t.Fatalf("want one error for sources[3].token_file on line %d, got:\n%v", secondLine, errs)
			}
			for _, sub := range tc.want {
				if !strings.Contains(errs[0].Msg, sub) {
					t.Errorf("message %q does not contain %q", errs[0].Msg, sub)
				}
			}
		})
	}
}
