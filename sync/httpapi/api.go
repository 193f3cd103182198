package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httppush"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// Handler returns the HTTP API and the dashboard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{$}", s.handleIndex)
	// Agency gateways push with their own tokens, checked by the handler.
	mux.Handle("POST "+httppush.Path, httppush.Handler(s.pushConfig))
	// Manual overrides take their own token, never the API's.
	mux.HandleFunc("POST /api/v1/containers/{id}/override", s.handleOverride)

	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/containers/{id}", s.handleContainer)
	api.HandleFunc("GET /api/v1/containers/{id}/history", s.handleHistory)
	api.HandleFunc("GET /api/v1/mismatches", s.handleMismatches)
	api.HandleFunc("GET /api/v1/alerts", s.handleAlerts)
	api.HandleFunc("GET /api/v1/deadletters", s.handleDeadLetters)
	api.HandleFunc("POST /api/v1/deadletters/{id}/retry", s.handleRetry)
	api.HandleFunc("POST /api/v1/sweep", s.handleSweep)
	api.HandleFunc("GET /api/v1/backup", s.handleBackup)
	api.HandleFunc("GET /api/v1/overview", s.handleOverview)
	api.HandleFunc("GET /api/v1/search", s.handleSearch)
	api.HandleFunc("GET /api/v1/bls/{bl}", s.handleBL)
	api.HandleFunc("GET /api/v1/cluster", s.handleCluster)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path: "+r.Method+" "+r.URL.Path)
	})
	mux.Handle("/", s.authorize(api))
	return s.checkHost(sameSite(s.toLeader(s.boundBody(mux))))
}

// pushConfig is what the http_push handler checks a request against and
// hands its event to: the configuration in force now.
func (s *Server) pushConfig() httppush.Config {
	set := s.Backend.Current()
	c := httppush.Config{Tokens: set.PushTokens, APIToken: set.Token, BodyTimeout: s.BodyTimeout}
	for _, sc := range set.Config.Sources {
		if sc.Type == httppush.Type {
			c.Sources = append(c.Sources, sc.Name)
		}
	}
	c.Submit = func(ctx context.Context, name string, m adapters.Message) httppush.Result {
		src := set.Sources[name]
		if src == nil {
			return httppush.Result{Err: fmt.Errorf("source %s is not configured", name)}
		}
		o := s.Engine().Submit(ctx, src, m)
		return httppush.Result{Results: o.Results, Reject: o.Reject, Ack: o.Ack, Err: o.Err}
	}
	return c
}

// maxRequestBody bounds what the API reads from a request: an agency
// event is far smaller.
const maxRequestBody = 1 << 20

