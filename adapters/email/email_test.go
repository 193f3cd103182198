package email_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/email"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
	"github.com/portsync/portsync/state"
)

var t0 = time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)

func stale(container string) state.Alert {
	return state.Alert{
		ID: "stale_hold/" + container + "/customs", Kind: state.KindStaleHold, Severity: "warning", State: state.Firing,
		Terminal: "CNSHA-T1", Container: container, Agency: "customs", Since: t0,
		Summary: "customs released " + container + " at 10:15 but the terminal still holds it after 2m",
		At:      t0.Add(2 * time.Minute),
	}
}

// received is one message a test server accepted.
type received struct {
	tls      bool // the whole transaction ran over TLS
	authUser string
	authPass string
	from     string
	rcpts    []string
	data     []byte
}

// smtpServer is a small SMTP server for tests: EHLO, STARTTLS, AUTH PLAIN,
// MAIL, RCPT, DATA, RSET, NOOP, QUIT.
type smtpServer struct {
	addr     string
	tls      *tls.Config // nil: no STARTTLS offered
	user     string
	pass     string
	stall    atomic.Bool // never answer EHLO
	l        net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	msgs     []received
	commands []string
}

func startSMTP(t *testing.T, tc *tls.Config, user, pass string) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: l.Addr().String(), tls: tc, user: user, pass: pass, l: l}
	s.wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(conn) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *smtpServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	tp.PrintfLine("220 test.portsync ESMTP")
	var (
		secure bool
		cur    received
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.mu.Lock()
		s.commands = append(s.commands, verb)
		s.mu.Unlock()
		switch verb {
		case "EHLO", "HELO":
			if s.stall.Load() {
				io.Copy(io.Discard, conn) // until the client gives up
				return
			}
			lines := []string{"test.portsync"}
			if s.tls != nil && !secure {
				lines = append(lines, "STARTTLS")
			}
			if secure || s.tls == nil {
				lines = append(lines, "AUTH PLAIN")
			}
			lines = append(lines, "8BITMIME")
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, l)
			}
		case "STARTTLS":
			if s.tls == nil || secure {
				tp.PrintfLine("502 no")
				continue
			}
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, secure = tc, true
			tp = textproto.NewConn(tc)
			cur = received{}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				tp.PrintfLine("504 unsupported")
				continue
			}
			if resp == "" {
				tp.PrintfLine("334 ")
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			dec, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(dec), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				tp.PrintfLine("535 5.7.8 authentication failed")
				continue
			}
			cur.authUser, cur.authPass = parts[1], parts[2]
			tp.PrintfLine("235 2.7.0 ok")
		case "MAIL":
			if s.user != "" && cur.authUser == "" {
				tp.PrintfLine("530 5.7.0 authentication required")
				continue
			}
			cur.tls = secure
			addr, ok := cutPrefixFold(arg, "FROM:")
			if !ok {
				tp.PrintfLine("501 syntax")
				continue
			}
			cur.from = strings.Trim(strings.Fields(addr + " ")[0], "<>")
			tp.PrintfLine("250 ok")
		case "RCPT":
			addr, ok := cutPrefixFold(arg, "TO:")
			if !ok {
				tp.PrintfLine("501 syntax")
				continue
			}
			cur.rcpts = append(cur.rcpts, strings.Trim(strings.TrimSpace(addr), "<>"))
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			cur.data = data
			cur.tls = cur.tls && secure
			s.mu.Lock()
			s.msgs = append(s.msgs, cur)
			s.mu.Unlock()
			cur = received{authUser: cur.authUser, authPass: cur.authPass}
			tp.PrintfLine("250 queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 ok")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 unknown command")
		}
	}
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newChannel(t *testing.T, cfg config.Sink) adapters.Notifier {
	t.Helper()
	cfg.Type, cfg.Name = "email", "ops-mail"
	if _, errs := adapters.Registry.CheckChannel(cfg); len(errs) > 0 {
		t.Fatalf("Check: %v", errs)
	}
	n, err := adapters.NewChannel(&adapters.Env{Config: &config.Config{Terminal: "CNSHA-T1", Alerts: config.Alerts{RepeatInterval: 30 * time.Minute}}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDigestOverSTARTTLS(t *testing.T) {
	pki := testpki.New(t, "smtp-ca")
	srv := startSMTP(t, pki.ServerConfig(t, false), "portsync@cnsha", "p4ss word")
	n := newChannel(t, config.Sink{Keys: config.NewKeys(email.Config{
		SMTP:         srv.addr,
		From:         "portsync CNSHA-T1 <portsync@terminal.example>",
		To:           []string{"ops@terminal.example", "Customs Desk <customs@terminal.example>"},
		UsernameFile: writeFile(t, "user", "portsync@cnsha\n"),
		PasswordFile: writeFile(t, "pass", "p4ss word\n"),
		TLS:          config.TLS{CAFile: pki.CAFile},
	})})
	gone := stale("TGHU1234567")
	gone.State, gone.At = state.Resolved, t0.Add(10*time.Minute)
	dep := state.Alert{
		ID: "unauthorized_departure/CSQU3054383", Kind: state.KindUnauthorizedDeparture, Severity: "critical", State: state.Firing,
		Terminal: "CNSHA-T1", Container: "CSQU3054383", Since: t0, At: t0,
		Summary: "CSQU3054383 departed while quarantine holds it — check gate 3",
	}
	alerts := []state.Alert{stale("MSCU1234566"), gone, dep, stale("MSKU9070323")}
	if err := n.Notify(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want one digest", len(msgs))
	}
	m := msgs[0]
	if !m.tls {
		t.Error("message was not sent over TLS")
	}
	if m.authUser != "portsync@cnsha" || m.authPass != "p4ss word" {
		t.Errorf("AUTH as %q/%q", m.authUser, m.authPass)
	}
	if m.from != "portsync@terminal.example" {
		t.Errorf("MAIL FROM %q", m.from)
	}
	if want := []string{"ops@terminal.example", "customs@terminal.example"}; !slices.Equal(m.rcpts, want) {
		t.Errorf("RCPT TO %v, want %v", m.rcpts, want)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, m.data)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || from[0].Address != "portsync@terminal.example" || from[0].Name != "portsync CNSHA-T1" {
		t.Errorf("From %v (%v)", from, err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Address != "customs@terminal.example" {
		t.Errorf("To %v (%v)", to, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[portsync CNSHA-T1] 3 firing, 1 resolved: unauthorized_departure CSQU3054383 ..."; subject != want {
		t.Errorf("Subject %q, want %q", subject, want)
	}
	for _, h := range []string{"Date", "Message-Id", "Mime-Version"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	// net/mail does not decode the transfer encoding.
	body, err := io.ReadAll(quotedPrintable(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, a := range alerts {
		if !strings.Contains(text, a.Summary) {
			t.Errorf("body lacks %q:\n%s", a.Summary, text)
		}
		if !strings.Contains(text, a.ID) {
			t.Errorf("body lacks id %s", a.ID)
		}
	}
	for _, want := range []string{
		"stale_hold: 2 firing, 1 resolved", "unauthorized_departure: 1 firing",
		"FIRING critical unauthorized_departure CSQU3054383", "RESOLVED warning stale_hold TGHU1234567/customs",
		"resolved:  2026-11-28T02:30:00Z", "every 30m,",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
}

func TestNoSTARTTLSRefused(t *testing.T) {
	srv := startSMTP(t, nil, "u", "p")
	n := newChannel(t, config.Sink{Keys: config.NewKeys(email.Config{
		SMTP:         srv.addr,
		From:         "portsync@terminal.example",
		To:           []string{"ops@terminal.example"},
		UsernameFile: writeFile(t, "user", "u"),
		PasswordFile: writeFile(t, "pass", "p"),
	})})
	err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")})
	if !errors.Is(err, email.ErrNoStartTLS) || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), srv.addr) {
		t.Fatalf("Notify = %v, want a clear STARTTLS refusal naming the server", err)
	}
	for _, c := range srv.seen() {
		if c == "AUTH" || c == "MAIL" || c == "DATA" {
			t.Errorf("sent %s without TLS", c)
		}
	}
	if len(srv.messages()) != 0 {
		t.Error("a message was delivered")
	}
}

func TestUntrustedCertificateRefused(t *testing.T) {
	pki := testpki.New(t, "smtp-ca")
	other := testpki.New(t, "other-ca")
	srv := startSMTP(t, pki.ServerConfig(t, false), "", "")
	n := newChannel(t, config.Sink{Keys: config.NewKeys(email.Config{
		SMTP: srv.addr,
		From: "portsync@terminal.example",
		To:   []string{"ops@terminal.example"},
		TLS:  config.TLS{CAFile: other.CAFile},
	})})
	err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Notify = %v, want a TLS verification error", err)
	}
	if len(srv.messages()) != 0 {
		t.Error("a message was delivered over an unverified connection")
	}
	// Without credentials, mail still goes over TLS.
	n = newChannel(t, config.Sink{Keys: config.NewKeys(email.Config{
		SMTP: srv.addr,
		From: "portsync@terminal.example",
		To:   []string{"ops@terminal.example"},
		TLS:  config.TLS{CAFile: pki.CAFile},
	})})
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.messages(); len(msgs) != 1 || !msgs[0].tls {
		t.Errorf("messages %+v, want one over TLS", msgs)
	}
}

func TestWrongPassword(t *testing.T) {
	pki := testpki.New(t, "smtp-ca")
	srv := startSMTP(t, pki.ServerConfig(t, false), "u", "right")
	n := newChannel(t, config.Sink{Keys: config.NewKeys(email.Config{
		SMTP:         srv.addr,
		From:         "portsync@terminal.example",
		To:           []string{"ops@terminal.example"},
		UsernameFile: writeFile(t, "user", "u"),
		PasswordFile: writeFile(t, "pass", "wrong"),
		TLS:          config.TLS{CAFile: pki.CAFile},
	})})
	err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")})
	if err == nil || !strings.Contains(err.Error(), "AUTH") || !strings.Contains(err.Error(), "535") {
		t.Fatalf("Notify = %v, want the AUTH failure", err)
	}
}

func TestTimeout(t *testing.T) {
	pki := testpki.New(t, "smtp-ca")
	srv := startSMTP(t, pki.ServerConfig(t, false), "", "")
	srv.stall.Store(true)
	n := newChannel(t, config.Sink{Keys: config.NewKeys(email.Config{
		SMTP:    srv.addr,
		From:    "portsync@terminal.example",
		To:      []string{"ops@terminal.example"},
		TLS:     config.TLS{CAFile: pki.CAFile},
		Timeout: 200 * time.Millisecond,
	})})
	start := time.Now()
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err == nil {
		t.Fatal("Notify succeeded against a stalled server")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v with a 200ms timeout", el)
	}
}

func TestCheck(t *testing.T) {
	good := email.Config{SMTP: "mail.example:587", From: "portsync@x.example", To: []string{"ops@x.example"}}
	check := func(keys any) []string {
		var got []string
		_, errs := adapters.Registry.CheckChannel(config.Sink{Type: email.Type, Keys: config.NewKeys(keys)})
		for _, e := range errs {
			got = append(got, e.Key)
		}
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		mod  func(*email.Config)
		keys []string
	}{
		{func(*email.Config) {}, nil},
		{func(c *email.Config) { *c = email.Config{} }, []string{"from", "smtp", "to"}},
		{func(c *email.Config) { c.SMTP = "mail.example" }, []string{"smtp"}},
		{func(c *email.Config) { c.SMTP = "mail.example:smtp" }, []string{"smtp"}},
		{func(c *email.Config) { c.From = "not an address" }, []string{"from"}},
		{func(c *email.Config) { c.To = []string{"ops@x.example", "bad"} }, []string{"to[1]"}},
		{func(c *email.Config) { c.UsernameFile = "/u" }, []string{"password_file"}},
		{func(c *email.Config) { c.TLS.KeyFile = "/k" }, []string{"tls"}},
	} {
		c := good
		tc.mod(&c)
		if got := check(c); !slices.Equal(got, tc.keys) {
			t.Errorf("Check(%+v) keys %v, want %v", c, got, tc.keys)
		}
	}
	// The keys of other types'.
	other := struct {
		email.Config `yaml:",inline"`
		URL          string `yaml:"url"`
		Template     string `yaml:"template"`
	}{good, "https://x", "slack"}
	if got, want := check(other), []string{"template", "url"}; !slices.Equal(got, want) {
		t.Errorf("Check(%+v) keys %v, want %v", other, got, want)
	}
}

func quotedPrintable(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }
