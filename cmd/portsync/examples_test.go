package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRegionExamples runs `portsync check` on every configuration in
// docs/examples/ as the unit would run it: each secret the file names as
// ${CREDENTIALS_DIRECTORY}/NAME exists in a scratch CREDENTIALS_DIRECTORY,
// and each file_drop directory under /var/spool/portsync exists in a
// scratch spool that stands in for it. Nothing else is changed, so what
// passes here passes on a host with the same files.
func TestRegionExamples(t *testing.T) {
	files, err := filepath.Glob("../../docs/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"us-cbp.yaml": false, "eu-cusres.yaml": false, "cn-single-window.yaml": false, "cluster-t1-a.yaml": false}
	secret := regexp.MustCompile(`\$\{CREDENTIALS_DIRECTORY\}/([A-Za-z0-9._-]+)`)
	spoolDir := regexp.MustCompile(`/var/spool/portsync(/[A-Za-z0-9._/-]*)?`)
	for _, file := range files {
		name := filepath.Base(file)
		if _, ok := want[name]; ok {
			want[name] = true
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			creds, spool := t.TempDir(), t.TempDir()
			for _, m := range secret.FindAllStringSubmatch(text, -1) {
				// Distinct contents: http_push sources may not share a token.
				if err := os.WriteFile(filepath.Join(creds, m[1]), []byte("secret-"+m[1]+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range spoolDir.FindAllStringSubmatch(text, -1) {
				if err := os.MkdirAll(filepath.Join(spool, m[1]), 0o750); err != nil {
					t.Fatal(err)
				}
			}
			config := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(config, []byte(strings.ReplaceAll(text, "/var/spool/portsync", spool)), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(portsyncBinary(t), "check", "-config", config)
			cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY="+creds)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("portsync check %s: %v\n%s", name, err, out)
			}
		})
	}
	for name, found := range want {
		if !found {
			t.Errorf("docs/examples/%s is missing", name)
		}
	}
}
