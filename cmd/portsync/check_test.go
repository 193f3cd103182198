package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
	"github.com/portsync/portsync/sync/daemon"
)

// runPortsyncCheck runs `portsync check -config file` and returns its exit
// code, standard output and standard error.
func runPortsyncCheck(t *testing.T, file string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(portsyncBinary(t), "check", "-config", file)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run portsync check: %v", err)
	}
	return code, out.String(), errOut.String()
}

// checkTestConfig is a valid configuration for the adapters the binary
// ships (mqtt, json). STATE and SECRETS are replaced by directories.
const checkTestConfig = `terminal: CNSHA-T1
state_dir: STATE
log: {level: info, format: text}
agencies:
  customs:    {tos_hold: CUSTOMS}
  quarantine: {tos_hold: CIQ, when_unknown: ignore}
release_policy:
  required: [customs, quarantine]
brokers:
  main:
    url: tcp://127.0.0.1:1883
    password_file: SECRETS/mqtt.pass
sources:
  - name: customs-mqtt
    type: mqtt
    broker: main
    topic: customs/CNSHA-T1/releases
    kind: agency
    agency: customs
  - name: tos-events
    type: mqtt
    broker: main
    topic: tos/CNSHA-T1/events
    kind: tos
tos:
  sink: {type: mqtt, broker: main, topic: tos/CNSHA-T1/commands}
alerts:
  channels:
    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}
status_topic: portsync/CNSHA-T1/status
schedules:
  sweep: "*/5 * * * *"
`

