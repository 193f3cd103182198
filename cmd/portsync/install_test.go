package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// repoRoot is the repository's top directory, where the Makefile is.
const repoRoot = "../.."

// serviceAccount is the user and group the unit runs as (User=, Group=).
type serviceAccount struct {
	name     string
	uid, gid uint32
}

// needInstallTools skips a test that installs into a scratch root unless it
// runs as root (make install sets owners) with make.
func needInstallTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: make install sets owners")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
}

// serviceUser returns the portsync user and group. Where they do not exist
// it creates them as make install would (systemd-sysusers with the
// repository's sysusers file, else useradd --system) and removes them when
// the test ends.
func serviceUser(t *testing.T) serviceAccount {
	t.Helper()
	if _, err := user.Lookup("portsync"); err != nil {
		var cmd *exec.Cmd
		if p, err := exec.LookPath("systemd-sysusers"); err == nil {
			file, err := filepath.Abs(filepath.Join(repoRoot, "systemd/portsync.sysusers"))
			if err != nil {
				t.Fatal(err)
			}
			cmd = exec.Command(p, file) // it wants an absolute path
		} else if p, err := exec.LookPath("useradd"); err == nil {
			cmd = exec.Command(p, "--system", "--user-group", "--no-create-home",
				"--home-dir", "/var/lib/portsync", "--shell", "/usr/sbin/nologin", "portsync")
		} else {
			t.Skip("no portsync user, and neither systemd-sysusers nor useradd to create one")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("create the portsync user: %v\n%s", err, out)
		}
		t.Logf("created the portsync user for the test (%s)", cmd.Path)
		t.Cleanup(func() {
			exec.Command("userdel", "portsync").Run()
			exec.Command("groupdel", "portsync").Run() // if userdel kept it
		})
	}
	u, err := user.Lookup("portsync")
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup("portsync")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(g.Gid, 10, 32)
	if u.Gid != g.Gid {
		t.Fatalf("the portsync user's primary group is %s, not the portsync group (%s)", u.Gid, g.Gid)
	}
	return serviceAccount{name: "portsync", uid: uint32(uid), gid: uint32(gid)}
}

// scratchRoot returns an empty directory to install into, which other
// users may traverse (t.TempDir makes 0700 directories). Under a running
// systemd it lies in /var/lib, where the unit's sandbox can see it and run
// the binary: PrivateTmp= hides the host's /tmp and /var/tmp, ProtectHome=
// /home and /root, and /run is often mounted noexec.
func scratchRoot(t *testing.T) string {
	t.Helper()
	if systemdRunning() {
		dir, err := os.MkdirTemp("/var/lib", "portsync-install-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// systemdRunning reports whether PID 1 is a systemd that can start units.
func systemdRunning() bool {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return false
	}
	out, _ := exec.Command("systemctl", "is-system-running").Output()
	state := strings.TrimSpace(string(out))
	return state == "running" || state == "degraded"
}

// systemdState says what `systemctl is-system-running` answers, for skips.
func systemdState() string {
	out, err := exec.Command("systemctl", "is-system-running").CombinedOutput()
	if len(bytes.TrimSpace(out)) == 0 && err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// makeInstall runs make install into root with the binary built for the
// tests, and returns its output.
func makeInstall(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"-C", repoRoot, "install", "DESTDIR=" + root, "BINARY=" + portsyncBinary(t)}, args...)
	out, err := exec.Command("make", args...).CombinedOutput()
	return string(out), err
}

// unitService returns the [Service] settings of a unit file, in order.
func unitService(t *testing.T, path string) [][2]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kv [][2]string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Service]" {
			kv = append(kv, [2]string{k, v})
		}
	}
	return kv
}

func unitValues(kv [][2]string, key string) []string {
	var vs []string
	for _, p := range kv {
		if p[0] == key {
			vs = append(vs, p[1])
		}
	}
	return vs
}

// underRoot rewrites the absolute paths of a unit's command line into the
// scratch root.
func underRoot(root, cmdline string) []string {
	fields := strings.Fields(cmdline)
	for i, f := range fields {
		if strings.HasPrefix(f, "/") {
			fields[i] = root + f
		}
	}
	return fields
}

