package daemon

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// TestQueryCandidates: the store's candidates for an http_query source
// are the containers in the yard not cleared, not released by the agency
// and unchanged for the age asked, and those whose mismatch of the agency
// is that old; pages resume with Next.
func TestQueryCandidates(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(testYAML(dir, "tcp://127.0.0.1:1")), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.closeAll)
	now, old := time.Now().UTC(), time.Now().UTC().Add(-2*time.Hour)
	released := map[string]state.AgencyState{"customs": {Status: state.Released}}
	boxes := queryBoxes(7)
	mis := func(box string, since time.Time) map[string]state.Mismatch {
		return map[string]state.Mismatch{"customs": {Container: box, Agency: "customs", Hold: "CUSTOMS", Kind: state.KindStaleHold, Since: since}}
	}
	put := []state.Container{
		{ID: boxes[0], Presence: state.InYard, UpdatedAt: old, BLs: []string{"BL1"}},                                                    // unknown, old: asked
		{ID: boxes[1], Presence: state.InYard, UpdatedAt: now},                                                                          // too fresh
		{ID: boxes[2], Presence: state.InYard, UpdatedAt: old, Agencies: released},                                                      // customs released
		{ID: boxes[3], Presence: state.Departed, UpdatedAt: old},                                                                        // gone
		{ID: boxes[4], Presence: state.InYard, UpdatedAt: now, Agencies: released, Mismatches: mis(boxes[4], old)},                      // old mismatch: asked
		{ID: boxes[5], Presence: state.InYard, UpdatedAt: old, Agencies: released, Mismatches: mis(boxes[5], now)},                      // fresh mismatch
		{ID: boxes[6], Presence: state.InYard, UpdatedAt: old, Agencies: map[string]state.AgencyState{"customs": {Status: state.Held}}}, // held, old: asked
	}
	err = d.store.Update(func(tx *state.Tx) error {
		for _, c := range put {
			if err := tx.PutContainer(c, ""); err != nil {
				return err
			}
			for slot, m := range c.Mismatches {
				if err := tx.PutMismatch(slot, m); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []string
	after, pages := "", 0
	for {
		p, err := d.candidates(ctx, adapters.CandidateQuery{Agency: "customs", OlderThan: time.Hour, After: after, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Candidates {
			got = append(got, c.Container)
			if c.Container == boxes[0] && !slices.Equal(c.BLs, []string{"BL1"}) {
				t.Errorf("%s: B/Ls %v, want [BL1]", c.Container, c.BLs)
			}
		}
		pages++
		if p.Next == "" || pages > 10 {
			break
		}
		after = p.Next
	}
	if want := []string{boxes[0], boxes[4], boxes[6]}; !slices.Equal(got, want) {
		t.Errorf("candidates %v, want %v", got, want)
	}
	p, err := d.candidates(ctx, adapters.CandidateQuery{Agency: "customs", OlderThan: time.Hour, Mismatched: true, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Candidates) != 1 || p.Candidates[0].Container != boxes[4] {
		t.Errorf("mismatched candidates %v, want %s only", p.Candidates, boxes[4])
	}
	if p, _ := d.candidates(ctx, adapters.CandidateQuery{Agency: "quarantine", OlderThan: time.Hour, Mismatched: true, Limit: 10}); len(p.Candidates) != 0 {
		t.Errorf("quarantine's mismatched candidates %v, want none", p.Candidates)
	}
}