// writeCheckConfig writes checkTestConfig, changed by the replacer
// pairs (old, new; each old must occur exactly once), into a new
// directory with its secret file, and returns the file's path and its
// text. The state directory it names does not exist.
func writeCheckConfig(t *testing.T, oldnew ...string) (path, text string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mqtt.pass"), []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text = checkTestConfig
	for i := 0; i+1 < len(oldnew); i += 2 {
		if n := strings.Count(text, oldnew[i]); n != 1 {
			t.Fatalf("%q occurs %d times in the config, want once", oldnew[i], n)
		}
		text = strings.Replace(text, oldnew[i], oldnew[i+1], 1)
	}
	text = strings.ReplaceAll(text, "STATE", filepath.Join(dir, "no", "such", "state"))
	text = strings.ReplaceAll(text, "SECRETS", dir)
	path = filepath.Join(dir, "portsync.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, text
}

// checkLineOf is the 1-based number of the first line of text containing
// marker.
func checkLineOf(t *testing.T, text, marker string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("marker %q not in config", marker)
	return 0
}

// checkProblem is a line `portsync check` must print: FILE:LINE: key:
// message, where LINE is that of the first line containing marker and
// the message contains msg.
type checkProblem struct {
	marker, key, msg string
}

// assertCheckProblems asserts that stderr is exactly one line per wanted
// problem, each FILE:LINE: key: message, in line order.
func assertCheckProblems(t *testing.T, path, text, stderr string, want []checkProblem) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+): (\S+): (.+)$`)
	type got struct {
		line     int
		key, msg string
	}
	var gots []got
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stderr line %q is not %s:LINE: key: message", l, path)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		gots = append(gots, got{n, m[2], m[3]})
	}
	for _, w := range want {
		line := checkLineOf(t, text, w.marker)
		found := false
		for _, g := range gots {
			if g.key == w.key {
				found = true
				if g.line != line {
					t.Errorf("%s reported on line %d, want %d", w.key, g.line, line)
				}
				if !strings.Contains(g.msg, w.msg) {
					t.Errorf("%s: message %q does not contain %q", w.key, g.msg, w.msg)
				}
			}
		}
		if !found {
			t.Errorf("no line for %s (%s) on stderr", w.key, w.msg)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("stderr has %d lines, want %d (one per problem)", len(lines), len(want))
	}
	for i := 1; i < len(gots); i++ {
		if gots[i].line < gots[i-1].line {
			t.Errorf("problems not in line order: line %d after line %d", gots[i].line, gots[i-1].line)
		}
	}
	if t.Failed() {
		t.Logf("config:\n%s\nstderr:\n%s", text, stderr)
	}
}

func TestCheckValidFile(t *testing.T) {
	path, _ := writeCheckConfig(t)
	code, stdout, stderr := runPortsyncCheck(t, path)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "ok") {
		t.Errorf("stdout %q does not say ok", stdout)
	}
	if stderr != "" {
		t.Errorf("stderr not empty for a valid file:\n%s", stderr)
	}
}

// TestCheckDoesNotNeedStateDir: check validates a file on a machine other
// than the one that runs the daemon; it neither needs nor creates the
// state directory.
func TestCheckDoesNotNeedStateDir(t *testing.T) {
	path, _ := writeCheckConfig(t)
	state := filepath.Join(filepath.Dir(path), "no", "such", "state")
	code, _, stderr := runPortsyncCheck(t, path)
	if code != 0 {
		t.Fatalf("exit %d with a state_dir that does not exist, want 0; stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "no")); !os.IsNotExist(err) {
		t.Errorf("check created the state directory %s (stat: %v)", state, err)
	}
}

// TestCheckSeveralProblems: every problem, each on its own line, whether
// the decoder (unknown key) or the validator (unknown agency, bad cron
// expression) finds it.
func TestCheckSeveralProblems(t *testing.T) {
	path, text := writeCheckConfig(t,
		"    agency: customs\n", "    agency: customz\n",
		"    kind: tos\n", "    kind: tos\n    qoss: 1\n",
		`sweep: "*/5 * * * *"`, `sweep: "*/5 * * *"`,
	)
	code, stdout, stderr := runPortsyncCheck(t, path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if strings.Contains(stdout, "ok") {
		t.Errorf("stdout says ok for a bad file: %q", stdout)
	}
	assertCheckProblems(t, path, text, stderr, []checkProblem{
		{"agency: customz", "sources[0].agency", "unknown agency"},
		{"qoss: 1", "sources[1].qoss", "unknown key"},
		{"sweep:", "schedules.sweep", "cron"},
	})
}

// TestCheckSeveralValidationProblems is TestCheckSeveralProblems without
// the unknown key: values the decoder accepts but the validator rejects.
func TestCheckSeveralValidationProblems(t *testing.T) {
	path, text := writeCheckConfig(t,
		"    agency: customs\n", "    agency: customz\n",
		"  required: [customs, quarantine]", "  required: [customs, port]",
		`sweep: "*/5 * * * *"`, `sweep: "*/5 * * *"`,
		"/mqtt.pass", "/missing.pass",
	)
	code, _, stderr := runPortsyncCheck(t, path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	assertCheckProblems(t, path, text, stderr, []checkProblem{
		{"required: [customs, port]", "release_policy.required[1]", `unknown agency "port"`},
		{"password_file:", "brokers.main.password_file", "missing.pass"},
		{"agency: customz", "sources[0].agency", `unknown agency "customz"`},
		{"sweep:", "schedules.sweep", "cron"},
	})
}

// TestCheckSeveralDecodeProblems: unknown keys and wrong types.
func TestCheckSeveralDecodeProblems(t *testing.T) {
	path, text := writeCheckConfig(t,
		"    kind: tos\n", "    kind: tos\n    qoss: 1\n",
		"    kind: agency\n", "    kind: agency\n    qos: \"one\"\n",
		"log: {level: info, format: text}", "log: verbose",
	)
	code, _, stderr := runPortsyncCheck(t, path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	assertCheckProblems(t, path, text, stderr, []checkProblem{
		{"log: verbose", "log", "want a mapping"},
		{`qos: "one"`, "sources[0].qos", "integer"},
		{"qoss: 1", "sources[1].qoss", "unknown key"},
	})
}

func TestCheckUnknownAdapterType(t *testing.T) {
	path, text := writeCheckConfig(t,
		"    type: mqtt\n    broker: main\n    topic: tos/", "    type: amqp\n    broker: main\n    topic: tos/",
	)
	code, _, stderr := runPortsyncCheck(t, path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	assertCheckProblems(t, path, text, stderr, []checkProblem{
		{"type: amqp", "sources[1].type", `"amqp"`},
	})
}

func TestCheckMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	code, stdout, stderr := runPortsyncCheck(t, path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, path) {
		t.Errorf("stderr does not name %s:\n%s", path, stderr)
	}
	if strings.Contains(stdout, "ok") {
		t.Errorf("stdout says ok for a missing file: %q", stdout)
	}
}

// checkFullConfig uses every adapter type the binary ships, with TLS
// wherever it applies. SECRETS is a directory with mqtt.pass, api.token,
// push.token and a drop/ directory; PKI is a testpki directory; STATE
// does not exist.
const checkFullConfig = `terminal: CNSHA-T1
state_dir: STATE
log: {level: info, format: text}
agencies:
  customs:    {tos_hold: CUSTOMS}
  quarantine: {tos_hold: CIQ, when_unknown: ignore}
