package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// validator collects semantic errors with the line of the key they concern.
type validator struct {
	c    *Config
	errs []Error
	// broken are the keys that did not decode; references into them are
	// not checked, since the names they hold are unknown.
	broken []Error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, Error{Line: v.c.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) required(key, value string) bool {
	if value == "" {
		v.fail(key, "required")
		return false
	}
	return true
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.fail(key, "%q is not one of %v", value, allowed)
	}
}

func (v *validator) secret(key, path string) {
	if path == "" {
		return
	}
	if _, err := ReadSecret(path); err != nil {
		v.fail(key, "cannot read secret file %s: %v", path, err)
	}
}

// tls parses the files of the tls block at key as ClientConfig and
// KeyPair will, so that a file the validation passes does not stop the
// daemon. Files that cannot be read, and a certificate without its key,
// are reported by the callers.
func (v *validator) tls(key string, t TLS) {
	readable := func(path string) bool {
		_, err := ReadSecret(path)
		return path != "" && err == nil
	}
	if readable(t.CAFile) {
		if _, err := t.rootCAs(); err != nil {
			v.fail(key+".ca_file", "%v", err)
		}
	}
	if readable(t.CertFile) && readable(t.KeyFile) {
		if _, err := t.KeyPair(); err != nil {
			v.fail(key+".cert_file", "%v", err)
		}
	}
}

func (v *validator) cron(key, spec string) {
	if spec == "" {
		return
	}
	if _, err := CronParser.Parse(spec); err != nil {
		v.fail(key, "bad cron expression %q: %v", spec, err)
	}
}

func (v *validator) agency(key, name string) {
	if underAny("agencies", v.broken) {
		return
	}
	if _, ok := v.c.Agencies[name]; !ok {
		v.fail(key, "unknown agency %q (configured: %v)", name, v.c.AgencyNames())
	}
}

func (v *validator) broker(key, name string) {
	if underAny("brokers", v.broken) {
		return
	}
	if _, ok := v.c.Brokers[name]; !ok {
		v.fail(key, "unknown broker %q", name)
	}
}

func (v *validator) adapter(prefix string, known bool, kind, typ string, errs []KeyError) {
	if !known {
		v.fail(prefix+".type", "unknown %s type %q", kind, typ)
		return
	}
	for _, e := range errs {
		v.fail(prefix+"."+e.Key, "%s", e.Msg)
	}
}

