package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the portsync binary built once for the tests that run it as a
// real process (check, crash, demo).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portsync-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "portsync")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// portsyncBinary returns the path of the binary built for the tests.
func portsyncBinary(t testing.TB) string {
	t.Helper()
	return binary
}
