package sync

import (
	"encoding/json"
	"path/filepath"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// ackTo is where a source's processing acknowledgements (DESIGN 3.7)
// go: a topic on the source's own broker (ack_topic, mqtt sources) or a
// directory (ack_dir, file_drop sources). The zero value sends none; an
// http_push source answers in its response instead.
type ackTo struct {
	Broker, Topic string
	Dir           string
}

func ackTarget(sc config.Source) ackTo {
	switch {
	case sc.AckTopic != "":
		return ackTo{Broker: sc.Broker, Topic: sc.AckTopic}
	case sc.AckDir != "":
		return ackTo{Dir: sc.AckDir}
	}
	return ackTo{}
}

// acknowledge is the acknowledgement step of a message's transaction: it
// makes the message's answer, hands it back in o, and, for a source with
// an ack target, puts it in the acknowledgement outbox in the same
// transaction, so that an answer is never lost nor given for a message
// that did not commit.
//
// Every message gets one answer, whatever its number of records: rejected
// if any record was (with the code and reason of its dead letter), else
// applied if any record was, else stale if any was, else duplicate. A
// message that an operator retries from the dead letters gets no second
// answer: its sender had its answer, rejected, and the operator has the
// retry's.
func (t *txn) acknowledge(in inbound, records []adapters.Record, o *Outcome) error {
	o.Ack = ackBody(in, records, o, t)
	target := in.src.Ack
	if in.retryOf != "" || target == (ackTo{}) {
		return nil
	}
	a := state.Ack{Body: o.Ack, Broker: target.Broker, Topic: target.Topic, Dir: target.Dir}
	if target.Dir != "" {
		if in.msg.Name == "" {
			return nil // nothing to name the answer after
		}
		a.File = filepath.Base(in.msg.Name)
	}
	if err := t.tx.PutAck(&a); err != nil {
		return err
	}
	t.c.changes.Acks = append(t.c.changes.Acks, a)
	return nil
}

func ackBody(in inbound, records []adapters.Record, o *Outcome, t *txn) state.AckBody {
	b := state.AckBody{Source: in.src.Name, Result: messageResult(o.Results), At: t.now.UTC()}
	if o.Reject != nil {
		b.Result, b.Code, b.Reason = ResultRejected, o.Reject.Code, o.Reject.Reason
	}
	for _, r := range records {
		if b.ID = recordID(r); b.ID != "" {
			break
		}
	}
	if b.ID == "" {
		b.ID = payloadID(in.msg.Payload)
	}
	return b
}

// messageResult is the one result of a message of records: rejected if
// any was, else applied, else stale, else duplicate. A message of no
// records changed nothing: stale.
func messageResult(results []string) string {
	for _, want := range []string{ResultRejected, ResultApplied, ResultStale, ResultDuplicate} {
		for _, r := range results {
			if r == want {
				return want
			}
		}
	}
	return ResultStale
}

// payloadID is the "id" of a JSON object payload whose records did not
// decode, so that the answer to a malformed event still names it; "" if
// the payload yields none.
func payloadID(payload []byte) string {
	var v struct {
		ID    json.RawMessage `json:"id"`
		Event *struct {
			ID json.RawMessage `json:"id"`
		} `json:"event"` // the signed envelope
	}
	if json.Unmarshal(payload, &v) != nil {
		return ""
	}
	raw := v.ID
	if raw == nil && v.Event != nil {
		raw = v.Event.ID
	}
	var id string
	if json.Unmarshal(raw, &id) != nil {
		return ""
	}
	return state.CutText(id, 80)
}