// boundBody limits a request body's size and the time it may take.
func (s *Server) boundBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.BodyTimeout))
			if err != nil && !errors.Is(err, http.ErrNotSupported) {
				s.Log.Warn("cannot set the request body deadline", "path", r.URL.Path, "err", err)
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses requests whose Host is not this server's: a page that
// rebinds its own name to a loopback address reaches the daemon with that
// name as Host, and must not read anything, token or not. Accepted are the
// listen address (as configured and as bound, unless it is a wildcard
// address, which no client addresses), loopback names and http.hosts.
func (s *Server) checkHost(next http.Handler) http.Handler {
	listen := map[string]bool{}
	for _, addr := range []string{s.Backend.Current().Config.HTTP.Listen, s.Backend.Addr()} {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
				listen[strings.ToLower(addr)] = true
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptedHost(r.Host, listen, s.Backend.Current().Config.HTTP.Hosts) {
			refuse(w, r, http.StatusMisdirectedRequest,
				fmt.Sprintf("Host %q is not this server's name; list it in http.hosts if clients reach portsync by it", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// acceptedHost reports whether a Host header names this server: one of
// the listen addresses, a loopback name with any port, or one of names,
// without case and with any port.
func acceptedHost(hostport string, listen map[string]bool, names []string) bool {
	hostport = strings.ToLower(hostport)
	// Only HTTP/1.0 may leave Host out, and browsers never do: such a
	// request (an old load balancer's health check) cannot be a page's.
	if hostport == "" || listen[hostport] {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = bareHost(host)
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, name := range names {
		if bareHost(strings.ToLower(name)) == host {
			return true
		}
	}
	return false
}

// bareHost drops an IPv6 literal's brackets and a name's final dot.
func bareHost(h string) string {
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
}

// refuse answers with an error before the request's body is read. The
// connection is then closed rather than kept: otherwise the server would
// first wait for the body it does not want, so that a client that
// announces a body and never sends it would hold its answer and the
// connection.
func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeError(w, code, msg)
}

// sameSite refuses requests a browser marks as coming from another site,
// and any request whose Origin is not this server: the dashboard and the
// API are never meant to be called from other pages, and no CORS header is
// ever sent. Tools (curl, the CLI, Prometheus) send neither header.
func sameSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			refuse(w, r, http.StatusForbidden, "cross-site requests are refused")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != r.Host {
				refuse(w, r, http.StatusForbidden, "cross-origin requests are refused")
				return
			}
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// authorize requires the token, when one is configured.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portsync"`)
			refuse(w, r, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks the bearer token in constant time, so that response
// timing does not leak it. The dashboard's session cookie is accepted for
// reading only: a request that changes something must carry the header,
// which a cross-site form cannot set.
func (s *Server) authorized(r *http.Request) bool {
	token := s.Backend.Current().Token
	if token == "" {
		return true
	}
	want := []byte("Bearer " + token)
	if got := r.Header.Get("Authorization"); got != "" {
		return subtle.ConstantTimeCompare([]byte(got), want) == 1
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	c, err := r.Cookie(tokenCookie)
	if err != nil {
		return false
	}
	v, err := url.PathUnescape(c.Value)
	return err == nil && subtle.ConstantTimeCompare([]byte("Bearer "+v), want) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ok, reasons := s.Backend.Ready()
	body := map[string]any{"ready": ok}
	if !ok {
		body["reasons"] = reasons
	}
	// In a cluster, the role tells a load balancer where writes go: its
	// health check can ask for the leader (GET /readyz?role=leader, 503
	// on the others) or take every ready node for reads.
	if self, err := s.Backend.ClusterNodes(r.Context(), true); err == nil && len(self) == 1 {
		role := self[0].Role
		body["role"] = role
		if want := r.URL.Query().Get("role"); want != "" && want != role && ok {
			body["ready"] = false
			body["reasons"] = []string{"this node is the " + role + ", not the " + want}
			ok = false
		}
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// ContainerDetail is the answer of GET /api/v1/containers/{id}: the
// integrated view plus what is in flight for the container. AgencyDetail
// is each agency's ledger: its release and its holds by type, each with
// the time, event and source that last set it (an operator's override
// has the source override:WHO).
type ContainerDetail struct {
	sync.View
	PendingCommands []PendingDetail              `json:"pending_commands"`
	OpenAlerts      []json.RawMessage            `json:"open_alerts"`
	Mismatches      []state.Mismatch             `json:"mismatches"`
	AgencyDetail    map[string]state.AgencyState `json:"agency_detail"`
	BLs             []string                     `json:"bls,omitempty"`
	Declarations    []string                     `json:"declarations,omitempty"`
}

// PendingDetail is a command awaiting TOS confirmation.
type PendingDetail struct {
	state.PendingCommand
	Attempts int `json:"attempts"`
}

func (s *Server) containerID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := state.ParseContainer(r.PathValue("id"))
	if err != nil {
		rej := state.AsRejection(err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": rej.Reason, "code": rej.Code})
		return "", false
	}
	return id, true
}

func (s *Server) handleContainer(w http.ResponseWriter, r *http.Request) {
	id, ok := s.containerID(w, r)
	if !ok {
		return
	}
	var detail ContainerDetail
	var found bool
	err := s.Store.View(func(tx *state.Tx) error {
		c, ok, err := tx.Container(id)
		if err != nil || !ok {
			return err
		}
		found = true
		detail = s.detail(tx, &c)
		return nil
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !found:
		writeError(w, http.StatusNotFound, "container "+id+" is not known")
	default:
		writeJSON(w, http.StatusOK, detail)
	}
}

func (s *Server) detail(tx *state.Tx, c *state.Container) ContainerDetail {
	detail := ContainerDetail{
		View: s.Engine().View(c), PendingCommands: []PendingDetail{}, OpenAlerts: []json.RawMessage{},
		Mismatches: []state.Mismatch{}, AgencyDetail: map[string]state.AgencyState{}, BLs: c.BLs, Declarations: c.Declarations,
	}
	for name, a := range c.Agencies {
		detail.AgencyDetail[name] = s.Engine().Ledger(a)
	}
	var ids []string
	for _, pc := range c.Pending {
		ids = append(ids, pc.ID)
	}
	attempts := s.Engine().CommandAttempts(ids)
	for _, hold := range slices.Sorted(maps.Keys(c.Pending)) {
		pc := c.Pending[hold]
		detail.PendingCommands = append(detail.PendingCommands, PendingDetail{PendingCommand: pc, Attempts: attempts[pc.ID]})
	}
	// A manual_override alert is the container's too, though decisions do
	// not keep it among c.Alerts.
	alertIDs := slices.Clone(c.Alerts)
	for _, name := range slices.Sorted(maps.Keys(c.Agencies)) {
		alertIDs = append(alertIDs, sync.AlertID(state.KindManualOverride, c.ID, name))
	}
	for _, id := range alertIDs {
		if a, ok, err := tx.Alert(id); err == nil && ok && a.State == state.Firing {
			if data, err := adapters.EncodeAlert(a); err == nil {
				detail.OpenAlerts = append(detail.OpenAlerts, data)
			}
		}
	}
	for _, agency := range slices.Sorted(maps.Keys(c.Mismatches)) {
		detail.Mismatches = append(detail.Mismatches, c.Mismatches[agency])
	}
	return detail
}

// Every list the API answers is paged: ?limit= items (defaultPage, at most
// maxPage) after ?cursor=, with next_cursor in the answer while more
// remain.
const (
	defaultPage = 100
	maxPage     = 1000
)

// pageQuery reads a list request's limit and cursor; after is the store
// key the cursor stands for ("" for the first page).
func pageQuery(r *http.Request) (after string, n int, err error) {
	q := r.URL.Query()
	n = defaultPage
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return "", 0, fmt.Errorf("limit: want a whole number from 1 to %d, got %q", maxPage, s)
		}
		n = min(v, maxPage)
	}
	if c := q.Get("cursor"); c != "" {
		key, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(key) == 0 {
			return "", 0, fmt.Errorf("cursor %q is not one this server gave: pass next_cursor as it came", c)
		}
		after = string(key)
	}
	return after, n, nil
}

// cursorFor makes the store key a page ended at into an opaque cursor:
// clients pass it back and never build one.
func cursorFor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// writePage answers a list under its name, with next_cursor when the store
// says another page follows (next is "" at the end).
func writePage(w http.ResponseWriter, name string, items any, next string, extra map[string]any) {
	answer := map[string]any{name: items}
	for k, v := range extra {
		answer[k] = v
	}
	if next != "" {
		answer["next_cursor"] = cursorFor(next)
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := s.containerID(w, r)
	if !ok {
		return
	}
	after, n, err := pageQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var afterSeq uint64
	if after != "" {
		if afterSeq, err = strconv.ParseUint(after, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "cursor is not one this server gave: pass next_cursor as it came")
			return
		}
	}
	var entries []state.JournalEntry
	var next uint64
	var known bool
	err = s.Store.View(func(tx *state.Tx) error {
		_, exists, err := tx.Container(id)
		if err != nil {
			return err
		}
		known = exists
		entries, next, err = tx.HistoryPage(id, afterSeq, n)
		return err
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !known && len(entries) == 0 && afterSeq == 0:
		writeError(w, http.StatusNotFound, "container "+id+" is not known")
	case next == 0:
		writePage(w, "history", entries, "", map[string]any{"container": id})
	default:
		writePage(w, "history", entries, strconv.FormatUint(next, 10), map[string]any{"container": id})
	}
}

// servePage answers one page of a store list.
func servePage[T any](s *Server, w http.ResponseWriter, r *http.Request, name string, read func(tx *state.Tx, after string, n int) ([]T, string, error)) {
	after, n, err := pageQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var items []T
	var next string
	err = s.Store.View(func(tx *state.Tx) (err error) {
		items, next, err = read(tx, after, n)
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writePage(w, name, items, next, nil)
}

func (s *Server) handleMismatches(w http.ResponseWriter, r *http.Request) {
	servePage(s, w, r, "mismatches", (*state.Tx).MismatchesPage)
}

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	servePage(s, w, r, "alerts", func(tx *state.Tx, after string, n int) ([]json.RawMessage, string, error) {
		alerts, next, err := tx.FiringAlertsPage(after, n)
		out := []json.RawMessage{}
		for _, a := range alerts {
			if data, err := adapters.EncodeAlert(a); err == nil {
				out = append(out, data)
			}
		}
		return out, next, err
	})
}

func (s *Server) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	servePage(s, w, r, "deadletters", (*state.Tx).DeadLettersPage)
}

// handleRetry decodes a dead letter's payload again with its source's
// current decoder; on success it is applied and the dead letter removed in
// the same transaction.
func (s *Server) handleRetry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var dl state.DeadLetter
	var found bool
	err := s.Store.View(func(tx *state.Tx) (err error) {
		dl, found, err = tx.DeadLetter(id)
		return err
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	case !found:
		writeError(w, http.StatusNotFound, "no dead letter "+id)
		return
	}
	src, ok := s.Backend.Current().Sources[dl.Source]
	if !ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("source %s of dead letter %s is no longer configured", dl.Source, id))
		return
	}
	o := s.Engine().Retry(r.Context(), src, id, adapters.Message{Payload: []byte(dl.Payload), ReceivedAt: dl.ReceivedAt})
	switch {
	case o.Err != nil:
		writeError(w, http.StatusServiceUnavailable, o.Err.Error())
	case o.Reject != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": o.Reject.Reason, "code": o.Reject.Code})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "results": o.Results})
	}
}

func (s *Server) handleSweep(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	answer := map[string]any{}
	res, err := s.Backend.Sweep(r.Context())
	switch {
	case res.SnapshotErr != nil:
		answer["snapshot_error"] = res.SnapshotErr.Error()
	case res.Snapshot != nil:
		answer["snapshot"] = res.Snapshot
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	answer["containers"], answer["seconds"] = res.Containers, time.Since(start).Seconds()
	writeJSON(w, http.StatusOK, answer)
}

func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="portsync-%s.db"`, time.Now().UTC().Format("20060102T150405Z")))
	if _, err := s.Store.WriteTo(w); err != nil {
		s.Log.Error("backup failed", "err", err)
	}
}