brokers:
  main:
    url: ssl://127.0.0.1:8883
    password_file: SECRETS/mqtt.pass
    tls:
      ca_file: PKI/ca.crt
      cert_file: PKI/client.crt
      key_file: PKI/client.key
sources:
  - name: customs-mqtt
    type: mqtt
    broker: main
    topic: customs/releases
    kind: agency
    agency: customs
  - name: tos-events
    type: mqtt
    broker: main
    topic: tos/events
    kind: tos
  - name: customs-poll
    type: http_poll
    url: https://customs.example/api/releases
    schedule: "@every 30s"
    kind: agency
    agency: customs
    format: mapped_json
    mapping:
      records: data
      id: ref
      status: state
      containers: boxes
      at: decided
      at_layout: "2006-01-02 15:04:05"
      at_zone: Asia/Shanghai
      status_values: {RELEASED: released, HOLD: held}
  - name: cusres-drop
    type: file_drop
    dir: SECRETS/drop
    kind: agency
    agency: customs
    format: edifact
    time_zone: Asia/Shanghai
    status_codes: {"4": released, "5": held}
  - name: x12-drop
    type: file_drop
    dir: SECRETS/drop/x12
    kind: agency
    agency: customs
    format: x12_350
    status_codes: {"1C": released}
  - name: ciq-push
    type: http_push
    kind: agency
    agency: quarantine
    token_file: SECRETS/push.token
tos:
  sink:
    type: http
    url: https://tos.example/api/commands
    tls:
      ca_file: PKI/ca.crt
  snapshot:
    type: http_poll
    url: https://tos.example/api/holds
    tls:
      ca_file: PKI/ca.crt
alerts:
  channels:
    - {type: mqtt, broker: main, topic: portsync/alerts}
    - type: webhook
      template: slack
      url: https://hooks.example/portsync
      tls:
        ca_file: PKI/ca.crt
        cert_file: PKI/client.crt
        key_file: PKI/client.key
    - type: alertmanager
      url: https://am.example:9093
      tls:
        ca_file: PKI/ca.crt
    - type: email
      smtp: mail.example:587
      from: portsync <portsync@terminal.example>
      to: [ops@terminal.example]
      tls:
        ca_file: PKI/ca.crt
status_topic: portsync/status
http:
  listen: 127.0.0.1:0
  token_file: SECRETS/api.token
  tls:
    cert_file: PKI/server.crt
    key_file: PKI/server.key
schedules:
  sweep: "*/5 * * * *"
