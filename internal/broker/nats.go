package broker

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// HasNATS reports whether the nats-server binary is on the PATH.
func HasNATS() bool {
	_, err := exec.LookPath("nats-server")
	return err == nil
}

// StartNATS starts nats-server with its MQTT listener on a free loopback
// port and its JetStream store in dir. NATS keeps MQTT sessions, their
// subscriptions and the messages queued for them in JetStream streams, so
// the store makes them survive a restart; MQTT needs JetStream and a
// server_name. The NATS client port is picked by the server (-1) and only
// bound to loopback: nothing in the tests uses it. Its log goes to logOut.
func StartNATS(dir string, logOut io.Writer) (*Broker, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	b := &Broker{Addr: "127.0.0.1:" + strconv.Itoa(port), Kind: "nats", dir: dir, logOut: logOut,
		argv: []string{"nats-server", "-c", filepath.Join(dir, "nats.conf")}, startWait: 10 * time.Second}
	// ack_wait is how long NATS waits for a PUBACK before it sends a
	// message again. nats-server 2.9 does not resend unacknowledged
	// messages when a persistent session reconnects, as MQTT 3.1.1 asks;
	// they come back only after ack_wait (30 s by default). 5 s keeps the
	// tests of redelivery after a crash short and is still far above a
	// group commit, so a message the daemon is busy with is not sent
	// twice. max_ack_pending plays the part of mosquitto's
	// max_inflight_messages (see docs/operations.md).
	conf := fmt.Sprintf(`server_name: portsync-test-%d
listen: 127.0.0.1:-1
jetstream {
  store_dir: %q
}
mqtt {
  listen: 127.0.0.1:%d
  ack_wait: "5s"
  max_ack_pending: 1000
}
`, port, filepath.Join(dir, "jetstream"), port)
	if err := os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("write nats.conf: %w", err)
	}
	return b, b.Start()
}
