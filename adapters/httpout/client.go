// Package httpout owns portsync's one outbound HTTP client, used by every
// adapter that speaks HTTP: the http_poll source, the TOS snapshot fetch,
// the http TOS sink and the webhook and alertmanager channels. It owns the
// per-request timeout, TLS (a private CA, a client certificate for mutual
// TLS), extra headers and the bearer token read from token_file, and the
// checks of those keys. A reply other than 2xx is a *StatusError, which says
// whether the endpoint refused the request for good (4xx) or may take it
// later (5xx, 408, 429). It also builds the TLS configuration that other
// outbound transports (SMTP) share.
//
// The token rule, for every user: token_file is read when the client is
// built (a file that cannot be read then fails the build) and again before
// every request, so that a rotated token is used without a reload; if it
// cannot be read at a request, the last token read is sent and a warning
// logged.
package httpout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portsync/portsync/config"
)

// DefaultTimeout bounds one request when the configuration sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxReply is how much of a reply body is kept for errors and checks.
const maxReply = 4 << 10

// SnippetLen is how much of a body a Snippet keeps by default.
const SnippetLen = 200

// Config is the keys of an HTTP endpoint the client takes, which the
// http sink, the webhook and alertmanager channels and the TOS snapshot
// share: they embed it inline in the struct of their own keys.
type Config struct {
	URL       string            `yaml:"url"`
	TokenFile string            `yaml:"token_file"`
	Headers   map[string]string `yaml:"headers"` // extra HTTP headers
	Timeout   time.Duration     `yaml:"timeout"` // per request; default 10s
	TLS       config.TLS        `yaml:"tls"`     // CA and client certificate for https
}

// Client sends requests to one configured endpoint.
type Client struct {
	http      *http.Client
	headers   map[string]string
	tokenFile string
	timeout   time.Duration
	log       *slog.Logger
	tokenLog  Throttle

	mu    sync.Mutex
	token string // the last token read from tokenFile
}

