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

// rabbitmqScript is where Debian keeps the real start script:
// /usr/sbin/rabbitmq-server is a wrapper that, run as root, switches to
// the rabbitmq user with su, which could not write the test's directory.
const rabbitmqScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// rabbitmqServer returns the RabbitMQ start script, "" where there is none.
func rabbitmqServer() string {
	if _, err := os.Stat(rabbitmqScript); err == nil {
		return rabbitmqScript
	}
	if p, err := exec.LookPath("rabbitmq-server"); err == nil {
		return p
	}
	return ""
}

// HasRabbitMQ reports whether RabbitMQ's server is installed.
func HasRabbitMQ() bool { return rabbitmqServer() != "" }

// StartRabbitMQ starts a RabbitMQ node of its own, with the MQTT plugin,
// on free loopback ports: MQTT on Addr, AMQP and Erlang distribution beside
// it, its node name, database (Mnesia, which keeps durable queues and the
// messages in them across a restart), logs, plugins file and Erlang cookie
// all in dir. It registers with the machine's shared epmd (port 4369)
// under a node name of its own, so it runs beside a system RabbitMQ; where
// no epmd runs, the Erlang VM starts one, which stays after the test like
// a system service. Its log goes to logOut.
//
// Starting takes seconds: the Erlang VM boots, and the MQTT plugin waits
// 3 to 6 s for cluster peers before it elects itself leader of its client
// id tracker; Start waits up to a minute.
func StartRabbitMQ(dir string, logOut io.Writer) (*Broker, error) {
	script := rabbitmqServer()
	if script == "" {
		return nil, fmt.Errorf("rabbitmq-server is not installed")
	}
	var ports [3]int // MQTT, AMQP, distribution
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	if ports[0] == ports[1] || ports[0] == ports[2] || ports[1] == ports[2] {
		return nil, fmt.Errorf("free ports %v: the kernel gave one twice", ports)
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("rabbitmq %s directory: %w", sub, err)
		}
	}
	// guest may log in from loopback only (RabbitMQ's default), which is
	// where the tests are; anonymous MQTT clients log in as guest, since
	// portsync's test configuration gives no username. mqtt.prefetch is
	// how many unacknowledged messages a subscriber may hold, mosquitto's
	// max_inflight_messages: its default of 10 would cap a group commit at
	// 10 events. mqtt.subscription_ttl: by default a persistent session's
	// queue is deleted after 24 h without its client (see
	// docs/operations.md).
	conf := fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
mqtt.listeners.tcp.default = 127.0.0.1:%d
mqtt.allow_anonymous = true
mqtt.default_user = guest
mqtt.default_pass = guest
mqtt.vhost = /
mqtt.exchange = amq.topic
mqtt.prefetch = 1000
mqtt.subscription_ttl = infinity
loopback_users.guest = true
`, ports[1], ports[0])
	files := map[string]string{"rabbitmq.conf": conf, "enabled_plugins": "[rabbitmq_mqtt].\n",
		// An environment file of the node's own, empty, in place of the
		// system's /etc/rabbitmq/rabbitmq-env.conf, which is made for the
		// system's node.
		"rabbitmq-env.conf": ""}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	b := &Broker{Addr: "127.0.0.1:" + strconv.Itoa(ports[0]), Kind: "rabbitmq", dir: dir, logOut: logOut,
		argv: []string{script}, startWait: time.Minute,
		env: []string{
			// The Erlang cookie is created in $HOME: the test's own, not
			// the user's.
			"HOME=" + dir,
			"RABBITMQ_NODENAME=rabbit-test-" + strconv.Itoa(ports[0]) + "@localhost",
			"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
			"RABBITMQ_NODE_PORT=" + strconv.Itoa(ports[1]),
			"RABBITMQ_DIST_PORT=" + strconv.Itoa(ports[2]),
			"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
			"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
			"RABBITMQ_LOGS=-",
			"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
			"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
			"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(dir, "rabbitmq-env.conf"),
			// Erlang distribution, and an epmd the VM starts where none
			// runs, on loopback only.
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
			"ERL_EPMD_ADDRESS=127.0.0.1",
			// Under systemd the script execs the Erlang VM instead of
			// running it in the background behind a shell: the VM is then
			// our child, so SIGTERM reaches it (a clean shutdown) and the
			// parent-death signal kills it if the test process dies. No
			// one listens on the socket; RabbitMQ only logs that it could
			// not notify.
			"NOTIFY_SOCKET=" + filepath.Join(dir, "notify.sock"),
		},
	}
	return b, b.Start()
}
