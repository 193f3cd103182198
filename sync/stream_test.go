package sync

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsync/portsync/internal/heapwatch"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// countingStream emits n release records, the third one rejected, and
// tracks how many it has emitted that the store has not yet taken.
type countingStream struct {
	n         int
	emitted   atomic.Int64
	committed *atomic.Int64
	maxAhead  atomic.Int64
}

func (d *countingStream) Decode([]byte) []adapters.Record { return nil }

func (d *countingStream) DecodeStream(r io.Reader, emit func(adapters.Record)) {
	for i := range d.n {
		prefix := fmt.Sprintf("STRU%06d", i)
		rec := adapters.Record{Agency: &state.AgencyEvent{ID: fmt.Sprint("S-", i), Agency: "customs", Status: state.Released,
			Containers: []string{prefix + fmt.Sprint(state.CheckDigit(prefix))}, At: time.Now().Add(-time.Hour)}}
		if i == 2 {
			rec = adapters.Record{Err: state.Reject(state.CodeInvalidField, "record 3 is bad"), Position: "record 3"}
		}
		emit(rec)
		if ahead := d.emitted.Add(1) - d.committed.Load(); ahead > d.maxAhead.Load() {
			d.maxAhead.Store(ahead)
		}
	}
}

// A message given as a Body is applied part by part as its decoder
// streams it: never more than a few parts ahead of the store, every
// record applied, and settled once, after the last part, with the first
// rejection of any part.
func TestStreamedMessageIsAppliedInParts(t *testing.T) {
	var committed atomic.Int64
	e, stop := startEngine(t, listenerFunc(func(c *changes) { committed.Add(int64(len(c.Containers))) }))
	defer stop()
	dec := &countingStream{n: 20*streamPart + 17, committed: &committed}
	src := &SourceInfo{Name: "drop", Kind: config.KindAgency, Agency: "customs", Decoder: dec}
	settled := make(chan adapters.Outcome, 2)
	e.Deliver(src)(adapters.Message{
		Payload: []byte("first 64 KiB"),
		Body:    func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("")), nil },
		Done:    func(o adapters.Outcome) { settled <- o },
	})
	var o adapters.Outcome
	select {
	case o = <-settled:
	case <-time.After(30 * time.Second):
		t.Fatal("the streamed message was never settled")
	}
	if o.Reject == nil || !strings.Contains(o.Reject.Reason, "record 3") {
		t.Errorf("settled with %+v, want the first part's rejection of record 3", o.Reject)
	}
	select {
	case again := <-settled:
		t.Fatalf("settled twice: %+v", again)
	case <-time.After(100 * time.Millisecond):
	}
	if got := committed.Load(); got != int64(dec.n-1) {
		t.Errorf("%d containers changed, want %d", got, dec.n-1)
	}
	// In flight: the parts holding a slot, the part being filled, and
	// parts whose slot is back while their commit is still being reported
	// to listeners; far fewer than the file's 21 parts.
	if ahead := dec.maxAhead.Load(); ahead > 6*streamPart {
		t.Errorf("the decoder ran %d records ahead of the store, more than 6 parts", ahead)
	}
}

// BenchmarkStreamedMessagePeakHeap applies a message of 60,000 records
// (a 10 MB X12 file's worth) through the engine and reports the peak heap
// above the start: streamed in parts beside, in the same run, the whole
// message decoded first and applied as one (as before streaming).
func BenchmarkStreamedMessagePeakHeap(b *testing.B) {
	const n = 60000
	for _, mode := range []string{"streamed", "whole"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				var committed atomic.Int64
				e, stop := startEngine(b, listenerFunc(func(c *changes) { committed.Add(int64(len(c.Containers))) }))
				dec := &countingStream{n: n, committed: &committed}
				src := &SourceInfo{Name: "drop", Kind: config.KindAgency, Agency: "customs", Decoder: dec}
				peak := heapwatch.Peak(func() {
					settled := make(chan struct{})
					m := adapters.Message{
						Body: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("")), nil },
						Done: func(adapters.Outcome) { close(settled) },
					}
					if mode == "whole" {
						var recs []adapters.Record
						dec.DecodeStream(nil, func(r adapters.Record) { recs = append(recs, r) })
						m.Body = nil
						e.enqueueInbound(inbound{src: src, msg: m, records: recs})
					} else {
						e.Deliver(src)(m)
					}
					<-settled
				})
				stop()
				b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
			}
		})
	}
}
