package sync

import (
	"context"
	"errors"
	"fmt"
	"time"
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
// commits. A chunk of 0 or less is retentionChunk.
func (e *Engine) Prune(ctx context.Context, before time.Time, chunk int) (Pruned, error) {
	if chunk <= 0 {
		chunk = retentionChunk
	}
	var r Pruned
	jerr := e.pruneAll(ctx, prunedJournal, before, chunk, &r, &r.Journal)
	if stopped(jerr) {
		return r, jerr
	}
	derr := e.pruneAll(ctx, prunedDedupe, before, chunk, &r, &r.Dedupe)
	if stopped(derr) {
		return r, errors.Join(jerr, derr)
	}
	lerr := e.pruneAll(ctx, prunedDeadLetters, before, chunk, &r, &r.DeadLetters)
	return r, errors.Join(jerr, derr, lerr)
}

// stopped reports whether err says a run through the writer was stopped
// (its context done, or the writer stopping) rather than failed.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errStopped)
}

// pruneAll prunes what a chunk per transaction of the writer: the
// journal in time order until no entry older than before is left, a
// scanned bucket (dedupe keys, dead letters: not in time order) from its
// start to its end. What each committed chunk deleted is added to *total
// and to the counter's series what.
func (e *Engine) pruneAll(ctx context.Context, what string, before time.Time, chunk int, r *Pruned, total *int) error {
	counter := e.metrics.Pruned
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := &pruneChunk{what: what, before: before, after: after, chunk: chunk}
		if err := e.do(ctx, c); err != nil {
			return fmt.Errorf("prune %s: %w", what, err)
		}
		r.Chunks++
		*total += c.n
		counter.WithLabelValues(what).Add(float64(c.n))
		if c.err != nil {
			return c.err
		}
		if !c.more && c.next == nil {
			return nil
		}
		after = c.next
	}
}