// New builds the client cfg describes: timeout (default 10s), tls, headers
// and token_file. It reads the token and TLS files now. log receives the
// warning about a token_file that cannot be read again; nil discards it.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{headers: cfg.Headers, tokenFile: cfg.TokenFile, timeout: cfg.Timeout, log: log}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if cfg.TokenFile != "" {
		tok, err := config.ReadSecret(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token_file: %w", err)
		}
		c.token = tok
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS != (config.TLS{}) {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	tr.ResponseHeaderTimeout = c.timeout
	c.http = &http.Client{
		Transport: tr,
		// A redirected POST turns into a GET without the body (301, 302,
		// 303) and would look like a delivery: take the first answer and
		// let the operator configure the final URL. A GET is followed, as
		// any HTTP client does, at most 10 times.
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if via[0].Method != http.MethodGet {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
	return c, nil
}

// CloseIdle closes idle connections, e.g. when the adapter is replaced on
// reload or stops.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// Reply is a 2xx answer: its status and its body (Post: the start of it;
// Get: up to the limit asked for, see Get).
type Reply struct {
	Status int
	Body   []byte
}

// StatusError is a reply other than 2xx.
type StatusError struct {
	Method string // GET or POST
	URL    string // redacted of any password
	Status int
	Body   string // the start of the reply body, on one line, for the log
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Method == http.MethodPost && e.Refused() {
		// A refused delivery is retried for ever: say what to fix.
		msg += " (the endpoint refused the request; check the channel's url, token and format)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Refused reports whether the endpoint refused the request itself (a
// redirect, or 4xx other than 408 Request Timeout and 429 Too Many
// Requests), rather than failing to take it now (5xx, 408, 429). Both are
// retried; a refusal is unlikely to succeed until the configuration or the
// endpoint changes.
func (e *StatusError) Refused() bool {
	return e.Status >= 300 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// IsRefused reports whether err is a StatusError that Refused.
func IsRefused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Refused()
}

// Post sends body to rawURL with the configured headers, token and
// timeout; extra headers are set after the configured ones. It returns
// the reply for a 2xx status, a *StatusError for any other, and an error
// naming the URL for a timeout or connection failure.
func (c *Client) Post(ctx context.Context, rawURL, contentType string, body []byte, extra http.Header) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	h := http.Header{"Content-Type": {contentType}}
	for k, vs := range extra {
		h[k] = vs
	}
	c.setHeaders(req, h)
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error names the URL (redacted) and says timeout or refused.
		return Reply{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if err := statusError(req, resp, data); err != nil {
		return Reply{}, err
	}
	return Reply{Status: resp.StatusCode, Body: data}, nil
}

// Get asks rawURL, with Accept: application/json, the configured headers,
// token and timeout (which bounds the body too). It returns the reply for
// a 2xx status, with at most limit+1 bytes of its body: a Body longer than
// limit says the answer was larger, and was cut. Other answers are as for
// Post.
func (c *Client) Get(ctx context.Context, rawURL string, limit int64) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Reply{}, err
	}
	c.setHeaders(req, http.Header{"Accept": {"application/json"}})
	resp, err := c.http.Do(req)
	if err != nil {
		return Reply{}, err // a url.Error: names the URL, says timeout or refused
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
		return Reply{}, statusError(req, resp, data)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Reply{}, fmt.Errorf("GET %s: reading the answer: %w", req.URL.Redacted(), err)
	}
	return Reply{Status: resp.StatusCode, Body: data}, nil
}

// setHeaders sets User-Agent, the configured headers, the token and then
// extra.
func (c *Client) setHeaders(req *http.Request, extra http.Header) {
	req.Header.Set("User-Agent", "portsync")
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if tok := c.currentToken(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
}

// currentToken reads token_file again (see the package comment).
func (c *Client) currentToken() string {
	if c.tokenFile == "" {
		return ""
	}
	tok, err := config.ReadSecret(c.tokenFile)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.tokenLog.Allow(time.Now()) {
			c.log.Warn("cannot read token_file; using the last token read", "err", err)
		}
		return c.token
	}
	c.token = tok
	return tok
}

// statusError is the *StatusError of a reply other than 2xx, nil for 2xx.
func statusError(req *http.Request, resp *http.Response, data []byte) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	se := &StatusError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode, Body: Snippet(data, SnippetLen)}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		se.Body = "redirected to " + redact(loc) + "; configure that URL instead"
	}
	return se
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// Snippet is the start of a body on one line, at most n characters and
// "..." when cut, for errors and logs.
func Snippet(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// Check checks the keys New uses: url (required, http or https), timeout,
// tls, headers and token_file. kind names the channel type in messages.
func Check(cfg Config, kind string) []config.KeyError {
	var errs []config.KeyError
	fail := func(key, format string, args ...any) {
		errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch u, err := url.Parse(cfg.URL); {
	case cfg.URL == "":
		fail("url", "required for %s", kind)
	case err != nil:
		fail("url", "bad URL %q: %v", cfg.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		fail("url", "want an http:// or https:// URL, got %q", cfg.URL)
	case u.Host == "":
		fail("url", "no host in %q", cfg.URL)
	case u.Scheme == "http" && cfg.TLS != (config.TLS{}):
		fail("tls", "set, but url %q is not https", u.Redacted())
	}
	if cfg.Timeout < 0 {
		fail("timeout", "must not be negative")
	}
	errs = append(errs, CheckTLS(cfg.TLS)...)
	for name, value := range cfg.Headers {
		key := "headers." + name
		if !validHeaderName(name) {
			fail(key, "not a valid HTTP header name")
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			fail(key, "value must be one line")
		}
		switch http.CanonicalHeaderKey(name) {
		case "Content-Type", "Content-Length", "Host", "Transfer-Encoding":
			fail(key, "set by portsync; remove it")
		case "Authorization":
			if cfg.TokenFile != "" {
				fail(key, "conflicts with token_file, which sets Authorization: Bearer")
			}
		}
	}
	return errs
}

// CheckTLS checks that a client certificate comes with its key.
func CheckTLS(t config.TLS) []config.KeyError {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return []config.KeyError{{Key: "tls", Msg: "cert_file and key_file go together"}}
	}
	return nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// BrokerUnused refuses a broker, which only mqtt reads, on a sink or
// channel of another type, with msg ("not used by webhook channels"), so
// that a misplaced key is not silently ignored.
func BrokerUnused(s config.Sink, msg string) []config.KeyError {
	if s.Broker == "" {
		return nil
	}
	return []config.KeyError{{Key: "broker", Msg: msg}}
}

// Throttle lets something happen at most once per Every, e.g. a log line
// about a refusal that the alert manager's retries would otherwise repeat
// every few seconds. The zero Throttle allows once a minute.
type Throttle struct {
	Every time.Duration

	mu   sync.Mutex
	last time.Time
}

// Allow reports whether the thing may happen at now, and if so counts it.
func (t *Throttle) Allow(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	every := t.Every
	if every == 0 {
		every = time.Minute
	}
	if !t.last.IsZero() && now.Sub(t.last) < every {
		return false
	}
	t.last = now
	return true
}

// FailureReason is the reason label of a failed request, for
// portsync_source_failures_total: http_status, timeout or error.
func FailureReason(err error) string {
	var netErr interface{ Timeout() bool }
	switch {
	case errors.As(err, new(*StatusError)):
		return "http_status"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return "error"
}
