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
