package state

import (
	"encoding/json"
	"fmt"
	"time"
)

// bucketAcks is the acknowledgement outbox: processing acknowledgements
// (DESIGN 3.7) written in the transaction of the message they answer, and
// deleted once delivered, keyed by a sequence so that they go out in the
// order of their commits.
var bucketAcks = []byte("acks")

func init() { allBuckets = append(allBuckets, bucketAcks) }

// AckBody is a processing acknowledgement as it goes on the wire: what
// became of one inbound message.
type AckBody struct {
	ID     string    `json:"id,omitempty"` // the event's own id, where the payload yields one
	Source string    `json:"source"`
	Result string    `json:"result"` // applied, duplicate, stale or rejected
	Code   string    `json:"code,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Ack is an acknowledgement waiting in the outbox with where it goes: a
// topic on a broker, or a file in a directory.
type Ack struct {
	Seq    uint64  `json:"seq"`
	Body   AckBody `json:"body"`
	Broker string  `json:"broker,omitempty"`
	Topic  string  `json:"topic,omitempty"`
	Dir    string  `json:"dir,omitempty"`
	File   string  `json:"file,omitempty"`
}

// PutAck puts a in the acknowledgement outbox, numbering it.
func (t *Tx) PutAck(a *Ack) error {
	b := t.appendBucket(bucketAcks) // keyed by a growing sequence
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	a.Seq = seq
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode acknowledgement: %w", err)
	}
	return b.Put(seqKey(seq), data)
}

// DeleteAck removes a delivered acknowledgement; an unknown one is no
// error (it was delivered twice).
func (t *Tx) DeleteAck(seq uint64) error {
	return t.bucket(bucketAcks).Delete(seqKey(seq))
}

// Acks returns every acknowledgement waiting in the outbox, oldest first.
func (t *Tx) Acks() ([]Ack, error) { return collect[Ack](t, bucketAcks, nil) }
