package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDebianPackage builds the package with `make deb` (nfpm at the
// version the Makefile pins, fetched from the Go module proxy the first
// time), extracts it with dpkg-deb into a scratch root, checks its files,
// owners, modes, conffiles and scripts, and runs the extracted binary. It
// skips where dpkg-deb or make is missing (both are on Debian).
func TestDebianPackage(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if testing.Short() {
		t.Skip("builds the package: not with -short")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	const version = "1.2.3~test1"
	cmd := exec.Command("make", "-C", repo, "deb", "DIST="+dist, "VERSION="+version)
	cmd.Env = append(os.Environ(), "GOFLAGS="+withoutRace(os.Getenv("GOFLAGS")))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	deb := filepath.Join(dist, "portsync_"+version+"_amd64.deb")
	if _, err := os.Stat(deb); err != nil {
		entries, _ := os.ReadDir(dist)
		t.Fatalf("make deb did not write %s (%v); %s has %v", filepath.Base(deb), err, dist, entries)
	}
	if left, _ := filepath.Glob(filepath.Join(dist, "stage")); len(left) > 0 {
		t.Errorf("make deb left its staging directory behind")
	}

	dpkg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("dpkg-deb", args...).Output()
		if err != nil {
			t.Fatalf("dpkg-deb %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	if got := strings.TrimSpace(dpkg("-f", deb, "Version")); got != version {
		t.Errorf("Version: %q, want %q", got, version)
	}
	if got := strings.TrimSpace(dpkg("-f", deb, "Architecture")); got != "amd64" {
		t.Errorf("Architecture: %q, want amd64", got)
	}

	// Owners and modes as the archive records them (dpkg-deb -c is tar tv).
	listing := map[string]string{}
	entry := regexp.MustCompile(`^(\S+) (\S+)\s+\d+ \S+ \S+ \./(\S*)$`)
	for _, line := range strings.Split(strings.TrimSpace(dpkg("-c", deb)), "\n") {
		m := entry.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		listing["/"+strings.TrimSuffix(m[3], "/")] = m[1] + " " + m[2]
	}
	for path, want := range map[string]string{
		"/usr/bin/portsync":                                     "-rwxr-xr-x root/root",
		"/usr/lib/systemd/system/portsync.service":              "-rw-r--r-- root/root",
		"/usr/lib/systemd/system/portsync.service.d/spool.conf": "-rw-r--r-- root/root",
		"/usr/lib/sysusers.d/portsync.conf":                     "-rw-r--r-- root/root",
		"/usr/share/man/man1/portsync.1.gz":                     "-rw-r--r-- root/root",
		// root:root in the archive: postinst gives them the portsync group.
		"/etc/portsync":                                       "drwxr-x--- root/root",
		"/etc/portsync/portsync.yaml":                         "-rw-r----- root/root",
		"/var/lib/portsync":                                   "drwxr-x--- root/root",
		"/var/spool/portsync":                                 "drwxr-x--- root/root",
		"/usr/share/doc/portsync/README.md":                   "-rw-r--r-- root/root",
		"/usr/share/doc/portsync/docs/configuration.md":       "-rw-r--r-- root/root",
		"/usr/share/doc/portsync/docs/examples/us-cbp.yaml":   "-rw-r--r-- root/root",
		"/usr/share/doc/portsync/docs/alerts.yml":             "-rw-r--r-- root/root",
		"/usr/share/doc/portsync/docs/grafana-dashboard.json": "-rw-r--r-- root/root",
	} {
		if got, ok := listing[path]; !ok {
			t.Errorf("%s is not in the package", path)
		} else if got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	for path := range listing {
		if strings.HasPrefix(path, "/usr/local") {
			t.Errorf("%s: a package installs nothing under /usr/local", path)
		}
	}

	// The control archive: the configuration is a conffile, and postinst
	// creates the user and sets the owners the unit needs.
	control := filepath.Join(t.TempDir(), "DEBIAN")
	if out, err := exec.Command("dpkg-deb", "-e", deb, control).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(debReadFile(t, filepath.Join(control, "conffiles"))); got != "/etc/portsync/portsync.yaml" {
		t.Errorf("conffiles: %q, want /etc/portsync/portsync.yaml", got)
	}
	postinst := debReadFile(t, filepath.Join(control, "postinst"))
	for _, want := range []string{
		"systemd-sysusers /usr/lib/sysusers.d/portsync.conf",
		"chown root:portsync /etc/portsync /etc/portsync/portsync.yaml",
		"chown portsync:portsync /var/lib/portsync /var/spool/portsync",
	} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		path := filepath.Join(control, script)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, want an executable script", script, err)
			continue
		}
		if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", script, err, out)
		}
	}

	// The files themselves.
	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	bin := filepath.Join(root, "usr/bin/portsync")
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("extracted portsync version: %v", err)
	}
	if !strings.HasPrefix(string(out), "portsync, version "+version+" (revision: ") {
		t.Errorf("extracted portsync version printed %q, want version %s", out, version)
	}
	unit := debReadFile(t, filepath.Join(root, "usr/lib/systemd/system/portsync.service"))
	if !strings.Contains(unit, "\nExecStart=/usr/bin/portsync run -config /etc/portsync/portsync.yaml\n") ||
		!strings.Contains(unit, "\nExecStartPre=/usr/bin/portsync check ") || strings.Contains(unit, "/usr/local") {
		t.Errorf("the packaged unit does not run /usr/bin/portsync:\n%s", unit)
	}
	if want := debReadFile(t, filepath.Join(repo, "systemd/portsync.yaml.example")); debReadFile(t, filepath.Join(root, "etc/portsync/portsync.yaml")) != want {
		t.Errorf("/etc/portsync/portsync.yaml is not the example configuration")
	}
	man := debGunzip(t, filepath.Join(root, "usr/share/man/man1/portsync.1.gz"))
	if !strings.Contains(man, "\n.TH PORTSYNC 1 \"\" \"portsync "+version+"\"") || !strings.Contains(man, "\n.SS run\n") {
		t.Errorf("the man page is not portsync(1) of this version:\n%.400s", man)
	}
	// The example configuration passes the extracted binary's check, its
	// secrets given as the unit would.
	creds := t.TempDir()
	for _, name := range []string{"mqtt.user", "mqtt.pass", "api.token"} {
		debWriteFile(t, filepath.Join(creds, name), "secret-"+name+"\n")
	}
	check := exec.Command(bin, "check", "-config", filepath.Join(root, "etc/portsync/portsync.yaml"))
	check.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY="+creds)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("extracted portsync check of the packaged configuration: %v\n%s", err, out)
	}
	// Nothing in the package is writable by group or others.
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.Mode().Type()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o022 != 0 && path != root {
			t.Errorf("%s: mode %v is writable by group or others", strings.TrimPrefix(path, root), fi.Mode())
		}
		return nil
	})
}

// withoutRace drops -race from GOFLAGS: the package's binary is static
// (CGO_ENABLED=0), which -race cannot be.
func withoutRace(goflags string) string {
	var keep []string
	for _, f := range strings.Fields(goflags) {
		if f != "-race" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

func debReadFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func debWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func debGunzip(t *testing.T, path string) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader([]byte(debReadFile(t, path))))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(data)
}
