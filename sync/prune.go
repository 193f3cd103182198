package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portsync/portsync/state"
)

// RetentionChunk is how many journal entries, dedupe keys or dead letters
// one retention transaction deletes at most. Each chunk is one job of the writer, between
// groups of events: events wait for at most one chunk, never for the whole
// pruning.
const RetentionChunk = 1000

// Pruned things, the values of the label what.
const (
	prunedJournal     = "journal"
	prunedDedupe      = "dedupe"
	prunedDeadLetters = "deadletters"
)

// Pruned is what one retention run deleted, and in how many transactions.
type Pruned struct {
	Journal, Dedupe, DeadLetters, Chunks int
}

// Prune deletes, chunk entries or keys per transaction of the writer, the
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
func (e *Engine) Prune(ctx context.Context, before time.Time, chunk int) (Pruned, error) {
	counter := e.metrics.Pruned
	var r Pruned
	jerr := func() error {
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				return err
			}
			var n int
			var perr error
			err := e.do(ctx, func(t *txn) error {
				n, more, perr = t.tx.PruneJournal(before, chunk)
				return nil
			})
			if err != nil {
				return fmt.Errorf("prune journal: %w", err)
			}
			r.Chunks++
			r.Journal += n
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
	derr := e.pruneScan(ctx, prunedDedupe, &r, &r.Dedupe, func(tx *state.Tx, after []byte) (int, []byte, error) {
		return tx.PruneDedupe(before, after, chunk)
	})
	if stopped(derr) {
		return r, errors.Join(jerr, derr)
	}
	lerr := e.pruneScan(ctx, prunedDeadLetters, &r, &r.DeadLetters, func(tx *state.Tx, after []byte) (int, []byte, error) {
		return tx.PruneDeadLetters(before, after, chunk)
	})
	return r, errors.Join(jerr, derr, lerr)
}

// stopped reports whether err says a run through the writer was stopped
// (its context done, or the writer stopping) rather than failed.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errStopped)
}

// pruneScan runs a scanning prune (dedupe keys, dead letters: buckets not
// in time order) a chunk per transaction of the writer, from the start of
// the bucket to its end. step does one chunk from the key after after and
// returns what it deleted and where to go on (nil at the end). What each
// committed chunk deleted is added to *total and to the counter's series
// what.
func (e *Engine) pruneScan(ctx context.Context, what string, r *Pruned, total *int, step func(tx *state.Tx, after []byte) (int, []byte, error)) error {
	counter := e.metrics.Pruned
	var after []byte
	for first := true; first || after != nil; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n int
		var next []byte
		var perr error
		from := after
		err := e.do(ctx, func(t *txn) error {
			n, next, perr = step(t.tx, from)
			return nil
		})
		if err != nil {
			return fmt.Errorf("prune %s: %w", what, err)
		}
		r.Chunks++
		*total += n
		counter.WithLabelValues(what).Add(float64(n))
		if perr != nil {
			return perr
		}
		after = next
	}
	return nil
}
