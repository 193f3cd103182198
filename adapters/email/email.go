// Package email owns the email alert channel (channel type "email"): it
// sends every alert of a delivery pass as one email, a digest, over SMTP
// with STARTTLS. It never sends mail, and so never credentials, over a
// connection that is not encrypted: a server that does not offer STARTTLS,
// or whose certificate does not verify, is an error, and the alert manager
// retries later. Credentials (username_file, password_file) go with AUTH
// PLAIN after STARTTLS.
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/digest"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// DefaultTimeout bounds one delivery (connect to QUIT) when the
// configuration sets no timeout.
const DefaultTimeout = 10 * time.Second

// MaxBlocks caps the alerts listed in one email; the rest are counted.
const MaxBlocks = 200

// Type is the configuration type name of the adapter.
const Type = "email"

func init() {
	adapters.RegisterChannel(Type, adapters.SinkWithConfig(New, Check, unused))
}

// unused is the message of a key of another sink or channel type's.
const unused = "not used by email channels"

// Config is an email channel's own keys; the common ones are in
// config.Sink.
type Config struct {
	SMTP         string        `yaml:"smtp"` // host:port
	From         string        `yaml:"from"`
	To           []string      `yaml:"to"`
	UsernameFile string        `yaml:"username_file"`
	PasswordFile string        `yaml:"password_file"`
	Timeout      time.Duration `yaml:"timeout"` // one delivery; default 10s
	TLS          config.TLS    `yaml:"tls"`
}

// Check checks an email channel's keys: its own, in c, and the common
// ones of cfg.
func Check(cfg config.Sink, c *Config) []config.KeyError {
	var errs []config.KeyError
	fail := func(key, format string, args ...any) {
		errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.SMTP == "" {
		fail("smtp", "required for an email channel: the submission server as host:port, e.g. mail.example:587")
	} else if host, port, err := net.SplitHostPort(c.SMTP); err != nil || host == "" {
		fail("smtp", "want host:port, got %q", c.SMTP)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		fail("smtp", "bad port %q", port)
	}
	if c.From == "" {
		fail("from", "required for an email channel")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		fail("from", "bad address %q: %v", c.From, err)
	}
	if len(c.To) == 0 {
		fail("to", "required for an email channel: a list of addresses")
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			fail(fmt.Sprintf("to[%d]", i), "bad address %q: %v", to, err)
		}
	}
	if (c.UsernameFile == "") != (c.PasswordFile == "") {
		fail("password_file", "username_file and password_file go together")
	}
	if c.Timeout < 0 {
		fail("timeout", "must not be negative")
	}
	errs = append(errs, httpout.CheckTLS(c.TLS)...)
	return append(errs, httpout.BrokerUnused(cfg, unused)...)
}

// Channel sends alert digests by email.
type Channel struct {
	name     string
	addr     string // host:port
	host     string
	from     *mail.Address
	to       []*mail.Address
	user     string
	pass     string
	tls      *tls.Config
	timeout  time.Duration
	terminal string
	repeat   time.Duration
	helo     string
	log      *slog.Logger
	now      func() time.Time
}

// New builds the channel cfg describes; it reads the credential and TLS
// files now.
func New(env *adapters.Env, cfg config.Sink, own *Config) (adapters.Notifier, error) {
	fail := func(err error) (adapters.Notifier, error) {
		return nil, fmt.Errorf("alert channel %s: %w", cfg.Name, err)
	}
	if errs := Check(cfg, own); len(errs) > 0 {
		return fail(fmt.Errorf("%s: %s", errs[0].Key, errs[0].Msg))
	}
	host, _, _ := net.SplitHostPort(own.SMTP)
	c := &Channel{
		name: cfg.Name, addr: own.SMTP, host: host, timeout: own.Timeout,
		log: slog.New(slog.DiscardHandler), now: time.Now, helo: "localhost",
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, "\r\n ") {
		c.helo = h
	}
	if env != nil && env.Logger != nil {
		c.log = env.Logger
	}
	if env != nil && env.Config != nil {
		c.terminal, c.repeat = env.Config.Terminal, env.Config.Alerts.RepeatInterval
	}
	c.from, _ = mail.ParseAddress(own.From)
	for _, to := range own.To {
		a, _ := mail.ParseAddress(to)
		c.to = append(c.to, a)
	}
	var err error
	if c.tls, err = own.TLS.ClientConfig(); err != nil {
		return fail(err)
	}
	c.tls.ServerName = host
	if own.UsernameFile != "" {
		if c.user, err = config.ReadSecret(own.UsernameFile); err != nil {
			return fail(fmt.Errorf("username_file: %w", err))
		}
		if c.pass, err = config.ReadSecret(own.PasswordFile); err != nil {
			return fail(fmt.Errorf("password_file: %w", err))
		}
	}
	return c, nil
}

