package config_test

import (
	"testing"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
)

// TestParseChecksCertificates: the validation parses the certificates and
// keys the daemon will load (a CA that is not PEM, a certificate with
// another certificate's key), for every TLS block, so that a file `check`
// passes does not make `run` exit.
func TestParseChecksCertificates(t *testing.T) {
	pki := testpki.New(t, "config test")
	cases := []struct {
		name string
		edit func(t *testing.T, text, dir string) string
		want []wantErr
	}{
		{
			name: "valid certificates everywhere",
			edit: func(t *testing.T, s, _ string) string {
				s = replaceOnce(t, s, "    password_file:", "    tls: {ca_file: "+pki.CAFile+", cert_file: "+pki.ClientCert+", key_file: "+pki.ClientKey+"}\n    password_file:")
				s = replaceOnce(t, s, "    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}\n",
					"    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}\n    - {type: webhook, url: https://hooks.example/x, tls: {ca_file: "+pki.CAFile+"}}\n")
				s = replaceOnce(t, s, "sla:\n", "  snapshot: {type: http_poll, url: https://tos.example/holds, tls: {ca_file: "+pki.CAFile+"}}\nsla:\n")
				return replaceOnce(t, s, "  listen: 127.0.0.1:9740\n", "  listen: 127.0.0.1:9740\n  tls: {cert_file: "+pki.ServerCert+", key_file: "+pki.ServerKey+"}\n")
			},
		},
		{
			name: "broker CA not PEM",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "    password_file:", "    tls:\n      ca_file: "+dir+"/mqtt.pass\n    password_file:")
			},
			want: []wantErr{{"ca_file:", "brokers.main.tls.ca_file", []string{"mqtt.pass", "no PEM certificate"}}},
		},
		{
			name: "broker certificate with another's key",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    password_file:", "    tls:\n      cert_file: "+pki.ClientCert+"\n      key_file: "+pki.ServerKey+"\n    password_file:")
			},
			want: []wantErr{{"cert_file:", "brokers.main.tls.cert_file", []string{"client.crt", "server.key", "does not match"}}},
		},
		{
			name: "alert channel CA not PEM",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}\n",
					"    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}\n    - type: webhook\n      url: https://hooks.example/x\n      tls: {ca_file: "+dir+"/mqtt.pass}\n")
			},
			want: []wantErr{{"tls: {ca_file", "alerts.channels[1].tls.ca_file", []string{"no PEM certificate"}}},
		},
		{
			name: "TOS sink key not PEM",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "    topic: tos/CNSHA-T1/commands\n", "    topic: tos/CNSHA-T1/commands\n    tls: {cert_file: "+pki.ClientCert+", key_file: "+dir+"/mqtt.pass}\n")
			},
			want: []wantErr{{"tls: {cert_file", "tos.sink.tls.cert_file", []string{"mqtt.pass"}}},
		},
		{
			name: "TOS snapshot CA not PEM",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "sla:\n", "  snapshot:\n    type: http_poll\n    url: https://tos.example/holds\n    tls: {ca_file: "+dir+"/mqtt.pass}\nsla:\n")
			},
			want: []wantErr{{"tls: {ca_file", "tos.snapshot.tls.ca_file", []string{"no PEM certificate"}}},
		},
		{
			name: "HTTPS certificate with another's key",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  listen: 127.0.0.1:9740\n", "  listen: 127.0.0.1:9740\n  tls:\n    cert_file: "+pki.ServerCert+"\n    key_file: "+pki.ClientKey+"\n")
			},
			want: []wantErr{{"cert_file:", "http.tls.cert_file", []string{"server.crt", "client.key", "does not match"}}},
		},
		{
			name: "HTTPS certificate not PEM",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "  listen: 127.0.0.1:9740\n", "  listen: 127.0.0.1:9740\n  tls:\n    cert_file: "+dir+"/mqtt.pass\n    key_file: "+pki.ServerKey+"\n")
			},
			want: []wantErr{{"cert_file:", "http.tls.cert_file", []string{"mqtt.pass"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := baseText(t)
			text := tc.edit(t, base, dir)
			_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid file refused:\n%v", err)
				}
				return
			}
			checkErrors(t, text, configErrors(t, err), tc.want)
		})
	}
}
