package daemon

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/cluster"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testcfg"
	"github.com/portsync/portsync/state"
)

// TestDeposedLeaderStopsWhileASweepWaits: a cluster leader that loses its
// term while a sweep waits for a commit stops at once. Raft refuses every
// commit of a deposed leader, so a stop that waited for the sweep before
// cancelling the writer would wait for ever, with the node's sources and
// broker session still running.
func TestDeposedLeaderStopsWhileASweepWaits(t *testing.T) {
	b := testBroker(t)
	dir := t.TempDir()
	// A container the sweep must write for: customs released it and the
	// TOS still holds it, so deciding it issues a release_hold command.
	store, err := state.Open(filepath.Join(dir, state.FileName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC()
	err = store.Update(func(tx *state.Tx) error {
		return tx.PutContainer(state.Container{
			ID: c1, Presence: state.InYard, TOSHolds: []string{"CUSTOMS"}, TOSAt: at, UpdatedAt: at,
			Agencies: map[string]state.AgencyState{"customs": {Status: state.Released, At: at, EventID: "REL-1", Source: "customs-mqtt",
				ReceivedAt: at, Release: state.LedgerEntry{State: state.ReleaseGranted, At: at, EventID: "REL-1", Source: "customs-mqtt"}}},
		}, "")
	})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The sweep runs as the schedule runs it: the stop waits for a
	// scheduled job.
	yaml := testcfg.Daemon{StateDir: dir, BrokerURL: b.URL(), ClientID: "portsync-deposed",
		Extra: []string{`schedules: {sweep: "@every 1s"}`}}.YAML()
	cfg, err := config.Parse("test.yaml", []byte(yaml), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeAll()
	// The engine of a leader that has lost its term: every commit is
	// refused.
	eng, err := d.newEngine(d.current(), func(state.WriteSet) error { return cluster.ErrNotLeader })
	if err != nil {
		t.Fatal(err)
	}
	d.eng.Store(eng)
	stop, err := d.act(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the scheduled sweep has started: every commit fails, so
	// it cannot end before the engine stops.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.reload.Lock()
		started := !d.sched.Entry(d.sweepJob).Prev.IsZero()
		d.reload.Unlock()
		if started && eng.Healthy() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduled sweep never started, or its commit never failed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { stop(true); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("a deposed leader's stop still waits for a sweep that can never commit")
	}
}