// ErrNoStartTLS is returned when the server does not offer STARTTLS.
var ErrNoStartTLS = errors.New("the server does not offer STARTTLS; portsync sends no mail and no credentials without TLS")

// Notify sends one email listing every alert.
func (c *Channel) Notify(ctx context.Context, alerts []state.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	msg := c.Message(digest.Order(alerts))
	if err := c.send(ctx, msg); err != nil {
		return fmt.Errorf("email via %s: %w", c.addr, err)
	}
	return nil
}

func (c *Channel) send(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled context ends a conversation blocked in a read.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cl, err := smtp.NewClient(conn, c.host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer cl.Close()
	if err := cl.Hello(c.helo); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if ok, _ := cl.Extension("STARTTLS"); !ok {
		return ErrNoStartTLS
	}
	if err := cl.StartTLS(c.tls); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if st, ok := cl.TLSConnectionState(); !ok || !st.HandshakeComplete {
		return errors.New("STARTTLS did not complete") // never send in clear text
	}
	if c.user != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return errors.New("the server offers no AUTH after STARTTLS, but username_file is set")
		}
		// PlainAuth itself also refuses to send credentials without TLS.
		if err := cl.Auth(smtp.PlainAuth("", c.user, c.pass, c.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN as %s: %w", c.user, err)
		}
	}
	if err := cl.Mail(c.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM %s: %w", c.from.Address, err)
	}
	for _, to := range c.to {
		if err := cl.Rcpt(to.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to.Address, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err) // the server's answer to the message
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = cl.Quit()
	return nil
}

// Message builds the email for alerts, which must be in digest.Order:
// headers, then a quoted-printable UTF-8 text body with a count line per
// kind and one block per alert.
func (c *Channel) Message(alerts []state.Alert) []byte {
	terminal := digest.Terminal(alerts, c.terminal)
	now := c.now()
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", c.from.String())
	to := make([]string, len(c.to))
	for i, a := range c.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", digest.Subject(terminal, alerts)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(now))
	header("Auto-Submitted", "auto-generated")
	if terminal != "" {
		header("X-Portsync-Terminal", digest.OneLine(terminal, 100))
	}
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(c.body(terminal, alerts), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

func (c *Channel) body(terminal string, alerts []state.Alert) string {
	var b strings.Builder
	b.WriteString(digest.Title(terminal, alerts) + "\n\n")
	for _, l := range digest.KindLines(alerts) {
		b.WriteString(l + "\n")
	}
	shown := alerts
	if len(shown) > MaxBlocks {
		shown = shown[:MaxBlocks]
	}
	for _, a := range shown {
		b.WriteString("\n" + strings.ToUpper(a.State))
		if a.Severity != "" {
			b.WriteString(" " + a.Severity)
		}
		b.WriteString(" " + a.Kind)
		if what := digest.Object(a); what != "" {
			b.WriteString(" " + what)
		}
		b.WriteString("\n")
		if a.Summary != "" {
			b.WriteString("  " + digest.OneLine(a.Summary, 1000) + "\n")
		}
		field := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "  %-10s %s\n", k+":", digest.OneLine(v, 200))
			}
		}
		field("container", a.Container)
		field("agency", a.Agency)
		field("source", a.Source)
		if !a.Since.IsZero() {
			field("since", a.Since.UTC().Format(time.RFC3339))
		}
		if a.State == state.Resolved {
			field("resolved", a.At.UTC().Format(time.RFC3339))
		}
		if a.Count > 0 {
			field("count", strconv.Itoa(a.Count))
		}
		field("id", a.ID)
	}
	if n := len(alerts) - len(shown); n > 0 {
		fmt.Fprintf(&b, "\nand %d more alerts, not listed here: see the portsync dashboard.\n", n)
	}
	b.WriteString("\n-- \nportsync")
	if c.repeat > 0 {
		fmt.Fprintf(&b, " sends firing alerts again every %s, and each once more when it resolves.", shortDuration(c.repeat))
	}
	b.WriteString("\n")
	return b.String()
}

// shortDuration is d without zero units: 30m, 1h, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func messageID(now time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("<%d.%s@portsync>", now.UnixNano(), hex.EncodeToString(r[:]))
}
