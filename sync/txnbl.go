package sync

import (
	"fmt"
	"slices"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// blTxn is a transaction's bills of lading: those loaded, and the
// containers whose effective ledger must be merged again before they are
// decided (a link made or undone, a B/L decision, a container decision on
// a linked container).
type blTxn struct {
	bls     map[string]*blWork
	refresh map[string]bool
}

// blWork is a B/L loaded in this transaction.
type blWork struct {
	b     state.BL
	dirty bool // changed: written before the containers are decided
}

// loadBL returns the B/L from this transaction's working set or the
// store. A B/L not stored yet starts with the containers the search index
// already has under it (links made before B/Ls were kept).
func (t *txn) loadBL(id string) (*blWork, error) {
	if t.bl.bls == nil {
		t.bl.bls = map[string]*blWork{}
	}
	if w, ok := t.bl.bls[id]; ok {
		return w, nil
	}
	b, ok, err := t.tx.BL(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		b = state.BL{ID: id, Containers: t.tx.RefContainers(state.RefBL, id)}
		b.Containers = b.Containers[:min(len(b.Containers), maxBLContainers)]
	}
	w := &blWork{b: b}
	t.bl.bls[id] = w
	return w, nil
}

// markRefresh has the container's effective ledger merged again and the
// container decided.
func (t *txn) markRefresh(id string) {
	if t.bl.refresh == nil {
		t.bl.refresh = map[string]bool{}
	}
	t.bl.refresh[id] = true
	t.dirty[id] = true
}

// linkSide links the container to the B/L on the container's side (its
// BLs and the search index); false when the container has as many B/Ls as
// it may keep. indexed says the transaction has put the container in the
// B/L's search index already (an agency event's references), which spares
// a second put of the same key.
func (t *txn) linkSide(bl string, w *work, indexed bool) (bool, error) {
	if !slices.Contains(w.c.BLs, bl) {
		if len(w.c.BLs) >= maxRefs {
			return false, nil
		}
		w.c.BLs = append(w.c.BLs, bl)
		w.changed = true
	}
	if !indexed {
		if err := t.tx.PutRef(state.RefBL, bl, w.c.ID); err != nil {
			return false, err
		}
	}
	t.markRefresh(w.c.ID)
	return true, nil
}

// link links a container to a B/L on both sides (an agency event naming
// both, a TOS event with a bl). It reports false when either side is full.
// indexed is as for linkSide.
func (t *txn) link(bl string, w *work, indexed bool) (bool, error) {
	b, err := t.loadBL(bl)
	if err != nil {
		return false, err
	}
	if _, listed := slices.BinarySearch(b.b.Containers, w.c.ID); !listed {
		if len(b.b.Containers) >= maxBLContainers || len(w.c.BLs) >= maxRefs && !slices.Contains(w.c.BLs, bl) {
			return false, nil
		}
		b.b.Containers, _ = addLink(b.b.Containers, w.c.ID)
		b.dirty = true
	}
	return t.linkSide(bl, w, indexed)
}

// unlink takes a container off a B/L on the container's side: it leaves
// the B/L's decisions.
func (t *txn) unlink(bl string, w *work) error {
	i := slices.Index(w.c.BLs, bl)
	if i < 0 {
		return nil
	}
	w.c.BLs = slices.Delete(slices.Clone(w.c.BLs), i, i+1)
	w.changed = true
	if err := t.tx.DeleteRef(state.RefBL, bl, w.c.ID); err != nil {
		return err
	}
	t.markRefresh(w.c.ID)
	return nil
}

// blDecision applies an agency event that names a B/L and no containers
// to the B/L's own ledger, and, when it changed, to every linked
// container, in this transaction. A B/L no container is linked to yet
// keeps the decision for the containers linked later.
func (t *txn) blDecision(src *SourceInfo, ev *state.AgencyEvent, reused bool) (string, *state.Rejection, error) {
	b, err := t.loadBL(ev.BL)
	if err != nil {
		return "", nil, err
	}
	a := b.b.Agencies[ev.Agency]
	result := ResultStale
	if applyLedger(&a, ev, src.Name, t.now) {
		result = ResultApplied
		if b.b.Agencies == nil {
			b.b.Agencies = map[string]state.AgencyState{}
		}
		b.b.Agencies[ev.Agency] = a
		b.dirty = true
	}
	detailOf, err := t.journalSeq(state.JournalEntry{
		Kind: state.JournalAgencyEvent, BL: ev.BL, Source: src.Name, EventID: ev.ID, Agency: ev.Agency,
		Status: string(ev.Status), Hold: ev.Hold, EventAt: ev.At, Result: result, ReusedID: reused, Detail: ev.Reason,
	})
	if err != nil || result != ResultApplied {
		return result, nil, err
	}
	for _, id := range b.b.Containers {
		w, err := t.load(id)
		if err != nil {
			return "", nil, err
		}
		w.changed = true
		t.markRefresh(id)
		err = t.journal(state.JournalEntry{
			Kind: state.JournalAgencyEvent, Container: id, BL: ev.BL, Source: src.Name, EventID: ev.ID,
			Agency: ev.Agency, Status: string(ev.Status), Hold: ev.Hold, EventAt: ev.At, Result: result,
			ReusedID: reused, DetailOf: detailOf,
		})
		if err != nil {
			return "", nil, err
		}
	}
	return result, nil, nil
}

// manifestEvent applies a manifest (DESIGN 3.6): the latest at per B/L
// replaces its container list; a container no longer listed leaves the
// B/L and its decisions, a new one is linked and takes them.
func (t *txn) manifestEvent(src *SourceInfo, ev *state.ManifestEvent) (string, *state.Rejection, error) {
	if src.Kind != config.KindManifest {
		return ResultRejected, state.AsRejection(state.Reject(state.CodeInvalidField,
			"source %s is a %s source: only a manifest source may link B/L %s to containers", src.Name, src.Kind, ev.BL)), nil
	}
	dup, reused, err := t.firstSeen(src.Name, ev.ID, ev)
	if err != nil || dup {
		return ResultDuplicate, nil, err
	}
	b, err := t.loadBL(ev.BL)
	if err != nil {
		return "", nil, err
	}
	entry := state.JournalEntry{
		Kind: state.JournalManifest, BL: ev.BL, Source: src.Name, EventID: ev.ID, EventAt: ev.At, ReusedID: reused,
	}
	if !b.b.ManifestAt.IsZero() && !ev.At.After(b.b.ManifestAt) {
		entry.Result = ResultStale
		entry.Detail = fmt.Sprintf("older than the manifest %s of %s", b.b.ManifestID, b.b.ManifestAt.Format("2006-01-02T15:04:05Z07:00"))
		return ResultStale, nil, t.journal(entry)
	}
	next := sortedUnique(ev.Containers)
	var left, joined, full []string
	for _, id := range b.b.Containers {
		if _, still := slices.BinarySearch(next, id); still {
			continue
		}
		w, err := t.load(id)
		if err != nil {
			return "", nil, err
		}
		if err := t.unlink(ev.BL, w); err != nil {
			return "", nil, err
		}
		left = append(left, id)
	}
	list := make([]string, 0, len(next))
	for _, id := range next {
		w, err := t.load(id)
		if err != nil {
			return "", nil, err
		}
		was := slices.Contains(w.c.BLs, ev.BL)
		ok, err := t.linkSide(ev.BL, w, false)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			full = append(full, id)
			continue
		}
		list = append(list, id)
		if !was {
			joined = append(joined, id)
		}
	}
	b.b.Containers, b.b.ManifestAt, b.b.ManifestID, b.dirty = list, ev.At, ev.ID, true
	entry.Result = ResultApplied
	entry.Detail = fmt.Sprintf("%d containers: %d joined, %d left", len(list), len(joined), len(left))
	if len(full) > 0 {
		entry.Detail += fmt.Sprintf("; %d not linked, they have %d B/Ls already (first %s)", len(full), maxRefs, full[0])
	}
	if err := t.journal(entry); err != nil {
		return "", nil, err
	}
	for _, g := range []struct {
		ids    []string
		detail string
	}{{joined, "linked to B/L " + ev.BL}, {left, "left B/L " + ev.BL + " and its decisions"}} {
		for _, id := range g.ids {
			err := t.journal(state.JournalEntry{
				Kind: state.JournalManifest, Container: id, BL: ev.BL, Source: src.Name, EventID: ev.ID,
				EventAt: ev.At, Result: ResultApplied, Detail: g.detail,
			})
			if err != nil {
				return "", nil, err
			}
		}
	}
	return ResultApplied, nil, nil
}

