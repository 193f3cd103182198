package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/portsync/portsync/config"
)

// retentionChunk is how many journal entries, or dedupe keys, one retention
// transaction deletes at most. Each chunk is one job of the writer, between
// groups of events: events wait for at most one chunk, never for the whole
// pruning.
const retentionChunk = 1000

// Pruned things, the values of the label what.
const (
	prunedJournal = "journal"
	prunedDedupe  = "dedupe"
)

// retentionCounter returns portsync_retention_pruned_total on the
// daemon's registry, registering it the first time.
func retentionCounter(m *Metrics) *prometheus.CounterVec {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portsync_retention_pruned_total",
		Help: "Journal entries and dedupe keys deleted by the retention job because they were older than retention.journal.",
	}, []string{"what"})
	if err := m.Registry.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register portsync_retention_pruned_total: %v", err))
	}
	// Both series exist from the start, at 0, for rate() and alerts.
	cv.WithLabelValues(prunedJournal)
	cv.WithLabelValues(prunedDedupe)
	return cv
}

// scheduleRetention installs the retention job on sched at
// cfg.Schedules.Retention, replacing the job prev (0 for none), and returns
// the new job's id; the job runs with ctx. Call it wherever the sweep is
// scheduled (Run and Reload). The job reads retention.journal from the
// configuration in force when it runs. It also puts
// portsync_retention_pruned_total on /metrics, at 0, before the first run.
func (d *Daemon) scheduleRetention(ctx context.Context, sched *cron.Cron, cfg *config.Config, prev cron.EntryID) (cron.EntryID, error) {
	retentionCounter(d.metrics)
	id, err := sched.AddFunc(cfg.Schedules.Retention, func() { d.retention(ctx) })
	if err != nil {
		return prev, fmt.Errorf("schedules.retention: %w", err)
	}
	if prev != 0 {
		sched.Remove(prev)
	}
	return id, nil
}

// retention deletes the journal entries and dedupe keys older than
// retention.journal, in chunks through the writer, and logs what it did.
func (d *Daemon) retention(ctx context.Context) {
	keep := d.current().cfg.Retention.Journal
	if keep <= 0 {
		return
	}
	start := time.Now()
	before := start.Add(-keep)
	r, err := d.prune(ctx, before, retentionChunk)
	attrs := []any{"journal", r.journal, "dedupe", r.dedupe, "chunks", r.chunks,
		"before", before.UTC().Format(time.RFC3339), "seconds", time.Since(start).Seconds()}
	if err != nil {
		d.log.Error("retention failed", append(attrs, "err", err)...)
		return
	}
	d.log.Info("retention done", attrs...)
}

// pruned is what one retention run deleted, and in how many transactions.
type pruned struct {
	journal, dedupe, chunks int
}

// prune deletes, chunk entries or keys per transaction of the writer, the
// journal entries and then the dedupe keys older than before. It stops
// between chunks when ctx is done. What it deleted is counted in
// portsync_retention_pruned_total as each chunk commits. A journal entry
// that cannot be decoded stops the journal's pruning, not the dedupe keys'.
//
// The jobs never fail the writer's transaction: a job error would fail the
// whole group, events included, and the writer retries a group until it
// commits. A problem is handed back instead, and what was deleted before it
// commits.
func (d *Daemon) prune(ctx context.Context, before time.Time, chunk int) (pruned, error) {
	counter := retentionCounter(d.metrics)
	var r pruned
	jerr := func() error {
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				return err
			}
			var n int
			var perr error
			err := d.engine.do(ctx, func(t *txn) error {
				n, more, perr = t.tx.PruneJournal(before, chunk)
				return nil
			})
			if err != nil {
				return fmt.Errorf("prune journal: %w", err)
			}
			r.chunks++
			r.journal += n
			counter.WithLabelValues(prunedJournal).Add(float64(n))
			if perr != nil {
				return perr
			}
		}
		return nil
	}()
	if errors.Is(jerr, context.Canceled) || errors.Is(jerr, context.DeadlineExceeded) || errors.Is(jerr, errStopped) {
		return r, jerr
	}
	derr := func() error {
		var after []byte
		for first := true; first || after != nil; first = false {
			if err := ctx.Err(); err != nil {
				return err
			}
			var n int
			var next []byte
			var perr error
			from := after
			err := d.engine.do(ctx, func(t *txn) error {
				n, next, perr = t.tx.PruneDedupe(before, from, chunk)
				return nil
			})
			if err != nil {
				return fmt.Errorf("prune dedupe: %w", err)
			}
			r.chunks++
			r.dedupe += n
			counter.WithLabelValues(prunedDedupe).Add(float64(n))
			if perr != nil {
				return perr
			}
			after = next
		}
		return nil
	}()
	return r, errors.Join(jerr, derr)
}
