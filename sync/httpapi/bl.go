package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// BLDetail is a bill of lading's page: its own B/L-level decisions per
// agency, its linked containers with each one's integrated status (a page
// at a time), and its own timeline (B/L decisions and manifests).
type BLDetail struct {
	BL         string                  `json:"bl"`
	Known      bool                    `json:"known"`
	ManifestID string                  `json:"manifest_id,omitempty"`
	ManifestAt time.Time               `json:"manifest_at,omitzero"`
	Agencies   map[string]state.Status `json:"agencies"`
	// Holds are each agency's open B/L-level hold types.
	Holds map[string][]string `json:"holds"`
	// AgencyDetail is each agency's B/L-level ledger, as a container's
	// agency_detail: its release and its holds by type, each with the
	// time, event and source that last set it. Only agencies that decided
	// on the B/L are in it.
	AgencyDetail map[string]state.AgencyState `json:"agency_detail"`
	Count        int                          `json:"count"` // linked containers in all
	Containers   []sync.View                  `json:"containers"`
	NextCursor   string                       `json:"next_cursor,omitempty"`
	History      []state.JournalEntry         `json:"history"`
}

// maxBLTimeline bounds the B/L timeline entries in one answer, newest
// kept.
const maxBLTimeline = 200

func (s *Server) handleBL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.PathValue("bl"))
	if id == "" || len(id) > state.MaxRefLen {
		writeError(w, http.StatusBadRequest, "B/L number: want 1 to 70 bytes")
		return
	}
	after, n, err := pageQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	agencies := s.Backend.Current().Config.Agencies
	d := BLDetail{BL: id, Agencies: map[string]state.Status{}, Holds: map[string][]string{},
		AgencyDetail: map[string]state.AgencyState{}, Containers: []sync.View{}}
	err = s.Store.View(func(tx *state.Tx) error {
		b, ok, err := tx.BL(id)
		if err != nil {
			return err
		}
		if !ok {
			b.Containers = tx.RefContainers(state.RefBL, id)
		}
		d.Known = ok || len(b.Containers) > 0
		d.ManifestID, d.ManifestAt, d.Count = b.ManifestID, b.ManifestAt, len(b.Containers)
		for name := range agencies {
			a, decided := b.Agencies[name]
			d.Agencies[name] = state.Unknown
			d.Holds[name] = []string{}
			if decided {
				d.Agencies[name] = a.Status
				d.AgencyDetail[name] = s.Engine().Ledger(a)
				d.Holds[name] = openHolds(d.AgencyDetail[name])
			}
		}
		start, _ := slices.BinarySearch(b.Containers, after+"\x00")
		if after == "" {
			start = 0
		}
		page := b.Containers[start:min(len(b.Containers), start+n)]
		for _, cid := range page {
			c, ok, err := tx.Container(cid)
			if err != nil {
				return err
			}
			if !ok {
				c = state.Container{ID: cid, Presence: state.Expected}
			}
			d.Containers = append(d.Containers, s.Engine().View(&c))
		}
		if start+n < len(b.Containers) && len(page) > 0 {
			d.NextCursor = cursorFor(page[len(page)-1])
		}
		h, err := tx.BLHistory(id)
		d.History = h[max(0, len(h)-maxBLTimeline):]
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !d.Known && len(d.History) == 0 {
		writeError(w, http.StatusNotFound, "B/L "+id+" is not known")
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// openHolds lists the open hold types of an agency's ledger (Engine.Ledger),
// sorted, [] when none is open; "" is its general hold.
func openHolds(a state.AgencyState) []string {
	open := []string{}
	for typ, h := range a.Holds {
		if h.State == state.HoldOpen {
			open = append(open, typ)
		}
	}
	slices.Sort(open)
	return open
}