// checkAsUnit does what systemd does to run the installed unit's
// ExecStartPre= (portsync check): it reads every LoadCredential= file as
// root and copies it into a credentials directory only the service user can
// read, then runs the command as the service user and group, with no
// supplementary groups, and CREDENTIALS_DIRECTORY set. It returns the
// command's output and error.
func checkAsUnit(t *testing.T, root string, svc serviceAccount) (string, error) {
	t.Helper()
	kv := unitService(t, filepath.Join(root, "etc/systemd/system/portsync.service"))
	if got := unitValues(kv, "User"); len(got) != 1 || got[0] != svc.name {
		t.Fatalf("unit User= %q, want %s", got, svc.name)
	}
	if got := unitValues(kv, "Group"); len(got) != 1 || got[0] != svc.name {
		t.Fatalf("unit Group= %q, want %s", got, svc.name)
	}
	creds := filepath.Join(root, "run/credentials/portsync.service")
	os.RemoveAll(creds)
	if err := os.MkdirAll(filepath.Dir(creds), 0o755); err != nil { // as /run/credentials
		t.Fatal(err)
	}
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, lc := range unitValues(kv, "LoadCredential") {
		id, path, ok := strings.Cut(lc, ":")
		if !ok || !filepath.IsAbs(path) {
			t.Fatalf("LoadCredential=%s: want ID:/absolute/path", lc)
		}
		data, err := os.ReadFile(root + path)
		if err != nil {
			t.Fatalf("LoadCredential=%s: systemd would not start the unit: %v", lc, err)
		}
		dst := filepath.Join(creds, id)
		if err := os.WriteFile(dst, data, 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dst, int(svc.uid), int(svc.gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(creds, int(svc.uid), int(svc.gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(creds, 0o500); err != nil {
		t.Fatal(err)
	}
	pre := unitValues(kv, "ExecStartPre")
	if len(pre) != 1 || !strings.Contains(pre[0], " check ") {
		t.Fatalf("unit ExecStartPre= %q, want one portsync check", pre)
	}
	if strings.ContainsAny(pre[0][:1], "-@:+!") {
		t.Fatalf("ExecStartPre=%s: the check must run as the service user and count", pre[0])
	}
	argv := underRoot(root, pre[0])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "CREDENTIALS_DIRECTORY=" + creds}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: svc.uid, Gid: svc.gid, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeSecrets creates the secret files the example configuration names,
// as the README's runbook does: root-only, handed to the unit by
// LoadCredential=.
func writeSecrets(t *testing.T, root string) {
	t.Helper()
	for name, value := range map[string]string{
		"mqtt.user": "portsync\n",
		"mqtt.pass": "broker password\n",
		"api.token": "0123456789abcdef0123456789abcdef\n",
	} {
		if err := os.WriteFile(filepath.Join(root, "etc/portsync", name), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// wantOwner fails unless path has the mode and owners given.
func wantOwner(t *testing.T, path string, mode os.FileMode, uid, gid uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: mode %04o owner %d:%d, want %04o %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// TestInstall installs into a scratch root with make install DESTDIR=, checks
// owners and modes, and runs the installed unit's check as the service user
// the way systemd would.
func TestInstall(t *testing.T) {
	needInstallTools(t)
	svc := serviceUser(t)
	root := scratchRoot(t)

	out, err := makeInstall(t, root)
	if err != nil {
		t.Fatalf("make install DESTDIR=%s: %v\n%s", root, err, out)
	}
	etc := filepath.Join(root, "etc/portsync")
	wantOwner(t, filepath.Join(root, "usr/local/bin/portsync"), 0o755, 0, 0)
	wantOwner(t, filepath.Join(root, "etc/systemd/system/portsync.service"), 0o644, 0, 0)
	wantOwner(t, filepath.Join(root, "usr/lib/sysusers.d/portsync.conf"), 0o644, 0, 0)
	wantOwner(t, etc, 0o750, 0, svc.gid)
	wantOwner(t, filepath.Join(etc, "portsync.yaml"), 0o640, 0, svc.gid)
	if t.Failed() {
		t.FailNow()
	}

	writeSecrets(t, root)
	out, err = checkAsUnit(t, root, svc)
	if err != nil {
		t.Fatalf("the installed unit's ExecStartPre (portsync check) as %s: %v\n%s", svc.name, err, out)
	}
	t.Logf("as %s: %s", svc.name, strings.TrimSpace(out))

	// Nobody else may read the configuration.
	nobody := exec.Command(filepath.Join(root, "usr/local/bin/portsync"), "check", "-config", filepath.Join(etc, "portsync.yaml"))
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	if out, err := nobody.CombinedOutput(); err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("another user reads the configuration: %v\n%s", err, out)
	}

	// Installing again over an older install (everything root:root) keeps
	// the edited configuration and repairs its owners and modes.
	conf := filepath.Join(etc, "portsync.yaml")
	edited := []byte("# edited\n")
	if err := os.WriteFile(conf, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{etc, conf} {
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(etc, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := makeInstall(t, root); err != nil {
		t.Fatalf("make install again: %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(conf); !bytes.Equal(data, edited) {
		t.Errorf("make install replaced an existing configuration: %q", data)
	}
	wantOwner(t, etc, 0o750, 0, svc.gid)
	wantOwner(t, conf, 0o640, 0, svc.gid)

	t.Run("unit", func(t *testing.T) {
		if !systemdRunning() {
			t.Skipf("PID 1 is not a running systemd (systemctl is-system-running: %s): the unit cannot be started here; "+
				"its ExecStartPre ran above as %s with the credentials LoadCredential= would pass", systemdState(), svc.name)
		}
		os.Remove(conf) // back to the example
		if out, err := makeInstall(t, root); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		out, err := runUnitCheck(t, root)
		if err != nil {
			t.Fatalf("the unit's sandbox with portsync check: %v\n%s", err, out)
		}
		t.Logf("under systemd: %s", strings.TrimSpace(out))
	})
}

// runUnitCheck runs the installed unit's ExecStartPre as a transient unit
// with every setting of the installed one (user, credentials, sandbox)
// except those that would touch the host's /etc/portsync and
// /var/lib/portsync or concern the long-running daemon.
func runUnitCheck(t *testing.T, root string) (string, error) {
	t.Helper()
	kv := unitService(t, filepath.Join(root, "etc/systemd/system/portsync.service"))
	skip := map[string]bool{
		"Type": true, "NotifyAccess": true, "ExecStartPre": true, "ExecStart": true, "ExecReload": true,
		"Restart": true, "RestartSec": true, "TimeoutStartSec": true, "TimeoutStopSec": true, "WatchdogSec": true,
		"StateDirectory": true, "StateDirectoryMode": true, "ConfigurationDirectory": true, "ConfigurationDirectoryMode": true,
	}
	args := []string{"--wait", "--pipe", "--quiet", "--collect",
		"--unit", fmt.Sprintf("portsync-install-test-%d", os.Getpid()), "-p", "Type=exec"}
	for _, p := range kv {
		if skip[p[0]] {
			continue
		}
		v := p[1]
		if p[0] == "LoadCredential" {
			id, path, _ := strings.Cut(v, ":")
			v = id + ":" + root + path
		}
		args = append(args, "-p", p[0]+"="+v)
	}
	pre := unitValues(kv, "ExecStartPre")
	if len(pre) != 1 {
		t.Fatalf("ExecStartPre= %q", pre)
	}
	args = append(args, "--")
	args = append(args, underRoot(root, pre[0])...)
	out, err := exec.Command("systemd-run", args...).CombinedOutput()
	return string(out), err
}

// TestInstallNeedsBuild: make install copies what make build built, and
// says so when there is nothing to copy.
func TestInstallNeedsBuild(t *testing.T) {
	needInstallTools(t)
	root := scratchRoot(t)
	out, err := exec.Command("make", "-C", repoRoot, "install", "DESTDIR="+root,
		"BINARY="+filepath.Join(root, "no-such-binary")).CombinedOutput()
	if err == nil {
		t.Fatalf("make install without a built binary succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "make build") {
		t.Errorf("make install without a binary should say to run make build first:\n%s", out)
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Errorf("make install without a binary installed something: %v", entries)
	}
}
