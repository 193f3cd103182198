package sync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/internal/testseam"
)

// replicas stands in for the cluster: each write set the engine hands it
// is applied to the leader's own store and to a follower's, in log order;
// the first failures calls fail as a lost quorum would.
type replicas struct {
	mu       stdsync.Mutex
	leader   *state.Store
	follower *state.Store
	index    uint64
	failures int
}

func (r *replicas) replicate(ws state.WriteSet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return errors.New("replicate: no quorum")
	}
	r.index++
	for _, s := range []*state.Store{r.leader, r.follower} {
		if err := s.Apply(ws, r.index); err != nil {
			return err
		}
	}
	return nil
}

// snapshotOf lists what a node serves of the containers, their journals,
// the dead letters and the outbox.
func snapshotOf(t *testing.T, s *state.Store, ids ...string) string {
	t.Helper()
	var out string
	err := s.View(func(tx *state.Tx) error {
		for _, id := range ids {
			c, ok, err := tx.Container(id)
			if err != nil {
				return err
			}
			h, err := tx.History(id)
			if err != nil {
				return err
			}
			out += fmt.Sprintf("%s %v %+v\n", id, ok, c)
			for _, e := range h {
				out += fmt.Sprintf("  %d %s %s %s %s\n", e.Seq, e.Kind, e.EventID, e.Command, e.At.UTC())
			}
		}
		dls, err := tx.DeadLetters()
		if err != nil {
			return err
		}
		for _, d := range dls {
			out += fmt.Sprintf("dl %s %s %s\n", d.ID, d.Code, d.Reason)
		}
		cmds, err := tx.Commands()
		for _, c := range cmds {
			out += fmt.Sprintf("cmd %s %s %s %s\n", c.ID, c.Container, c.Action, c.Hold)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplicatedCommitsMatchOnEveryNode: an engine that commits through
// replication leaves the follower's store serving exactly what the
// leader's does, a poison record included; a replication that fails
// acknowledges nothing and writes nothing, and the retry commits once.
func TestReplicatedCommitsMatchOnEveryNode(t *testing.T) {
	t.Cleanup(testseam.PoisonIDs())
	e, stop := startEngine(t)
	defer stop()
	follower, err := state.Open(filepath.Join(t.TempDir(), state.FileName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	r := &replicas{leader: e.store, follower: follower, failures: 2}
	e.replicate = r.replicate

	at := time.Now().Add(-time.Hour)
	tos := &SourceInfo{Name: "tos", Kind: config.KindTOS, Decoder: records{
		{TOS: &state.TOSEvent{ID: "ARR-1", Container: c1, Event: state.TOSArrived, At: at, Holds: []string{"CUSTOMS"}}},
		{TOS: &state.TOSEvent{ID: "ARR-2", Container: c2, Event: state.TOSArrived, At: at, Holds: []string{"CUSTOMS"}}},
	}}
	customs := &SourceInfo{Name: "customs", Kind: config.KindAgency, Agency: "customs", Decoder: records{
		{Agency: &state.AgencyEvent{ID: "REL-1", Agency: "customs", Status: state.Released, Containers: []string{c1}, At: at.Add(time.Minute)}},
		{Agency: &state.AgencyEvent{ID: "POISON-2", Agency: "customs", Status: state.Released, Containers: []string{c2}, At: at.Add(time.Minute)}},
		{Agency: &state.AgencyEvent{ID: "REL-3", Agency: "customs", Status: state.Released, Containers: []string{c3}, At: at.Add(time.Minute)}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, src := range []*SourceInfo{tos, customs, customs} {
		if o := e.Submit(ctx, src, adapters.Message{Payload: []byte(src.Name)}); o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	if r.failures != 0 {
		t.Fatalf("%d replication failures left: the engine did not go through them", r.failures)
	}
	// Duplicates only: nothing to write, nothing replicated.
	before := r.index
	if o := e.Submit(ctx, tos, adapters.Message{Payload: []byte("tos again")}); o.Err != nil || fmt.Sprint(o.Results) != "[duplicate duplicate]" {
		t.Fatalf("resubmitted TOS message: %+v", o)
	}
	if r.index != before {
		t.Errorf("a group of duplicates was replicated (%d entries)", r.index-before)
	}
	want := snapshotOf(t, e.store, c1, c2, c3)
	if got := snapshotOf(t, follower, c1, c2, c3); got != want {
		t.Errorf("follower serves\n%s\nleader serves\n%s", got, want)
	}
	for _, frag := range []string{"REL-1", "unstorable", "cmd cmd-000000000001-"} {
		if !strings.Contains(want, frag) {
			t.Errorf("leader's store lacks %q:\n%s", frag, want)
		}
	}
	// The second submission of the customs message found its events
	// applied: each is journaled once, on both nodes.
	if n := strings.Count(want, " agency_event REL-1 "); n != 1 {
		t.Errorf("REL-1 journaled %d times, want 1", n)
	}
}
