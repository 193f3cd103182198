package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// retentionChunk is how many journal entries, dedupe keys or dead letters
// one retention transaction deletes at most. Each chunk is one job of the writer, between
// groups of events: events wait for at most one chunk, never for the whole
// pruning.
const retentionChunk = 1000

// Pruned things, the values of the label what.
const (
	prunedJournal     = "journal"
	prunedDedupe      = "dedupe"
	prunedDeadLetters = "deadletters"
)

// scheduleRetention installs the retention job on sched at
// cfg.Schedules.Retention, replacing the job prev (0 for none), and returns
// the new job's id; the job runs with ctx. Call it wherever the sweep is
// scheduled (Run and Reload). The job reads retention.journal from the
// configuration in force when it runs.
func (d *Daemon) scheduleRetention(ctx context.Context, sched *cron.Cron, cfg *config.Config, prev cron.EntryID) (cron.EntryID, error) {
	id, err := sched.AddFunc(cfg.Schedules.Retention, func() { d.retention(ctx) })
	if err != nil {
		return prev, fmt.Errorf("schedules.retention: %w", err)
	}
	if prev != 0 {
		sched.Remove(prev)
	}
	return id, nil
}

// retention deletes the journal entries, dedupe keys and dead letters older
// than retention.journal, in chunks through the writer, and logs what it
// did.
func (d *Daemon) retention(ctx context.Context) {
	keep := d.current().cfg.Retention.Journal
	if keep <= 0 {
		return
	}
	start := time.Now()
	before := start.Add(-keep)
	r, err := d.prune(ctx, before, retentionChunk)
	attrs := []any{"journal", r.journal, "dedupe", r.dedupe, "deadletters", r.deadLetters, "chunks", r.chunks,
		"before", before.UTC().Format(time.RFC3339), "seconds", time.Since(start).Seconds()}
	if err != nil {
		d.log.Error("retention failed", append(attrs, "err", err)...)
		return
	}
	d.log.Info("retention done", attrs...)
}

// pruned is what one retention run deleted, and in how many transactions.
type pruned struct {
	journal, dedupe, deadLetters, chunks int
}

// prune deletes, chunk entries or keys per transaction of the writer, the
// journal entries, then the dedupe keys, then the dead letters older than
// before (a dead letter by when it was last seen). It stops between chunks
// when ctx is done. What it deleted is counted in
// portsync_retention_pruned_total as each chunk commits. A journal entry
// that cannot be decoded stops the journal's pruning, not the rest.
//
// The jobs never fail the writer's transaction: a job error would fail the
// whole group, events included, and the writer retries a group until it
// commits. A problem is handed back instead, and what was deleted before it
// commits.
func (d *Daemon) prune(ctx context.Context, before time.Time, chunk int) (pruned, error) {
	counter := d.metrics.Pruned
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
	if stopped(jerr) {
		return r, jerr
	}
	derr := d.pruneScan(ctx, prunedDedupe, &r, &r.dedupe, func(tx *state.Tx, after []byte) (int, []byte, error) {
		return tx.PruneDedupe(before, after, chunk)
	})
	if stopped(derr) {
		return r, errors.Join(jerr, derr)
	}
	lerr := d.pruneScan(ctx, prunedDeadLetters, &r, &r.deadLetters, func(tx *state.Tx, after []byte) (int, []byte, error) {
		return tx.PruneDeadLetters(before, after, chunk)
	})
	return r, errors.Join(jerr, derr, lerr)
}

// stopped reports whether err says the run was stopped rather than failed.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errStopped)
}

// pruneScan runs a scanning prune (dedupe keys, dead letters: buckets not
// in time order) a chunk per transaction of the writer, from the start of
// the bucket to its end. step does one chunk from the key after after and
// returns what it deleted and where to go on (nil at the end). What each
// committed chunk deleted is added to *total and to the counter's series
// what.
func (d *Daemon) pruneScan(ctx context.Context, what string, r *pruned, total *int, step func(tx *state.Tx, after []byte) (int, []byte, error)) error {
	counter := d.metrics.Pruned
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
			n, next, perr = step(t.tx, from)
			return nil
		})
		if err != nil {
			return fmt.Errorf("prune %s: %w", what, err)
		}
		r.chunks++
		*total += n
		counter.WithLabelValues(what).Add(float64(n))
		if perr != nil {
			return perr
		}
		after = next
	}
	return nil
}
