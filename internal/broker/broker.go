// Package broker runs MQTT brokers for portsync's demo and tests: a real
// broker process (mosquitto, or nats-server or RabbitMQ with their MQTT
// support) on a free loopback port, which tests stop and restart to inject
// faults, or, where the mosquitto binary is missing, the embedded
// mochi-mqtt broker.
package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/procfs"
)

// Broker is a running broker on 127.0.0.1.
type Broker struct {
	Addr string // host:port
	// Kind is "mosquitto", "nats", "rabbitmq" or "embedded".
	Kind string

	dir    string
	logOut io.Writer
	// argv and env start the broker process (env is added to the test's
	// environment); startWait bounds how long it may take to listen.
	argv      []string
	env       []string
	startWait time.Duration
	cmd       *exec.Cmd
	exited    chan struct{}
	server    *mochi.Server
}

// URL is the broker's address as portsync's configuration wants it.
func (b *Broker) URL() string { return "tcp://" + b.Addr }

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// HasMosquitto reports whether the mosquitto binary is on the PATH.
func HasMosquitto() bool {
	_, err := exec.LookPath("mosquitto")
	return err == nil
}

// StartMosquitto starts mosquitto on a free loopback port, with a
// persistent store in dir so that a restart keeps sessions and queues, and
// the inflight and queue limits raised for portsync (see the README).
// Its log goes to logOut.
func StartMosquitto(dir string, logOut io.Writer) (*Broker, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	b := &Broker{Addr: "127.0.0.1:" + strconv.Itoa(port), Kind: "mosquitto", dir: dir, logOut: logOut,
		argv: []string{"mosquitto", "-c", filepath.Join(dir, "mosquitto.conf")}, startWait: 10 * time.Second}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_inflight_messages 1000
max_queued_messages 1000000
set_tcp_nodelay true
max_queued_bytes 0
`, port, dir)
	if os.Geteuid() == 0 {
		// Run as root, mosquitto drops to its own user, which cannot write
		// the persistent store in the caller's directory; a restart would
		// then silently lose every session.
		conf += "user root\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return b, b.Start()
}

// Start starts a stopped broker process again on the same port and store.
func (b *Broker) Start() error {
	if b.argv == nil {
		return errors.New("the embedded broker cannot be restarted")
	}
	cmd := exec.Command(b.argv[0], b.argv[1:]...)
	if b.env != nil {
		cmd.Env = append(os.Environ(), b.env...)
	}
	cmd.Stdout, cmd.Stderr = b.logOut, b.logOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.Kind, err)
	}
	b.cmd = cmd
	b.exited = make(chan struct{})
	go func() { cmd.Wait(); close(b.exited) }()
	if err := waitListening(b.Addr, b.exited, b.startWait); err != nil {
		b.Stop()
		return fmt.Errorf("%s: %w", b.Kind, err)
	}
	return nil
}

func waitListening(addr string, exited <-chan struct{}, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("broker on %s exited at start", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("broker on %s did not listen within %v", addr, wait)
}

// Stop stops the broker: a broker process gets SIGTERM (mosquitto saves
// its store, RabbitMQ shuts down its node cleanly), the embedded broker
// closes.
func (b *Broker) Stop() error {
	if b.server != nil {
		return b.server.Close()
	}
	if b.cmd == nil {
		return nil
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
	return nil
}

// StartLocal starts the broker tests use by default: mosquitto in dir
// when it is installed (a real broker, one a test can stop and restart),
// else the embedded one. logOut takes mosquitto's output.
func StartLocal(dir string, logOut io.Writer) (*Broker, error) {
	if HasMosquitto() {
		return StartMosquitto(dir, logOut)
	}
	return StartEmbedded("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// StartEmbedded starts the mochi-mqtt broker on addr ("127.0.0.1:0" picks
// a free port). It keeps sessions in memory only.
func StartEmbedded(addr string, log *slog.Logger) (*Broker, error) {
	if addr == "" || addr == "127.0.0.1:0" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	opts := &mochi.Options{InlineClient: false, Logger: log}
	s := mochi.New(opts)
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	// AddListener binds the port, and Serve starts accepting and returns:
	// the broker takes connections once both have. No probe connection:
	// mochi's Close races with a connection it is still establishing, and
	// a probe made that race certain for a test that stops the broker at
	// once.
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, err
	}
	if err := s.Serve(); err != nil {
		s.Close() // releases the port AddListener bound
		return nil, err
	}
	return &Broker{Addr: addr, Kind: "embedded", server: s}, nil
}

// Process is a kind of broker that runs as a process of its own, which a
// test can stop and restart with its sessions kept.
type Process struct {
	Kind string
	// Installed reports whether the broker's binary is there; tests skip
	// the kind where it is not.
	Installed func() bool
	// Start starts one with its store in dir and its log to logOut.
	Start func(dir string, logOut io.Writer) (*Broker, error)
}

// Processes are the broker processes the transport and integration tests
// run against: mosquitto, and the MQTT support of NATS and RabbitMQ, which
// show that portsync needs no more of a broker than MQTT 3.1.1 with
// persistent sessions and QoS 1.
var Processes = []Process{
	{Kind: "mosquitto", Installed: HasMosquitto, Start: StartMosquitto},
	{Kind: "nats", Installed: HasNATS, Start: StartNATS},
	{Kind: "rabbitmq", Installed: HasRabbitMQ, Start: StartRabbitMQ},
}

// CPU is the processor time, user and system, that the broker's process
// has used so far, for benchmarks that put what a round cost beside its
// rate; false for the embedded broker, whose time is the test process's.
func (b *Broker) CPU() (time.Duration, bool) {
	if b.cmd == nil || b.cmd.Process == nil {
		return 0, false
	}
	p, err := procfs.NewProc(b.cmd.Process.Pid)
	if err != nil {
		return 0, false
	}
	st, err := p.Stat()
	if err != nil {
		return 0, false
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), true
}
