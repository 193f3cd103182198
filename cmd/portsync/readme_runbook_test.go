package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readme returns the README's text.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fencedBlocks returns the README's fenced blocks in the given language;
// with marker, only those right after a line that is the marker.
func fencedBlocks(text, lang, marker string) []string {
	lines := strings.Split(text, "\n")
	var blocks []string
	for i := 0; i < len(lines); i++ {
		open := strings.TrimSpace(lines[i])
		if open != "```"+lang {
			continue
		}
		if marker != "" {
			j := i - 1
			for j >= 0 && strings.TrimSpace(lines[j]) == "" {
				j--
			}
			if j < 0 || strings.TrimSpace(lines[j]) != marker {
				continue
			}
		}
		indent := lines[i][:strings.Index(lines[i], "```")]
		var b []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b = append(b, strings.TrimPrefix(lines[i], indent))
		}
		blocks = append(blocks, strings.Join(b, "\n"))
	}
	return blocks
}

// hostPath finds an absolute path left outside the scratch root.
var hostPath = regexp.MustCompile(`(^|[\s"'=:(<>|])/(etc|usr|var|opt|srv|lib|bin|sbin|home|root)(/|\s|$)`)

// TestReadmeRunbook walks the README's service runbook (the sh blocks after
// <!-- runbook -->) in a scratch root: /etc/portsync and /var/lib/portsync
// move under it, make install gets DESTDIR, sudo runs the command as is
// (the test is root), and the systemctl, journalctl and sudoedit steps are
// left out with the reason logged. Then the installed unit's check runs as
// the service user with the credentials the unit loads.
func TestReadmeRunbook(t *testing.T) {
	needInstallTools(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	blocks := fencedBlocks(readme(t), "sh", "<!-- runbook -->")
	if len(blocks) == 0 {
		t.Fatal("README has no sh block marked <!-- runbook -->")
	}
	svc := serviceUser(t)
	root := scratchRoot(t)

	var script []string
	for _, block := range blocks {
		for _, line := range strings.Split(block, "\n") {
			cmd := strings.TrimSpace(line)
			verb := strings.Fields(strings.TrimPrefix(cmd+" ", "sudo "))
			switch {
			case cmd == "" || cmd[0] == '#':
				continue
			case verb[0] == "systemctl" || verb[0] == "journalctl":
				if systemdRunning() {
					t.Logf("skipped %q: it would act on this host's systemd, not the scratch root", cmd)
				} else {
					t.Logf("skipped %q: PID 1 is not a running systemd (systemctl is-system-running: %s)", cmd, systemdState())
				}
				continue
			case verb[0] == "sudoedit":
				t.Logf("skipped %q: interactive; the installed example is checked as it is", cmd)
				continue
			}
			line = strings.ReplaceAll(line, "make install", `make install DESTDIR="$ROOT"`)
			line = strings.ReplaceAll(line, "/etc/portsync", "$ROOT/etc/portsync")
			line = strings.ReplaceAll(line, "/var/lib/portsync", "$ROOT/var/lib/portsync")
			if hostPath.MatchString(line) {
				t.Fatalf("runbook line %q names a host path the test cannot move into the scratch root", cmd)
			}
			script = append(script, line)
		}
	}
	// sudo: the test is root already; env also takes VAR=value before the
	// command, as sudo does.
	prelude := "set -euo pipefail\nsudo() { env \"$@\"; }\n"
	bash := exec.Command("bash", "-c", prelude+strings.Join(script, "\n"))
	bash.Dir = repoRoot
	bash.Env = append(os.Environ(),
		"ROOT="+root,
		"BINARY="+filepath.Join(root, "build/portsync"), // make build's output, outside the source tree
		"PATH="+filepath.Join(root, "usr/local/bin")+":"+os.Getenv("PATH"))
	bash.Stdin = strings.NewReader("broker password\n") // for prompts (read)
	t.Logf("running in %s:\n%s", root, strings.Join(script, "\n"))
	if out, err := bash.CombinedOutput(); err != nil {
		t.Fatalf("the runbook fails: %v\n%s", err, out)
	} else {
		t.Logf("output:\n%s", out)
	}

	out, err := checkAsUnit(t, root, svc)
	if err != nil {
		t.Fatalf("after the runbook, the unit's ExecStartPre (portsync check) as %s: %v\n%s", svc.name, err, out)
	}
	etc := filepath.Join(root, "etc/portsync")
	wantOwner(t, etc, 0o750, 0, svc.gid)
	wantOwner(t, filepath.Join(etc, "portsync.yaml"), 0o640, 0, svc.gid)
	for _, secret := range []string{"mqtt.user", "mqtt.pass", "api.token"} {
		wantOwner(t, filepath.Join(etc, secret), 0o600, 0, 0)
	}
}

// TestReadmeCommandTable: the command line table is one table, with a row
// for every verb of the usage text.
func TestReadmeCommandTable(t *testing.T) {
	text := readme(t)
	_, section, ok := strings.Cut(text, "\n## Command line\n")
	if !ok {
		t.Fatal("README has no Command line section")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var rows []string
	inTable, tables := false, 0
	for _, line := range strings.Split(section, "\n") {
		isRow := strings.HasPrefix(line, "|")
		if isRow && !inTable {
			tables++
		}
		inTable = isRow
		if isRow {
			rows = append(rows, line)
		}
	}
	if tables != 1 {
		t.Errorf("the Command line section has %d tables, want 1 (a blank line splits a table)", tables)
	}
	for _, verb := range []string{"run", "demo", "check", "status", "mismatches", "history", "backup", "compact", "dlq", "replay", "override"} {
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, "| `portsync "+verb+" ") || strings.HasPrefix(r, "| `portsync "+verb+"`") {
				found = true
			}
		}
		if !found || !strings.Contains(usage, "  "+verb+" ") {
			t.Errorf("verb %s: in the table %v, in the usage %v", verb, found, strings.Contains(usage, "  "+verb+" "))
		}
	}
}

// TestReadmeShellVariables: every variable a README sh block uses is set in
// that block (or is one the shell or systemd sets).
func TestReadmeShellVariables(t *testing.T) {
	known := map[string]bool{"HOME": true, "PATH": true, "USER": true, "CREDENTIALS_DIRECTORY": true}
	use := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	for _, block := range fencedBlocks(readme(t), "sh", "") {
		for _, m := range use.FindAllStringSubmatch(block, -1) {
			name := m[1]
			set := regexp.MustCompile(`(^|[\s;(])(` + name + `=|read [^\n]*\b` + name + `\b|export ` + name + `\b)`)
			if !known[name] && !set.MatchString(block) {
				t.Errorf("README block uses $%s but does not set it:\n%s", name, block)
			}
		}
	}
}
