package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/portsync/portsync/internal/buildinfo"
	"github.com/portsync/portsync/sync"
)

var versionLine = regexp.MustCompile(`^portsync, version (\S+) \(revision: (\S+), modified: (true|false)\)\n  go version: (go\S+)\n  platform:   (\S+)\n$`)

// TestVersionVerb: `portsync version` and `portsync -version` say the
// version, the commit and the Go that built the binary.
func TestVersionVerb(t *testing.T) {
	for _, arg := range []string{"version", "-version", "--version"} {
		out, err := exec.Command(portsyncBinary(t), arg).Output()
		if err != nil {
			t.Fatalf("portsync %s: %v", arg, err)
		}
		m := versionLine.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("portsync %s printed %q, want the version block", arg, out)
		}
		if m[4] != runtime.Version() || m[5] != runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("portsync %s: go version %s on %s, want %s on %s/%s", arg, m[4], m[5], runtime.Version(), runtime.GOOS, runtime.GOARCH)
		}
	}
}

// TestVersionLdflags: a build that cannot stamp its commit (-buildvcs=false,
// a tarball) gets version and revision from the linker, as the Makefile
// passes them.
func TestVersionLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "portsync")
	ld := "-X github.com/portsync/portsync/internal/buildinfo.version=9.8.7 " +
		"-X github.com/portsync/portsync/internal/buildinfo.revision=0123abcd-dirty"
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "portsync, version 9.8.7 (revision: 0123abcd, modified: true)\n"; !strings.HasPrefix(string(out), want) {
		t.Errorf("got %q, want it to start %q", out, want)
	}
}

// TestBuildInfoMetric: portsync_build_info is 1 with the labels version,
// revision and goversion of the running binary.
func TestBuildInfoMetric(t *testing.T) {
	families, err := sync.NewMetrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := buildinfo.Read().Labels()
	for _, f := range families {
		if f.GetName() != "portsync_build_info" {
			continue
		}
		if len(f.GetMetric()) != 1 {
			t.Fatalf("portsync_build_info has %d series, want 1", len(f.GetMetric()))
		}
		m := f.GetMetric()[0]
		if v := m.GetGauge().GetValue(); v != 1 {
			t.Errorf("portsync_build_info = %v, want 1", v)
		}
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != 3 || got["version"] != want["version"] || got["revision"] != want["revision"] || got["goversion"] != runtime.Version() {
			t.Errorf("portsync_build_info labels %v, want version, revision, goversion = %v", got, want)
		}
		return
	}
	t.Fatal("no portsync_build_info metric")
}

// TestManPage: `portsync man` renders every verb of the usage text and
// every flag each verb's -h lists, as roff that groff reads without a
// warning (where groff is installed).
func TestManPage(t *testing.T) {
	bin := portsyncBinary(t)
	page, err := exec.Command(bin, "man").Output()
	if err != nil {
		t.Fatalf("portsync man: %v", err)
	}
	if !bytes.HasPrefix(page, []byte(`.\" portsync(1)`)) || !bytes.Contains(page, []byte("\n.TH PORTSYNC 1 ")) {
		t.Fatalf("not a man page:\n%s", page)
	}
	verbs, _, err := parseUsage(usage)
	if err != nil {
		t.Fatal(err)
	}
	if len(verbs) < 10 {
		t.Fatalf("parsed %d verbs from the usage text: %+v", len(verbs), verbs)
	}
	flags := 0
	for _, v := range verbs {
		if !bytes.Contains(page, []byte("\n.SS "+v.name+"\n")) {
			t.Errorf("man page has no section for verb %s", v.name)
		}
		help, _ := exec.Command(bin, v.name, "-h").CombinedOutput()
		for _, f := range parseFlags(string(help)) {
			flags++
			if !bytes.Contains(page, []byte(`\-`+roffOpt(f.name))) {
				t.Errorf("man page lacks flag -%s of %s", f.name, v.name)
			}
		}
	}
	// The verbs' own help was read: a help text the parser no longer
	// understands would leave the loop above with nothing to check.
	t.Logf("%d flags from %d verbs", flags, len(verbs))
	if flags < 2*len(verbs) {
		t.Errorf("parsed only %d flags from the %d verbs' -h", flags, len(verbs))
	}
	if !bytes.Contains(page, []byte(`.BI \-config " file"`)) {
		t.Errorf("man page lacks run's -config flag:\n%s", page)
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Log("groff not installed; the roff itself is not checked")
		return
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = bytes.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -ww: %v\n%s", err, out)
	}
}

func TestParseFlags(t *testing.T) {
	help := "Usage of x:\n  -addr URL\n    \tthe daemon's URL (default \"http://127.0.0.1:9740\")\n  -json\n    \tprint JSON\n    \tfor scripts\n"
	got := parseFlags(help)
	want := []manFlag{{"addr", "URL", `the daemon's URL (default "http://127.0.0.1:9740")`}, {"json", "", "print JSON for scripts"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
