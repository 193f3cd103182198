package broker

import (
	"io"
	"log/slog"
	"os/exec"
	"testing"
)

// A broker in a process of its own reports its processor time; the
// embedded one, whose time is the test process's, says it cannot.
func TestCPU(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Skip("mosquitto is not installed")
	}
	b, err := StartMosquitto(t.TempDir(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if _, ok := b.CPU(); !ok {
		t.Errorf("CPU of mosquitto (pid %d) unknown", b.cmd.Process.Pid)
	}
	e, err := StartEmbedded("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if _, ok := e.CPU(); ok {
		t.Error("the embedded broker reports a CPU time of its own")
	}
}
