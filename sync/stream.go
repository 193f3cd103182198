package sync

import (
	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// streamPart is how many records of a streamed message go into one part,
// and streamAhead how many parts may wait for their commit at once. A
// part is one inbound message of the writer, so a file of 300,000 records
// costs the memory of a few parts (and of what its decoder holds, an X12
// interchange), not of the whole file.
const (
	streamPart  = 2048
	streamAhead = 2
)

// deliverStream hands a message given as a Body to the writer in parts, as
// the source's stream decoder produces the records. The parts commit in
// order, each on its own, and only the last one settles the message with
// the transport (a file_drop file moves to done/ or rejected/ then). A
// crash between parts leaves the message unsettled: it is read again at
// the next start and the records already applied are duplicates, as for
// any message redelivered.
func (e *Engine) deliverStream(src *SourceInfo, m adapters.Message, dec adapters.StreamDecoder) {
	body, err := m.Body()
	if err != nil {
		e.enqueueInbound(inbound{src: src, msg: m, records: []adapters.Record{{
			Err: state.Reject(adapters.CodeUnreadable, "the message could not be read: %v", err)}}})
		return
	}
	defer body.Close()
	// The first rejection of any part, for the last part's settlement;
	// every part's Done runs on the writer's goroutine, in order.
	var first *state.Rejection
	var part []adapters.Record
	stopped := false
	// A slot is taken per part sent and given back when it commits, so the
	// decoder never runs more than streamAhead parts ahead of the store.
	ahead := make(chan struct{}, streamAhead)
	send := func(last bool) {
		select {
		case ahead <- struct{}{}:
		case <-e.stopping:
			stopped = true
			return
		}
		pm := m
		pm.Done = func(o adapters.Outcome) {
			if first == nil {
				first = o.Reject
			}
			<-ahead
		}
		if last {
			pm.Done = func(o adapters.Outcome) {
				if o.Reject == nil {
					o.Reject = first
				}
				<-ahead
				if m.Done != nil {
					m.Done(o)
				}
			}
		} else {
			pm.Cursor = "" // moves with the last part only
		}
		stopped = !e.enqueueInbound(inbound{src: src, msg: pm, records: part})
		part = nil
	}
	dec.DecodeStream(body, func(r adapters.Record) {
		if stopped {
			return
		}
		part = append(part, r)
		if len(part) == streamPart {
			send(false)
		}
	})
	if !stopped {
		send(true)
	}
}

// enqueueInbound hands in to the writer, or reports false once the engine
// stops (the message stays unsettled and its transport delivers it again).
func (e *Engine) enqueueInbound(in inbound) bool {
	select {
	case e.inbox <- in:
		return true
	case <-e.stopping:
		return false
	}
}