`

// writeFullConfig writes checkFullConfig, changed by the replacer pairs
// (old, new; each old must occur exactly once), with its secrets,
// directories and certificates, and returns the file's path, its text and
// the replacer that filled in its placeholders.
func writeFullConfig(t *testing.T, oldnew ...string) (path, text string, expand *strings.Replacer) {
	t.Helper()
	dir := t.TempDir()
	pki := testpki.New(t, "check test")
	for name, content := range map[string]string{"mqtt.pass": "hunter2\n", "api.token": "api-token\n", "push.token": "push-token\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "drop", "x12"), 0o755); err != nil {
		t.Fatal(err)
	}
	text = checkFullConfig
	for i := 0; i+1 < len(oldnew); i += 2 {
		if n := strings.Count(text, oldnew[i]); n != 1 {
			t.Fatalf("%q occurs %d times in the config, want once", oldnew[i], n)
		}
		text = strings.Replace(text, oldnew[i], oldnew[i+1], 1)
	}
	expand = strings.NewReplacer("STATE", filepath.Join(dir, "no", "such", "state"), "SECRETS", dir, "PKI", pki.Dir)
	text = expand.Replace(text)
	path = filepath.Join(dir, "portsync.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, text, expand
}

// checkRefusals are inputs that `run` refuses before it touches the
// network, each as a change to checkFullConfig and the problem `check`
// must report for it.
var checkRefusals = []struct {
	name   string
	oldnew []string
	want   checkProblem
}{
	{"broker CA not PEM", []string{"      ca_file: PKI/ca.crt\n      cert_file", "      ca_file: SECRETS/mqtt.pass\n      cert_file"},
		checkProblem{"ca_file: SECRETS/mqtt.pass", "brokers.main.tls.ca_file", "no PEM certificate"}},
	{"broker certificate without key", []string{"      cert_file: PKI/client.crt\n      key_file: PKI/client.key\n", "      cert_file: PKI/client.crt\n"},
		checkProblem{"    tls:", "brokers.main.tls", "go together"}},
	{"broker certificate with another's key", []string{"\n      key_file: PKI/client.key\n", "\n      key_file: PKI/server.key\n"},
		checkProblem{"      cert_file: PKI/client.crt", "brokers.main.tls.cert_file", "does not match"}},
	{"TOS sink CA not PEM", []string{"    url: https://tos.example/api/commands\n    tls:\n      ca_file: PKI/ca.crt", "    url: https://tos.example/api/commands\n    tls:\n      ca_file: PKI/client.key"},
		checkProblem{"ca_file: PKI/client.key", "tos.sink.tls.ca_file", "no PEM certificate"}},
	{"TOS snapshot CA not PEM", []string{"    url: https://tos.example/api/holds\n    tls:\n      ca_file: PKI/ca.crt", "    url: https://tos.example/api/holds\n    tls:\n      ca_file: SECRETS/api.token"},
		checkProblem{"ca_file: SECRETS/api.token", "tos.snapshot.tls.ca_file", "no PEM certificate"}},
	{"webhook certificate without key", []string{"        cert_file: PKI/client.crt\n        key_file: PKI/client.key\n", "        cert_file: PKI/client.crt\n"},
		checkProblem{"      tls:", "alerts.channels[1].tls", "go together"}},
	{"webhook certificate with another's key", []string{"        key_file: PKI/client.key\n", "        key_file: PKI/server.key\n"},
		checkProblem{"        cert_file: PKI/client.crt", "alerts.channels[1].tls.cert_file", "does not match"}},
	{"alertmanager CA not PEM", []string{"      url: https://am.example:9093\n      tls:\n        ca_file: PKI/ca.crt", "      url: https://am.example:9093\n      tls:\n        ca_file: SECRETS/mqtt.pass"},
		checkProblem{"ca_file: SECRETS/mqtt.pass", "alerts.channels[2].tls.ca_file", "no PEM certificate"}},
	{"email CA not PEM", []string{"      to: [ops@terminal.example]\n      tls:\n        ca_file: PKI/ca.crt", "      to: [ops@terminal.example]\n      tls:\n        ca_file: PKI/server.key"},
		checkProblem{"ca_file: PKI/server.key", "alerts.channels[3].tls.ca_file", "no PEM certificate"}},
	{"HTTPS certificate with another's key", []string{"    key_file: PKI/server.key\n", "    key_file: PKI/client.key\n"},
		checkProblem{"    cert_file: PKI/server.crt", "http.tls.cert_file", "does not match"}},
	{"HTTPS certificate not PEM", []string{"    cert_file: PKI/server.crt\n", "    cert_file: SECRETS/api.token\n"},
		checkProblem{"    cert_file: SECRETS/api.token", "http.tls.cert_file", "api.token"}},
	{"bad template name", []string{"template: slack", "template: slak"},
		checkProblem{"template: slak", "alerts.channels[1].template", `"slak"`}},
	{"bad mapping path", []string{"      status: state\n", "      status: \" \"\n"},
		checkProblem{`status: " "`, "sources[2].mapping.status", "gjson path"}},
	{"bad mapping zone", []string{"at_zone: Asia/Shanghai", "at_zone: Asia/Atlantis"},
		checkProblem{"at_zone: Asia/Atlantis", "sources[2].mapping.at_zone", "Asia/Atlantis"}},
	{"bad EDIFACT code table entry", []string{`status_codes: {"4": released, "5": held}`, `status_codes: {"4": released, "5": maybe}`},
		checkProblem{"maybe", "sources[3].status_codes.5", `"maybe"`}},
	{"bad X12 code table entry", []string{`status_codes: {"1C": released}`, `status_codes: {"1c": released}`},
		checkProblem{`"1c"`, "sources[4].status_codes.1c", `"1c"`}},
	{"bad time zone", []string{"time_zone: Asia/Shanghai", "time_zone: Asia/Atlantis"},
		checkProblem{"time_zone: Asia/Atlantis", "sources[3].time_zone", "Asia/Atlantis"}},
	{"missing drop directory", []string{"dir: SECRETS/drop/x12", "dir: SECRETS/drop/edi"},
		checkProblem{"dir: SECRETS/drop/edi", "sources[4].dir", "drop/edi"}},
	{"negative max_bytes", []string{"    format: x12_350\n", "    format: x12_350\n    max_bytes: -1\n"},
		checkProblem{"max_bytes: -1", "sources[4].max_bytes", "negative"}},
	{"qos out of range", []string{"    topic: tos/events\n", "    topic: tos/events\n    qos: 3\n"},
		checkProblem{"qos: 3", "sources[1].qos", "want 0, 1 or 2, got 3"}},
	{"ack_topic is the source's own topic", []string{"    topic: tos/events\n", "    topic: tos/events\n    ack_topic: tos/events\n"},
		checkProblem{"ack_topic: tos/events", "sources[1].ack_topic", "own topic"}},
	{"mqtt key of another type", []string{"    format: x12_350\n", "    format: x12_350\n    topic: edi/x12\n"},
		checkProblem{"topic: edi/x12", "sources[4].topic", `only used by mqtt sources, and this source's type is "file_drop"`}},
	{"max_bytes of another type", []string{"    topic: tos/events\n", "    topic: tos/events\n    max_bytes: 10\n"},
		checkProblem{"max_bytes: 10", "sources[1].max_bytes", `only used by file_drop sources, and this source's type is "mqtt"`}},
	{"query_after of another type", []string{"    topic: tos/events\n", "    topic: tos/events\n    query_after: 1h\n"},
		checkProblem{"query_after: 1h", "sources[1].query_after", `only used by http_query sources, and this source's type is "mqtt"`}},
	{"file_drop key of the wrong type", []string{"    format: x12_350\n", "    format: x12_350\n    rescan: often\n"},
		checkProblem{"rescan: often", "sources[4].rescan", "duration"}},
	{"unknown file_drop key", []string{"    format: x12_350\n", "    format: x12_350\n    rescann: 1s\n"},
		checkProblem{"rescann: 1s", "sources[4].rescann", "unknown key (known keys here: "}},
	{"ack_dir is the spool", []string{"    format: x12_350\n", "    format: x12_350\n    ack_dir: SECRETS/drop/x12/\n"},
		checkProblem{"ack_dir: SECRETS/drop/x12/", "sources[4].ack_dir", "spool"}},
	{"bad schedule", []string{`schedule: "@every 30s"`, `schedule: "@every thirty seconds"`},
		checkProblem{"schedule:", "sources[2].schedule", "cron"}},
	{"push token is the API token", []string{"token_file: SECRETS/push.token", "token_file: SECRETS/api.token"},
		checkProblem{"    token_file: SECRETS/api.token", "sources[5].token_file", "http.token_file"}},
}

