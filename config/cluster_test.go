package config_test

import (
	"strings"
	"testing"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
)

// TestClusterBlock: the cluster block's checks, each naming its key and
// line as `portsync check` prints them.
func TestClusterBlock(t *testing.T) {
	pki := testpki.New(t, "cluster test")
	cert, key := pki.Peer(t, "t1-a")
	const good = "cluster:\n  node_id: t1-a\n  listen: 127.0.0.1:9741\n  peers: [t1-a=127.0.0.1:9741, t1-b=127.0.0.2:9741, t1-c=127.0.0.3:9741]\n"
	cases := []struct {
		name  string
		block string
		want  []wantErr
	}{
		{name: "three nodes", block: good},
		{name: "with apis and mutual TLS", block: good + "  apis: {t1-b: http://127.0.0.2:19740}\n  tls: {ca_file: " + pki.CAFile + ", cert_file: " + cert + ", key_file: " + key + "}\n"},
		{name: "node not among the peers", block: strings.Replace(good, "node_id: t1-a", "node_id: t1-x", 1),
			want: []wantErr{{"node_id: t1-x", "cluster.node_id", []string{`"t1-x" is not among cluster.peers`}}}},
		{name: "no node id", block: strings.Replace(good, "  node_id: t1-a\n", "", 1),
			want: []wantErr{{"cluster:", "cluster.node_id", []string{"required"}}}},
		{name: "listen not host:port", block: strings.Replace(good, "listen: 127.0.0.1:9741", "listen: 9741", 1),
			want: []wantErr{{"listen: 9741", "cluster.listen", []string{`"9741"`}}}},
		{name: "peer without an id", block: strings.Replace(good, "t1-c=127.0.0.3:9741", "127.0.0.3:9741", 1),
			want: []wantErr{{"peers:", "cluster.peers[2]", []string{"id=host:port", `"127.0.0.3:9741"`}}}},
		{name: "peer id twice", block: strings.Replace(good, "t1-c=", "t1-b=", 1),
			want: []wantErr{{"peers:", "cluster.peers[2]", []string{`"t1-b" listed twice`}}}},
		{name: "address twice", block: strings.Replace(good, "127.0.0.3:9741", "127.0.0.2:9741", 1),
			want: []wantErr{{"peers:", "cluster.peers[2]", []string{`"127.0.0.2:9741" listed twice`}}}},
		{name: "api of an unknown node", block: good + "  apis: {t1-z: http://127.0.0.9:9740}\n",
			want: []wantErr{{"apis:", "cluster.apis.t1-z", []string{`no node "t1-z"`}}}},
		{name: "api not a URL", block: good + "  apis: {t1-b: 127.0.0.2:9740}\n",
			want: []wantErr{{"apis:", "cluster.apis.t1-b", []string{"http or https URL"}}}},
		{name: "TLS without a key", block: good + "  tls: {ca_file: " + pki.CAFile + ", cert_file: " + cert + "}\n",
			want: []wantErr{{"tls:", "cluster.tls", []string{"ca_file, cert_file and key_file"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, _ := baseText(t)
			text := base + tc.block
			cfg, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid file refused:\n%v", err)
				}
				if got := len(cfg.Cluster.PeerList()); got != 3 {
					t.Errorf("PeerList has %d peers, want 3", got)
				}
				return
			}
			checkErrors(t, text, configErrors(t, err), tc.want)
		})
	}
}
