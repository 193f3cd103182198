// Package webhook owns the webhook alert channel (channel type "webhook"):
// it POSTs alerts to an HTTP endpoint. Without a template each alert is its
// own request whose body is the alert of DESIGN 3.4; with template slack,
// teams or dingtalk, every alert of one delivery pass becomes one chat
// message, a digest, so that a vessel's worth of stale holds is one notice
// rather than hundreds.
//
// With secret_file set, every request carries
//
//	X-Portsync-Signature: sha256=<hex HMAC-SHA256(key, body)>
//
// where key is the secret file's content (trimmed of surrounding white
// space) and body the exact request body; the receiver recomputes it and
// compares in constant time. A replayed body is indistinguishable from a
// repeat notice (same alert id, state and at), which receivers tolerate
// already, so no timestamp is signed. For template dingtalk the same
// secret also signs the URL the way a DingTalk robot with "additional
// signature" security expects (timestamp and sign query parameters).
//
// Retries and the circuit breaker belong to the alert manager: Notify
// returns an error for a timeout, a connection failure or any reply other
// than 2xx, and the whole batch is delivered again later.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/digest"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Templates for chat systems.
const (
	Slack    = "slack"
	Teams    = "teams"
	DingTalk = "dingtalk"
)

// SignatureHeader carries the HMAC-SHA256 of the body when secret_file is
// set.
const SignatureHeader = "X-Portsync-Signature"

// MaxDigestLines caps the alert lines of a chat digest; the rest are
// counted in an "and N more" line.
const MaxDigestLines = 50

// parallel is how many alerts are posted at once without a template, so
// that a large batch fits in the alert manager's send timeout.
const parallel = 4

// Type is the configuration type name of the adapter.
const Type = "webhook"

func init() {
	adapters.RegisterChannel(Type, adapters.SinkWithConfig(New, Check, unused))
}

// unused is the message of a key of another sink or channel type's.
const unused = "not used by webhook channels"

// Config is a webhook channel's own keys; the common ones are in
// config.Sink.
type Config struct {
	httpout.Config `yaml:",inline"`
	// Template is the chat format (slack, teams, dingtalk); "" posts
	// each alert as JSON.
	Template string `yaml:"template"`
	// SecretFile holds the key of the HMAC-SHA256 signature header.
	SecretFile string `yaml:"secret_file"`
}

// Check checks a webhook channel's keys: its own, in c, and the common
// ones of cfg.
func Check(cfg config.Sink, c *Config) []config.KeyError {
	errs := httpout.Check(c.Config, "a webhook")
	switch c.Template {
	case "", Slack, Teams, DingTalk:
	default:
		errs = append(errs, config.KeyError{Key: "template", Msg: fmt.Sprintf("%q is not one of [slack teams dingtalk]", c.Template)})
	}
	return append(errs, httpout.BrokerUnused(cfg, unused)...)
}

// Channel is a webhook alert channel.
type Channel struct {
	name     string
	url      string
	template string
	secret   []byte
	terminal string
	client   *httpout.Client
	log      *slog.Logger
	now      func() time.Time

	refusedLog httpout.Throttle
}