// TestCheckRefusesWhatRunRefuses: every input `run` refuses before it
// touches the network makes `check` exit 1 with the problem at its line:
// a systemd unit whose file passed check does not restart in a loop.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		path, _, _ := writeFullConfig(t)
		if code, _, stderr := runPortsyncCheck(t, path); code != 0 {
			t.Fatalf("exit %d for a valid file, want 0; stderr:\n%s", code, stderr)
		}
	})
	for _, tc := range checkRefusals {
		t.Run(tc.name, func(t *testing.T) {
			path, text, expand := writeFullConfig(t, tc.oldnew...)
			code, stdout, stderr := runPortsyncCheck(t, path)
			if code != 1 {
				t.Errorf("exit %d, want 1; stdout %q", code, stdout)
			}
			assertCheckProblems(t, path, text, stderr, []checkProblem{{expand.Replace(tc.want.marker), tc.want.key, tc.want.msg}})
		})
	}
}

// TestCheckPassesThenAdaptersBuild is the property behind
// TestCheckRefusesWhatRunRefuses, over every configuration these tests
// write: when `check` passes, the daemon's adapters build (without
// connecting) and its HTTPS key pair loads; and the validation alone
// already finds whatever the constructors would refuse, each problem at
// its line, so check's second pass through the constructors only guards
// against a constructor learning a new refusal.
func TestCheckPassesThenAdaptersBuild(t *testing.T) {
	type write func(t *testing.T) string
	full := func(oldnew ...string) write {
		return func(t *testing.T) string { path, _, _ := writeFullConfig(t, oldnew...); return path }
	}
	simple := func(oldnew ...string) write {
		return func(t *testing.T) string { path, _ := writeCheckConfig(t, oldnew...); return path }
	}
	configs := map[string]write{
		"full":                     full(),
		"simple":                   simple(),
		"simple, unknown agency":   simple("    agency: customs\n", "    agency: customz\n"),
		"full, no TLS anywhere":    full("ssl://", "tcp://", "    tls:\n      ca_file: PKI/ca.crt\n      cert_file: PKI/client.crt\n      key_file: PKI/client.key\n", "", "  tls:\n    cert_file: PKI/server.crt\n    key_file: PKI/server.key\n", ""),
		"full, email credentials":  full("      to: [ops@terminal.example]\n", "      to: [ops@terminal.example]\n      username_file: SECRETS/mqtt.pass\n      password_file: SECRETS/mqtt.pass\n"),
		"full, push token missing": full("token_file: SECRETS/push.token", "token_file: SECRETS/nope.token"),
	}
	for _, r := range checkRefusals {
		configs["full, "+r.name] = full(r.oldnew...)
	}
	for name, write := range configs {
		t.Run(name, func(t *testing.T) {
			path := write(t)
			code, _, stderr := runPortsyncCheck(t, path)
			cfg, err := config.Load(path, adapters.Registry)
			if (code == 0) != (err == nil) {
				t.Fatalf("check exits %d (stderr %q), validation says %v", code, stderr, err)
			}
			if err != nil {
				return
			}
			if err := daemon.CheckAdapters(cfg); err != nil {
				t.Errorf("validation passes, the adapters do not build:\n%v", err)
			}
			if cfg.HTTP.TLS.CertFile != "" {
				if _, err := cfg.HTTP.TLS.KeyPair(); err != nil {
					t.Errorf("validation passes, the HTTPS key pair does not load: %v", err)
				}
			}
		})
	}
}
