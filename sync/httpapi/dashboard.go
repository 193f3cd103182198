package httpapi

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
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
	AlertCount      int                      `json:"alert_count"`
	Alerts          []state.Alert            `json:"alerts"`
	Recent          []state.JournalEntry     `json:"recent"`
	DeadLetterCount int                      `json:"deadletter_count"`
	DeadLetters     []state.DeadLetter       `json:"deadletters"`
	Endpoints       []sync.EndpointStatus    `json:"endpoints"`
	Charts          sync.ChartData           `json:"charts"`
	// Cluster is this node of a cluster (its lag: entries committed that
	// it has not applied); absent on a single node.
	Cluster *ClusterNode `json:"cluster,omitempty"`
}

// MismatchAge is an open mismatch with its age, for the dashboard.
type MismatchAge struct {
	state.Mismatch
	AgeSeconds float64 `json:"age_seconds"`
}

// The overview is polled every two seconds, so it never grows with the
// yard: each list in it is bounded, and so is each text, cut with a mark;
// the API's paged lists have everything.
const (
	overviewMismatches  = 50 // the oldest
	overviewAlerts      = 50 // critical first, then the oldest
	overviewDeadLetters = 20 // the newest
	overviewRecent      = 100
	overviewHolds       = 10 // per journal entry
	overviewText        = 1024
)

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	ready, reasons := s.Backend.Ready()
	cfg := s.Backend.Current().Config
	o := Overview{
		Terminal: cfg.Terminal, Now: now.UTC(), Ready: ready, Reasons: []string{},
		SLASeconds: cfg.SLA.ApplyWithin.Seconds(), Mismatches: []MismatchAge{},
	}
	for _, why := range reasons {
		o.Reasons = append(o.Reasons, clip(why))
	}
	if self, err := s.Backend.ClusterNodes(r.Context(), true); err == nil && len(self) == 1 {
		n := self[0]
		lag := int64(0)
		if n.CommitIndex > n.AppliedIndex {
			lag = int64(n.CommitIndex - n.AppliedIndex)
		}
		n.Lag = &lag
		o.Cluster = &n
	}
	err := s.Store.View(func(tx *state.Tx) error {
		o.Presence = tx.PresenceCounts()
		o.ClearedInYard = s.Engine().ClearedInYard(tx)
		ms, n, err := oldestMismatches(tx, overviewMismatches)
		if err != nil {
			return err
		}
		o.MismatchCount = n
		for _, m := range ms {
			o.Mismatches = append(o.Mismatches, MismatchAge{Mismatch: m, AgeSeconds: now.Sub(m.Since).Seconds()})
		}
		if o.Alerts, o.AlertCount, err = topAlerts(tx, overviewAlerts); err != nil {
			return err
		}
		for i := range o.Alerts {
			o.Alerts[i].Notified = nil
			o.Alerts[i].Summary = clip(o.Alerts[i].Summary)
		}
		o.DeadLetters, o.DeadLetterCount, err = tx.RecentDeadLetters(overviewDeadLetters)
		for i := range o.DeadLetters {
			o.DeadLetters[i].Reason = clip(o.DeadLetters[i].Reason)
			o.DeadLetters[i].Payload = clip(o.DeadLetters[i].Payload)
		}
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	recent := s.Engine().Recent()
	o.Recent = recent[:min(len(recent), overviewRecent)]
	for i := range o.Recent {
		e := &o.Recent[i]
		e.Detail = clip(e.Detail)
		if extra := len(e.Holds) - overviewHolds; extra > 0 {
			e.Holds = append(e.Holds[:overviewHolds:overviewHolds], fmt.Sprintf("…+%d more", extra))
		}
	}
	o.Charts = s.Engine().Charts(now)
	o.Endpoints = s.Backend.Endpoints()
	for i := range o.Endpoints {
		o.Endpoints[i].Detail = clip(o.Endpoints[i].Detail)
	}
	writeJSON(w, http.StatusOK, o)
}

// clip bounds a text shown in the overview to overviewText bytes, mark
// included.
func clip(s string) string {
	if len(s) <= overviewText {
		return s
	}
	// The mark CutText adds is well under 64 bytes.
	return state.CutText(s, overviewText-64)
}

// scanPage is how many records the overview's passes decode at a time.
const scanPage = 1000

// oldestMismatches returns the n oldest open mismatches and how many are
// open, holding no more than n+scanPage of them at once.
func oldestMismatches(tx *state.Tx, n int) ([]state.Mismatch, int, error) {
	return selectTop(n, func(after string) ([]state.Mismatch, string, error) { return tx.MismatchesPage(after, scanPage) },
		func(a, b state.Mismatch) int { return a.Since.Compare(b.Since) })
}

// topAlerts returns n firing alerts, critical first and then the oldest,
// and how many are firing.
func topAlerts(tx *state.Tx, n int) ([]state.Alert, int, error) {
	return selectTop(n, func(after string) ([]state.Alert, string, error) { return tx.FiringAlertsPage(after, scanPage) },
		func(a, b state.Alert) int {
			if ac, bc := a.Severity == "critical", b.Severity == "critical"; ac != bc {
				if ac {
					return -1
				}
				return 1
			}
			return a.Since.Compare(b.Since)
		})
}

// selectTop walks a paged list and keeps its first n items in cmp's
// order (ties in the list's own order), and counts them all.
func selectTop[T any](n int, next func(after string) ([]T, string, error), cmp func(a, b T) int) ([]T, int, error) {
	top := []T{}
	count, after := 0, ""
	for {
		items, more, err := next(after)
		if err != nil {
			return nil, 0, err
		}
		count += len(items)
		top = append(top, items...)
		slices.SortStableFunc(top, cmp)
		top = top[:min(len(top), n)]
		if more == "" {
			return top, count, nil
		}
		after = more
	}
}

// handleSearch finds containers by number, B/L or declaration number, a
// page at a time in id order.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		writeError(w, http.StatusBadRequest, "query parameter q is required: a container, B/L or declaration number")
		return
	}
	after, n, err := pageQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var found []string
	// bls are the B/Ls the query names that have a record (a manifest, a
	// B/L decision or a link), offered on the first page only.
	bls := []string{}
	err = s.Store.View(func(tx *state.Tx) error {
		if after == "" && len(q) <= state.MaxRefLen {
			for _, ref := range slices.Compact([]string{q, strings.ToUpper(q)}) {
				b, ok, err := tx.BL(ref)
				if err != nil {
					return err
				}
				if ok || len(b.Containers) > 0 || len(tx.RefContainers(state.RefBL, ref)) > 0 {
					bls = append(bls, ref)
				}
			}
		}
		if id, err := state.ParseContainer(q); err == nil && id > after {
			if _, ok, err := tx.Container(id); err != nil {
				return err
			} else if ok {
				found = append(found, id)
			}
		}
		// One more than a page tells whether another follows.
		for _, ref := range []string{q, strings.ToUpper(q)} {
			found = append(found, tx.FindRefsAfter(ref, after, n+1)...)
		}
		return nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	slices.Sort(found)
	found = slices.Compact(found)
	next := ""
	if len(found) > n {
		found, next = found[:n], found[n-1]
	}
	writePage(w, "containers", append([]string{}, found...), next, map[string]any{"query": q, "bls": bls})
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
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	page, err := web.ReadFile("web/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if !s.authorized(r) {
		code = http.StatusUnauthorized
	}
	w.WriteHeader(code)
	w.Write(page)
}

// Summary is a one-line picture for systemd's STATUS= and the logs.
func (s *Server) Summary() string {
	var inYard, cleared int64
	var mismatches, alerts, dead int
	err := s.Store.View(func(tx *state.Tx) (err error) {
		inYard = tx.PresenceCounts()[state.InYard]
		cleared = s.Engine().ClearedInYard(tx)
		if _, mismatches, err = oldestMismatches(tx, 0); err != nil {
			return err
		}
		if _, alerts, err = topAlerts(tx, 0); err != nil {
			return err
		}
		_, dead, err = tx.RecentDeadLetters(0)
		return err
	})
	if err != nil {
		return "store error: " + err.Error()
	}
	return fmt.Sprintf("%d in yard (%d cleared), %d mismatches, %d alerts firing, %d commands pending, %d dead letters",
		inYard, cleared, mismatches, alerts, s.Engine().PendingCommands(), dead)
}