// New builds the webhook channel cfg describes; it reads token_file,
// secret_file and the TLS files now, and token_file again before every
// request.
func New(env *adapters.Env, cfg config.Sink, own *Config) (adapters.Notifier, error) {
	c := &Channel{
		name: cfg.Name, url: own.URL, template: own.Template,
		log: slog.New(slog.DiscardHandler), now: time.Now,
	}
	if env != nil && env.Logger != nil {
		c.log = env.Logger
	}
	client, err := httpout.New(own.Config, c.log.With("channel", cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("alert channel %s: %w", cfg.Name, err)
	}
	c.client = client
	if env != nil && env.Config != nil {
		c.terminal = env.Config.Terminal
	}
	if own.SecretFile != "" {
		s, err := config.ReadSecret(own.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("alert channel %s: secret_file: %w", cfg.Name, err)
		}
		c.secret = []byte(s)
	}
	return c, nil
}

// Notify delivers alerts: one digest message with a template, else one
// request per alert.
func (c *Channel) Notify(ctx context.Context, alerts []state.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	var err error
	if c.template != "" {
		err = c.notifyDigest(ctx, alerts)
	} else {
		err = c.notifyEach(ctx, alerts)
	}
	if httpout.IsRefused(err) {
		c.logRefused(err)
	}
	return err
}

// logRefused says, at most once a minute, that the endpoint refuses the
// notices: retrying will not help until someone changes something.
func (c *Channel) logRefused(err error) {
	if c.refusedLog.Allow(c.now()) {
		c.log.Error("webhook endpoint refused the alert notice; portsync keeps retrying, but the channel's url, token, headers or template probably need fixing",
			"channel", c.name, "err", err)
	}
}

func (c *Channel) notifyEach(ctx context.Context, alerts []state.Alert) error {
	bodies := make([][]byte, len(alerts))
	for i, a := range alerts {
		b, err := adapters.EncodeAlert(a)
		if err != nil {
			return err
		}
		bodies[i] = b
	}
	errs := make([]error, len(alerts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, len(alerts)) {
		wg.Go(func() {
			for i := range next {
				_, errs[i] = c.post(ctx, c.url, bodies[i])
			}
		})
	}
	for i := range alerts {
		next <- i
	}
	close(next)
	wg.Wait()
	failed := 0
	var first error
	for i, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = fmt.Errorf("alert %s: %w", alerts[i].ID, err)
			}
		}
	}
	if failed == 0 {
		return nil
	}
	if failed == 1 {
		return first
	}
	return fmt.Errorf("%d of %d alerts not delivered; first: %w", failed, len(alerts), first)
}

func (c *Channel) notifyDigest(ctx context.Context, alerts []state.Alert) error {
	ordered := digest.Order(alerts)
	body, err := Render(c.template, digest.Terminal(ordered, c.terminal), ordered)
	if err != nil {
		return err
	}
	target := c.url
	if c.template == DingTalk && c.secret != nil {
		if target, err = dingTalkSign(c.url, c.secret, c.now()); err != nil {
			return err
		}
	}
	reply, err := c.post(ctx, target, body)
	if err != nil {
		return err
	}
	if c.template == DingTalk {
		return dingTalkReply(reply.Body)
	}
	return nil
}

// post sends one body, signed when a secret is set.
func (c *Channel) post(ctx context.Context, target string, body []byte) (httpout.Reply, error) {
	var extra http.Header
	if c.secret != nil {
		extra = http.Header{SignatureHeader: {Sign(c.secret, body)}}
	}
	return c.client.Post(ctx, target, "application/json", body, extra)
}

// Sign returns the X-Portsync-Signature value for body: "sha256=" and the
// hex HMAC-SHA256 of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the signature of body under key; it is
// what a receiver written in Go would call.
func Verify(key, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(key, body)))
}

// Render builds the chat message body of a digest of alerts, which must be
// in digest.Order.
func Render(template, terminal string, alerts []state.Alert) ([]byte, error) {
	lines := digest.Text(terminal, alerts, MaxDigestLines)
	switch template {
	case Slack:
		// Slack's text is mrkdwn: &, < and > must be escaped.
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
		return json.Marshal(map[string]string{"text": esc.Replace(strings.Join(lines, "\n"))})
	case Teams:
		// Teams renders text as Markdown, which joins single line breaks.
		return json.Marshal(map[string]string{"text": strings.Join(lines, "\n\n")})
	case DingTalk:
		type text struct {
			Content string `json:"content"`
		}
		return json.Marshal(struct {
			MsgType string `json:"msgtype"`
			Text    text   `json:"text"`
		}{"text", text{strings.Join(lines, "\n")}})
	}
	return nil, fmt.Errorf("unknown webhook template %q", template)
}

// dingTalkSign adds the timestamp and sign parameters of a DingTalk robot
// with signature security: sign is base64(HMAC-SHA256(secret,
// timestamp+"\n"+secret)), timestamp in milliseconds.
func dingTalkSign(raw string, secret []byte, now time.Time) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "\n" + string(secret)))
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// dingTalkReply turns DingTalk's "HTTP 200 with a non-zero errcode" into
// an error.
func dingTalkReply(body []byte) error {
	var r struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(body, &r) != nil || r.ErrCode == nil || *r.ErrCode == 0 {
		return nil
	}
	return errors.New("dingtalk robot refused the message: errcode " + strconv.Itoa(*r.ErrCode) + ": " + digest.OneLine(r.ErrMsg, 200))
}
