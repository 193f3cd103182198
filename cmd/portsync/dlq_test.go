package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portsync/portsync/internal/broker"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(portsyncBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func TestReplayPrintsEventsAndDeadLetters(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "portsync.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(serviceConfig, dir, "tcp://127.0.0.1:1", 9, "")), 0o600)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	good := write("good.json", `{"id":"R-1","agency":"customs","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`)
	bad := write("bad.json", `{"id":"R-2","agency":"customs","status":"released","containers":["MSCU1234567"],"at":"2026-11-28T10:15:00+08:00"}`)
	other := write("other.json", `{"id":"R-3","agency":"quarantine","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`)

	code, out, errOut := runCLI(t, "replay", "-config", file, "-source", "customs-mqtt", good, bad, other)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (dead letters): %s %s", code, out, errOut)
	}
	for _, want := range []string{"EVENT " + good, `"MSCU1234566"`, "DEAD LETTER " + bad, "bad_check_digit", "right digit for MSCU123456 is 6",
		"DEAD LETTER " + other, "invalid_field", "1 events, 2 dead letters"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "replay", "-config", file, "-source", "customs-mqtt", "-json", good)
	if code != 0 {
		t.Fatalf("exit %d for a clean input", code)
	}
	var line struct {
		Event struct{ ID string } `json:"event"`
	}
	if err := json.Unmarshal([]byte(out), &line); err != nil || line.Event.ID != "R-1" {
		t.Fatalf("-json output %q: %v", out, err)
	}
	if code, _, errOut = runCLI(t, "replay", "-config", file, "-source", "nope", good); code != 1 || !strings.Contains(errOut, "nope") {
		t.Fatalf("unknown source: exit %d, %s", code, errOut)
	}
}

// TestDLQRetryAfterAConfigFix dead-letters an event the source may not speak
// for, fixes the binding, reloads, and retries it through the CLI.
func TestDLQRetryAfterAConfigFix(t *testing.T) {
	b, err := testServiceBroker(t)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := broker.FreePort()
	dir := t.TempDir()
	file := filepath.Join(dir, "portsync.yaml")
	conf := func(agency string) string {
		extra := "  - {name: ciq-mqtt, type: mqtt, broker: main, topic: ciq/releases, kind: agency, agency: " + agency + "}"
		text := fmt.Sprintf(serviceConfig, dir, b.URL(), port, extra)
		return strings.Replace(text, "  customs: {tos_hold: CUSTOMS}", "  customs: {tos_hold: CUSTOMS}\n  quarantine: {tos_hold: CIQ}", 1)
	}
	os.WriteFile(file, []byte(conf("customs")), 0o600)
	cmd := exec.Command(portsyncBinary(t), "run", "-config", file)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, api+"/readyz", http.StatusOK)
	publishService(t, b.URL(), "ciq/releases",
		`{"id":"Q-1","agency":"quarantine","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`)

	var id string
	deadline := time.Now().Add(15 * time.Second)
	for id == "" && time.Now().Before(deadline) {
		_, out, _ := runCLI(t, "dlq", "-addr", api, "list")
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 3 && f[3] == "forbidden_agency" {
				id = f[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if id == "" {
		t.Fatal("the forbidden event never showed in dlq list")
	}
	if code, out, _ := runCLI(t, "dlq", "-addr", api, "retry", id); code != 1 || !strings.Contains(out, "still rejected: forbidden_agency") {
		t.Fatalf("retry before the fix: exit %d: %s", code, out)
	}

	os.WriteFile(file, []byte(conf("quarantine")), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(15 * time.Second)
	for {
		code, out, _ := runCLI(t, "dlq", "-addr", api, "retry-all")
		if code == 0 && strings.Contains(out, id+": applied") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retry-all after the fix: exit %d: %s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, out, _ := runCLI(t, "dlq", "-addr", api, "list"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("dead letter not removed after a successful retry:\n%s", out)
	}
	if code, out, _ := runCLI(t, "status", "-addr", api, "MSCU1234566"); code != 0 || !strings.Contains(out, "quarantine=released") {
		t.Fatalf("status after retry: exit %d\n%s", code, out)
	}
}
