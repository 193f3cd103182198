package sync

import (
	"context"

	"github.com/portsync/portsync/adapters"
)

// RecordSession records, in a transaction of the writer, that broker
// holds a persistent session for clientID, and reports whether it held one
// for that client id before.
func (e *Engine) RecordSession(ctx context.Context, broker, clientID string) (had bool, err error) {
	key := "broker_session/" + broker
	err = e.do(ctx, func(t *txn) error {
		if had = t.tx.Meta(key) == clientID; had {
			return nil
		}
		return t.tx.PutMeta(key, clientID)
	})
	return had, err
}

// Policy is the decision policy in force.
func (e *Engine) Policy() Policy { return *e.policy.Load() }

// Retry submits dead letter id's message again, decoded by its source's
// current decoder; applied, the dead letter is removed in the same
// transaction.
func (e *Engine) Retry(ctx context.Context, src *SourceInfo, id string, m adapters.Message) Outcome {
	return e.submit(ctx, inbound{src: src, msg: m, retryOf: id})
}
