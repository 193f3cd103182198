package sync

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/state"
)

// web holds the dashboard: one page, its script and style, embedded so the
// daemon serves it offline with no CDN.
//
//go:embed web
var web embed.FS

// tokenCookie carries the API token for the dashboard's page loads; the
// page's own API calls send it as a bearer header.
const tokenCookie = "portsync_token"

// Overview is the dashboard's live picture, GET /api/v1/overview.
type Overview struct {
	Terminal        string                   `json:"terminal"`
	Now             time.Time                `json:"now"`
	Ready           bool                     `json:"ready"`
	Reasons         []string                 `json:"reasons"`
	SLASeconds      float64                  `json:"sla_seconds"`
	Presence        map[state.Presence]int64 `json:"presence"`
	ClearedInYard   int64                    `json:"cleared_in_yard"`
	MismatchCount   int                      `json:"mismatch_count"`
	Mismatches      []MismatchAge            `json:"mismatches"`
	Alerts          []state.Alert            `json:"alerts"`
	Recent          []state.JournalEntry     `json:"recent"`
	DeadLetterCount int                      `json:"deadletter_count"`
	DeadLetters     []state.DeadLetter       `json:"deadletters"`
	Endpoints       []EndpointStatus         `json:"endpoints"`
}

// MismatchAge is an open mismatch with its age, for the dashboard.
type MismatchAge struct {
	state.Mismatch
	AgeSeconds float64 `json:"age_seconds"`
}

// overviewLimit bounds the lists an overview carries.
const overviewLimit = 100

func (d *Daemon) handleOverview(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	ready, reasons := d.Ready()
	cfg := d.current().cfg
	o := Overview{
		Terminal: cfg.Terminal, Now: now.UTC(), Ready: ready, Reasons: reasons,
		SLASeconds: cfg.SLA.ApplyWithin.Seconds(), Mismatches: []MismatchAge{}, Alerts: []state.Alert{},
	}
	if o.Reasons == nil {
		o.Reasons = []string{}
	}
	err := d.store.View(func(tx *state.Tx) error {
		o.Presence = tx.PresenceCounts()
		o.ClearedInYard = tx.Count(countClearedInYard)
		ms, err := tx.Mismatches()
		if err != nil {
			return err
		}
		o.MismatchCount = len(ms)
		slices.SortFunc(ms, func(a, b state.Mismatch) int { return a.Since.Compare(b.Since) })
		for _, m := range ms[:min(len(ms), overviewLimit)] {
			o.Mismatches = append(o.Mismatches, MismatchAge{Mismatch: m, AgeSeconds: now.Sub(m.Since).Seconds()})
		}
		alerts, err := tx.Alerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.State == state.Firing {
				a.Notified = nil
				o.Alerts = append(o.Alerts, a)
			}
		}
		o.DeadLetters, o.DeadLetterCount, err = tx.RecentDeadLetters(20)
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	recent := d.engine.Recent()
	o.Recent = recent[:min(len(recent), overviewLimit)]
	o.Endpoints = d.endpoints()
	writeJSON(w, http.StatusOK, o)
}

// endpoints lists every source, the sink, every channel and every broker
// with its health.
func (d *Daemon) endpoints() []EndpointStatus {
	set := d.current()
	var out []EndpointStatus
	for _, name := range sortedKeys(set.brokers) {
		ok, why := set.brokers[name].Ready()
		out = append(out, EndpointStatus{Name: name, Role: "broker", Type: "mqtt", Healthy: ok, Detail: why})
	}
	for _, sc := range set.cfg.Sources {
		detail := sc.Kind
		if sc.Agency != "" {
			detail += " for " + sc.Agency
		}
		st, healthy := d.health.Status(sc.Name)
		if b, ok := set.brokers[sc.Broker]; ok && healthy {
			healthy, _ = b.Ready()
		}
		st.Name, st.Role, st.Type, st.Detail, st.Healthy = sc.Name, "source", sc.Type, detail, healthy
		out = append(out, st)
	}
	sink := d.dispatcher.Status()
	sink.Type = set.cfg.TOS.Sink.Type
	out = append(out, sink)
	types := map[string]string{}
	for _, ch := range set.cfg.Alerts.Channels {
		types[ch.Name] = ch.Type
	}
	for _, ch := range d.alerts.Status() {
		ch.Type = types[ch.Name]
		out = append(out, ch)
	}
	return out
}

// handleSearch finds containers by number, B/L or declaration number.
func (d *Daemon) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		writeError(w, http.StatusBadRequest, "query parameter q is required: a container, B/L or declaration number")
		return
	}
	found := []string{}
	err := d.store.View(func(tx *state.Tx) error {
		if id, err := state.ParseContainer(q); err == nil {
			if _, ok, err := tx.Container(id); err != nil {
				return err
			} else if ok {
				found = append(found, id)
			}
		}
		for _, ref := range []string{q, strings.ToUpper(q)} {
			for _, id := range tx.FindRefs(ref) {
				if !slices.Contains(found, id) {
					found = append(found, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": q, "containers": found})
}

// staticHandler serves the dashboard's script and style. They hold no
// data, so the login page can load them without the token.
func staticHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err)
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// handleIndex serves the dashboard page. Without a valid token it is
// served with 401, and the page asks for the token.
func (d *Daemon) handleIndex(w http.ResponseWriter, r *http.Request) {
	page, err := web.ReadFile("web/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if !d.authorized(r) {
		code = http.StatusUnauthorized
	}
	w.WriteHeader(code)
	w.Write(page)
}

// Summary is a one-line picture for systemd's STATUS= and the logs.
func (d *Daemon) Summary() string {
	var inYard, cleared int64
	var mismatches, alerts, dead int
	err := d.store.View(func(tx *state.Tx) error {
		inYard = tx.PresenceCounts()[state.InYard]
		cleared = tx.Count(countClearedInYard)
		ms, err := tx.Mismatches()
		if err != nil {
			return err
		}
		mismatches = len(ms)
		all, err := tx.Alerts()
		for _, a := range all {
			if a.State == state.Firing {
				alerts++
			}
		}
		_, dead, _ = tx.RecentDeadLetters(0)
		return err
	})
	if err != nil {
		return "store error: " + err.Error()
	}
	return fmt.Sprintf("%d in yard (%d cleared), %d mismatches, %d alerts firing, %d commands pending, %d dead letters",
		inYard, cleared, mismatches, alerts, d.dispatcher.Pending(), dead)
}

// Progress is when the writer last went round its loop, for the watchdog.
func (d *Daemon) Progress() time.Time { return d.engine.LastProgress() }