// linkEvent links the containers an agency or TOS event names to its
// B/L, and has a container with B/L decisions merged again after its own
// ledger changed. indexed is as for linkSide.
func (t *txn) linkEvent(bl string, w *work, indexed bool) error {
	if bl != "" {
		if _, err := t.link(bl, w, indexed); err != nil {
			return err
		}
	}
	if w.c.Own != nil {
		t.markRefresh(w.c.ID)
	}
	return nil
}

// mergeBLs writes the B/Ls this transaction changed and merges the
// effective ledger of every container marked for it; decideAll runs it
// before deciding.
func (t *txn) mergeBLs() error {
	for _, id := range mapkeys.Sorted(t.bl.bls) {
		if b := t.bl.bls[id]; b.dirty {
			b.b.UpdatedAt = t.now.UTC()
			if err := t.tx.PutBL(b.b); err != nil {
				return err
			}
			b.dirty = false
		}
	}
	for _, id := range mapkeys.Sorted(t.bl.refresh) {
		w := t.work[id]
		var ledgers []map[string]state.AgencyState
		for _, bl := range w.c.BLs {
			b, err := t.loadBL(bl)
			if err != nil {
				return err
			}
			if len(b.b.Agencies) > 0 {
				ledgers = append(ledgers, b.b.Agencies)
			}
		}
		setEffective(&w.c, ledgers)
	}
	t.bl.refresh = nil
	return nil
}