func (c *Config) validate(reg Registry, broken []Error) []Error {
	v := &validator{c: c, broken: broken}
	v.required("terminal", c.Terminal)
	v.required("state_dir", c.StateDir)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	if len(c.Agencies) == 0 {
		v.fail("agencies", "at least one agency is required")
	}
	holds := map[string]string{}
	for _, name := range c.AgencyNames() {
		a, key := c.Agencies[name], "agencies."+name
		if v.required(key+".tos_hold", a.TOSHold) {
			if other, dup := holds[a.TOSHold]; dup {
				v.fail(key+".tos_hold", "hold code %q is already used by agency %s", a.TOSHold, other)
			}
			holds[a.TOSHold] = name
		}
		v.oneOf(key+".when_unknown", a.WhenUnknown, WhenUnknownHold, WhenUnknownIgnore)
	}
	// A TOS code belongs to one agency: the engine adds and removes it on
	// that agency's word alone. An agency's types may share one code.
	for _, name := range c.AgencyNames() {
		a, key := c.Agencies[name], "agencies."+name+".hold_codes"
		for _, typ := range slices.Sorted(maps.Keys(a.HoldCodes)) {
			code := a.HoldCodes[typ]
			switch other, dup := holds[code]; {
			case typ == "" || strings.TrimSpace(typ) != typ:
				v.fail(key, "hold type %q must be a non-empty word", typ)
			case code == "":
				v.fail(key+"."+typ, "TOS hold code required")
			case dup && other != name:
				v.fail(key+"."+typ, "hold code %q is already used by agency %s", code, other)
			default:
				holds[code] = name
			}
		}
	}
	for i, name := range c.ReleasePolicy.Required {
		v.agency(fmt.Sprintf("release_policy.required[%d]", i), name)
	}

	for name, b := range c.Brokers {
		key := "brokers." + name
		if v.required(key+".url", b.URL) {
			if u, err := url.Parse(b.URL); err != nil || u.Host == "" {
				v.fail(key+".url", "bad broker URL %q: want scheme://host:port", b.URL)
			} else {
				v.oneOf(key+".url", u.Scheme, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss")
			}
		}
		if b.PublishClientID != "" && b.PublishClientID == b.ClientID {
			v.fail(key+".publish_client_id", "%q is also the broker's client_id: the two connections would take over each other's session", b.PublishClientID)
		}
		v.secret(key+".username_file", b.UsernameFile)
		v.secret(key+".password_file", b.PasswordFile)
		v.secret(key+".tls.ca_file", b.TLS.CAFile)
		v.secret(key+".tls.cert_file", b.TLS.CertFile)
		v.secret(key+".tls.key_file", b.TLS.KeyFile)
		if (b.TLS.CertFile == "") != (b.TLS.KeyFile == "") {
			v.fail(key+".tls", "cert_file and key_file go together")
		}
		v.tls(key+".tls", b.TLS)
	}

	names := map[string]bool{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if v.required(key+".name", s.Name) {
			if names[s.Name] {
				v.fail(key+".name", "duplicate source name %q", s.Name)
			}
			names[s.Name] = true
			if strings.HasPrefix(s.Name, OverridePrefix) {
				v.fail(key+".name", "%q begins with %q, which marks an operator's override in the journal; choose another name", s.Name, OverridePrefix)
			}
		}
		if !v.required(key+".type", s.Type) {
			continue
		}
		v.oneOf(key+".kind", s.Kind, KindAgency, KindTOS, KindManifest)
		switch {
		case s.Kind == KindAgency && s.Agency == "":
			v.fail(key+".agency", "required for an agency source: name the one agency it speaks for")
		case s.Kind == KindAgency:
			v.agency(key+".agency", s.Agency)
		case s.Kind == KindTOS && s.Agency != "":
			v.fail(key+".agency", "a tos source speaks for no agency")
		}
		if !reg.HasFormat(s.Format) {
			v.fail(key+".format", "unknown format %q", s.Format)
		}
		if s.Broker != "" {
			v.broker(key+".broker", s.Broker)
		}
		v.secret(key+".token_file", s.TokenFile)
		v.secret(key+".hmac_key_file", s.HMACKeyFile)
		v.acks(key, s)
		if s.Type == "http_push" && s.TokenFile == "" && c.HTTP.TokenFile == "" {
			// The endpoint would take releases from anyone who can reach it.
			v.fail(key+".token_file", "an http_push source needs a token: set token_file here or http.token_file")
		}
		known, errs := reg.CheckSource(s)
		v.adapter(key, known, "source", s.Type, errs)
	}

	v.pushTokens()
	v.overrideToken()

	v.sink("tos.sink", c.TOS.Sink, reg.CheckSink, "sink")
	if s := c.TOS.Snapshot; s != nil {
		v.snapshot(s, reg.CheckSnapshot)
	}
	for i, ch := range c.Alerts.Channels {
		v.sink(fmt.Sprintf("alerts.channels[%d]", i), ch, reg.CheckChannel, "alert channel")
	}
	v.names()
	if c.SLA.ApplyWithin <= 0 {
		v.fail("sla.apply_within", "must be positive")
	}
	if c.MaxClockSkew < 0 {
		v.fail("max_clock_skew", "must not be negative")
	}
	if c.StatusTopic != "" {
		if _, ok := c.Brokers["main"]; !ok {
			v.fail("status_topic", "needs a broker named main to publish on")
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		v.fail("http.listen", "want host:port, got %q", c.HTTP.Listen)
	}
	for i, h := range c.HTTP.Hosts {
		v.host(fmt.Sprintf("http.hosts[%d]", i), h)
	}
	v.secret("http.token_file", c.HTTP.TokenFile)
	v.secret("http.override_token_file", c.HTTP.OverrideTokenFile)
	v.secret("http.tls.cert_file", c.HTTP.TLS.CertFile)
	v.secret("http.tls.key_file", c.HTTP.TLS.KeyFile)
	if (c.HTTP.TLS.CertFile == "") != (c.HTTP.TLS.KeyFile == "") {
		v.fail("http.tls", "cert_file and key_file go together")
	}
	v.tls("http.tls", c.HTTP.TLS)
	v.cron("schedules.sweep", c.Schedules.Sweep)
	v.cron("schedules.retention", c.Schedules.Retention)
	if c.Cluster != nil {
		v.cluster(c.Cluster)
	}
	return v.errs
}

// cluster checks the cluster block: an id that is among the peers, unique
// ids and addresses, host:port everywhere, URLs for known nodes only, and
// mutual TLS complete or absent.
func (v *validator) cluster(c *Cluster) {
	v.required("cluster.node_id", c.NodeID)
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		v.fail("cluster.listen", "want host:port, got %q", c.Listen)
	}
	if len(c.Peers) == 0 {
		v.fail("cluster.peers", "list every node as id=host:port, this one included")
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	for i, p := range c.Peers {
		key := fmt.Sprintf("cluster.peers[%d]", i)
		id, addr, ok := strings.Cut(p, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" {
			v.fail(key, "want id=host:port, got %q", p)
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			v.fail(key, "want id=host:port, got %q", p)
		}
		if ids[id] {
			v.fail(key, "node id %q listed twice", id)
		}
		if addrs[addr] {
			v.fail(key, "address %q listed twice", addr)
		}
		ids[id], addrs[addr] = true, true
	}
	if c.NodeID != "" && len(c.Peers) > 0 && !ids[c.NodeID] {
		v.fail("cluster.node_id", "%q is not among cluster.peers", c.NodeID)
	}
	for _, id := range slices.Sorted(maps.Keys(c.APIs)) {
		key := "cluster.apis." + id
		if !ids[id] {
			v.fail(key, "no node %q in cluster.peers", id)
		}
		if u, err := url.Parse(c.APIs[id]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(key, "want an http or https URL, got %q", c.APIs[id])
		}
	}
	if t := c.TLS; t != (TLS{}) {
		if t.CAFile == "" || t.CertFile == "" || t.KeyFile == "" {
			v.fail("cluster.tls", "mutual TLS needs ca_file, cert_file and key_file")
		}
		v.secret("cluster.tls.ca_file", t.CAFile)
		v.secret("cluster.tls.cert_file", t.CertFile)
		v.secret("cluster.tls.key_file", t.KeyFile)
		v.tls("cluster.tls", t)
	}
}

// host checks an http.hosts entry: a bare host name or IP address, as a
// Host header carries it without its port.
func (v *validator) host(key, h string) {
	switch {
	case h == "":
		v.fail(key, "empty host name")
	case strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@"):
		v.fail(key, "want a host name such as portsync.example, not a URL: %q", h)
	case net.ParseIP(strings.Trim(h, "[]")) != nil:
	case strings.HasPrefix(h, "["):
		v.fail(key, "want a host name or IP address without port, got %q", h)
	case strings.Contains(h, ":"):
		v.fail(key, "want a host name without port (the port is not compared), got %q", h)
	case !validHostName(h):
		v.fail(key, "%q is not a host name: want letters, digits, '-', '_' and '.'", h)
	}
}

func validHostName(h string) bool {
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return len(h) <= 253
}

func (v *validator) sink(key string, s Sink, check func(Sink) (bool, []KeyError), kind string) {
	if !v.required(key+".type", s.Type) {
		return
	}
	if s.Broker != "" {
		v.broker(key+".broker", s.Broker)
	}
	if s.QoS != nil && (*s.QoS < 0 || *s.QoS > 2) {
		v.fail(key+".qos", "want 0, 1 or 2, got %d", *s.QoS)
	}
	v.files(key, s.Keys)
	known, errs := check(s)
	v.adapter(key, known, kind, s.Type, errs)
}

// files checks the files an endpoint's own keys name, whatever its type,
// as the file's other secret and certificate files: each KEY_file key
// names a secret file, and a tls block names PEM files. The adapter
// decodes and checks the keys; it reads the files only when it is built.
func (v *validator) files(key string, k Keys) {
	for _, name := range k.Names() {
		if strings.HasSuffix(name, "_file") {
			v.secret(key+"."+name, os.ExpandEnv(k.Scalar(name)))
		}
	}
	var t struct {
		TLS TLS `yaml:"tls"`
	}
	if k.Line("tls") == 0 || len(k.Decode(&t)) > 0 {
		return // no tls block, or one the adapter reports as broken
	}
	v.secret(key+".tls.ca_file", t.TLS.CAFile)
	v.secret(key+".tls.cert_file", t.TLS.CertFile)
	v.secret(key+".tls.key_file", t.TLS.KeyFile)
	v.tls(key+".tls", t.TLS)
}

// snapshot checks tos.snapshot: an http_poll the sweep fetches, whose keys
// the registry checks even when the type is wrong, so that one pass lists
// every problem.
func (v *validator) snapshot(s *Sink, check func(Sink) []KeyError) {
	const key = "tos.snapshot"
	v.oneOf(key+".type", s.Type, "http_poll")
	v.files(key, s.Keys)
	for _, e := range check(*s) {
		v.fail(key+"."+e.Key, "%s", e.Msg)
	}
}

// pushTokens refuses http_push sources that share a token with each other
// or with the API. A push token names its source, so of two sources with
// one token only one could ever be reached; and a push token that is also
// the API token lets the agency read the whole API and every API client
// push as the agency. A token is shared when the files are one (however
// the path is spelled) or hold the same token.
func (v *validator) pushTokens() {
	type holder struct{ name, path, token string }
	read := func(path string) holder {
		h := holder{path: filepath.Clean(path)}
		h.token, _ = ReadSecret(h.path) // unreadable files are reported by secret
		return h
	}
	shares := func(a, b holder) bool { return a.path == b.path || (a.token != "" && a.token == b.token) }
	var api *holder
	if v.c.HTTP.TokenFile != "" {
		h := read(v.c.HTTP.TokenFile)
		api = &h
	}
	var seen []holder
	for i, s := range v.c.Sources {
		if s.Type != "http_push" || s.TokenFile == "" {
			continue
		}
		key := fmt.Sprintf("sources[%d].token_file", i)
		h := read(s.TokenFile)
		h.name = s.Name
		if j := slices.IndexFunc(seen, func(o holder) bool { return shares(h, o) }); j >= 0 {
			o := seen[j]
			if h.path == o.path {
				v.fail(key, "the same token file %s as source %q: a push token names its source, so %q and %q cannot both be reached; give each http_push source a token of its own",
					h.path, o.name, o.name, h.name)
			} else {
				v.fail(key, "the same token as source %q (%s and %s hold one token): a push token names its source, so %q and %q cannot both be reached; give each http_push source a token of its own",
					o.name, o.path, h.path, o.name, h.name)
			}
			continue
		}
		seen = append(seen, h)
		if api != nil && shares(h, *api) {
			v.fail(key, "source %q's token (%s) is the API's too (http.token_file %s): the agency could read the whole API and API clients could push as %q; give the source a token of its own",
				h.name, h.path, api.path, h.name)
		}
	}
}

// OverridePrefix begins the source name of an operator's override
// (override:WHO); no configured source may begin with it.
const OverridePrefix = "override:"

// overrideToken refuses an override token that is also the API token or an
// http_push source's: whoever holds the API token (every dashboard user)
// or an agency's push token could then change any agency's ledger by hand.
// A token is shared when the files are one (however the path is spelled)
// or hold the same token; an unreadable file is reported by secret.
func (v *validator) overrideToken() {
	path := v.c.HTTP.OverrideTokenFile
	if path == "" {
		return
	}
	path = filepath.Clean(path)
	token, _ := ReadSecret(path)
	shares := func(other string) (string, bool) {
		other = filepath.Clean(other)
		t, _ := ReadSecret(other)
		return other, other == path || (token != "" && t == token)
	}
	const key = "http.override_token_file"
	if api := v.c.HTTP.TokenFile; api != "" {
		if p, ok := shares(api); ok {
			v.fail(key, "%s holds the API's token too (http.token_file %s): every API and dashboard user could override an agency's decision; give overrides a token of their own", path, p)
			return
		}
	}
	for _, s := range v.c.Sources {
		if s.Type != "http_push" || s.TokenFile == "" {
			continue
		}
		if p, ok := shares(s.TokenFile); ok {
			v.fail(key, "%s holds source %q's push token too (%s): the agency's gateway could override by hand; give overrides a token of their own", path, s.Name, p)
			return
		}
	}
}

// acks checks a source's acknowledgement keys: ack_topic on mqtt sources
// (published on the source's own broker; the mqtt adapter refuses its
// subscription's topic), ack_dir on file_drop sources
// (an absolute path; the file_drop adapter refuses its spool directory).
func (v *validator) acks(key string, s Source) {
	if s.AckTopic != "" {
		switch {
		case s.Type != "mqtt":
			v.fail(key+".ack_topic", "only used by mqtt sources (an http_push source answers in its response, a file_drop source takes ack_dir), and this source's type is %q", s.Type)
		case strings.ContainsAny(s.AckTopic, "+#"):
			v.fail(key+".ack_topic", "%q is a topic filter: acknowledgements are published, so name one topic without + or #", s.AckTopic)
		}
	}
	if s.AckDir != "" {
		switch {
		case s.Type != "file_drop":
			v.fail(key+".ack_dir", "only used by file_drop sources, and this source's type is %q", s.Type)
		case !filepath.IsAbs(s.AckDir):
			v.fail(key+".ack_dir", "%q is not an absolute path", s.AckDir)
		}
	}
}
