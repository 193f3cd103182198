package sync

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// Handler returns the daemon's HTTP API (DESIGN section 6) and dashboard.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", d.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{$}", d.handleIndex)
	// Agency gateways push with their own tokens, checked by the handler.
	mux.HandleFunc("POST /api/v1/events", d.handleEvents)

	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/containers/{id}", d.handleContainer)
	api.HandleFunc("GET /api/v1/containers/{id}/history", d.handleHistory)
	api.HandleFunc("GET /api/v1/mismatches", d.handleMismatches)
	api.HandleFunc("GET /api/v1/alerts", d.handleAlerts)
	api.HandleFunc("GET /api/v1/deadletters", d.handleDeadLetters)
	api.HandleFunc("POST /api/v1/deadletters/{id}/retry", d.handleRetry)
	api.HandleFunc("POST /api/v1/sweep", d.handleSweep)
	api.HandleFunc("GET /api/v1/backup", d.handleBackup)
	api.HandleFunc("GET /api/v1/overview", d.handleOverview)
	api.HandleFunc("GET /api/v1/search", d.handleSearch)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path: "+r.Method+" "+r.URL.Path)
	})
	mux.Handle("/", d.authorize(api))
	return sameSite(limitBody(mux))
}

// maxRequestBody bounds what the API reads from a request: an agency
// event is far smaller.
const maxRequestBody = 1 << 20

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		next.ServeHTTP(w, r)
	})
}

// sameSite refuses requests a browser marks as coming from another site,
// and any request whose Origin is not this server: the dashboard and the
// API are never meant to be called from other pages, and no CORS header is
// ever sent. Tools (curl, the CLI, Prometheus) send neither header.
func sameSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeError(w, http.StatusForbidden, "cross-site requests are refused")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != r.Host {
				writeError(w, http.StatusForbidden, "cross-origin requests are refused")
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
func (d *Daemon) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portsync"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks the bearer token in constant time, so that response
// timing does not leak it. The dashboard's session cookie is accepted for
// reading only: a request that changes something must carry the header,
// which a cross-site form cannot set.
func (d *Daemon) authorized(r *http.Request) bool {
	token := d.current().token
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

func (d *Daemon) handleReady(w http.ResponseWriter, r *http.Request) {
	ok, reasons := d.Ready()
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reasons": reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// ContainerDetail is the answer of GET /api/v1/containers/{id}: the
// integrated view plus what is in flight for the container.
type ContainerDetail struct {
	View
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

func (d *Daemon) containerID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := state.ParseContainer(r.PathValue("id"))
	if err != nil {
		var rej *state.Rejection
		errors.As(err, &rej)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": rej.Reason, "code": rej.Code})
		return "", false
	}
	return id, true
}

func (d *Daemon) handleContainer(w http.ResponseWriter, r *http.Request) {
	id, ok := d.containerID(w, r)
	if !ok {
		return
	}
	var detail ContainerDetail
	var found bool
	err := d.store.View(func(tx *state.Tx) error {
		c, ok, err := tx.Container(id)
		if err != nil || !ok {
			return err
		}
		found = true
		detail = d.detail(tx, &c)
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

func (d *Daemon) detail(tx *state.Tx, c *state.Container) ContainerDetail {
	p := *d.engine.policy.Load()
	detail := ContainerDetail{
		View: NewView(c, p), PendingCommands: []PendingDetail{}, OpenAlerts: []json.RawMessage{},
		Mismatches: []state.Mismatch{}, AgencyDetail: c.Agencies, BLs: c.BLs, Declarations: c.Declarations,
	}
	var ids []string
	for _, pc := range c.Pending {
		ids = append(ids, pc.ID)
	}
	attempts := d.dispatcher.Attempts(ids)
	for _, hold := range sortedKeys(c.Pending) {
		pc := c.Pending[hold]
		detail.PendingCommands = append(detail.PendingCommands, PendingDetail{PendingCommand: pc, Attempts: attempts[pc.ID]})
	}
	for _, id := range c.Alerts {
		if a, ok, err := tx.Alert(id); err == nil && ok {
			if data, err := adapters.EncodeAlert(a); err == nil {
				detail.OpenAlerts = append(detail.OpenAlerts, data)
			}
		}
	}
	for _, agency := range sortedKeys(c.Mismatches) {
		detail.Mismatches = append(detail.Mismatches, c.Mismatches[agency])
	}
	return detail
}

func (d *Daemon) handleHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := d.containerID(w, r)
	if !ok {
		return
	}
	var entries []state.JournalEntry
	var known bool
	err := d.store.View(func(tx *state.Tx) error {
		_, exists, err := tx.Container(id)
		if err != nil {
			return err
		}
		known = exists
		entries, err = tx.History(id)
		return err
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !known && len(entries) == 0:
		writeError(w, http.StatusNotFound, "container "+id+" is not known")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"container": id, "history": entries})
	}
}

func (d *Daemon) handleMismatches(w http.ResponseWriter, r *http.Request) {
	var ms []state.Mismatch
	err := d.store.View(func(tx *state.Tx) (err error) {
		ms, err = tx.Mismatches()
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"mismatches": ms})
}

func (d *Daemon) handleAlerts(w http.ResponseWriter, r *http.Request) {
	var alerts []state.Alert
	err := d.store.View(func(tx *state.Tx) (err error) {
		alerts, err = tx.Alerts()
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []json.RawMessage{}
	for _, a := range alerts {
		if a.State != state.Firing {
			continue
		}
		if data, err := adapters.EncodeAlert(a); err == nil {
			out = append(out, data)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}

func (d *Daemon) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	var dls []state.DeadLetter
	err := d.store.View(func(tx *state.Tx) (err error) {
		dls, err = tx.DeadLetters()
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadletters": dls})
}

// handleRetry decodes a dead letter's payload again with its source's
// current decoder; on success it is applied and the dead letter removed in
// the same transaction.
func (d *Daemon) handleRetry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var dl state.DeadLetter
	var found bool
	err := d.store.View(func(tx *state.Tx) (err error) {
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
	src, ok := d.current().byName[dl.Source]
	if !ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("source %s of dead letter %s is no longer configured", dl.Source, id))
		return
	}
	o := d.engine.submit(r.Context(), inbound{
		src: src, retryOf: id,
		msg: adapters.Message{Payload: []byte(dl.Payload), ReceivedAt: dl.ReceivedAt},
	})
	switch {
	case o.Err != nil:
		writeError(w, http.StatusServiceUnavailable, o.Err.Error())
	case o.Reject != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": o.Reject.Reason, "code": o.Reject.Code})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "results": o.Results})
	}
}

func (d *Daemon) handleSweep(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lost := d.sessions.pending()
	answer := map[string]any{}
	if res, err := d.snapshotSweep(r.Context()); err != nil {
		d.log.Error("TOS snapshot failed; the sweep goes on without it", "err", err)
		answer["snapshot_error"] = err.Error()
	} else if res != nil {
		answer["snapshot"] = res
	}
	n, err := d.engine.Sweep(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	d.dispatcher.ResendAll()
	d.sessionsSwept(lost)
	answer["containers"], answer["seconds"] = n, time.Since(start).Seconds()
	writeJSON(w, http.StatusOK, answer)
}

func (d *Daemon) handleBackup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="portsync-%s.db"`, time.Now().UTC().Format("20060102T150405Z")))
	if _, err := d.store.WriteTo(w); err != nil {
		d.log.Error("backup failed", "err", err)
	}
}
