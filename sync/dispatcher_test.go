package sync

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// recordingSink stands in for the TOS: it accepts every command and notes
// the size of each call.
type recordingSink struct {
	mu    stdsync.Mutex
	calls []int
	ids   []string
}

func (s *recordingSink) Send(_ context.Context, cmds []state.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, len(cmds))
	for _, c := range cmds {
		s.ids = append(s.ids, c.ID)
	}
	return nil
}

// batchingSink is a recordingSink that takes batch commands in a call.
type batchingSink struct {
	recordingSink
	batch int
}

func (s *batchingSink) MaxBatch() int { return s.batch }

// A round hands the sink the commands due in calls of its own size (512
// for a sink that does not say), in id order.
func TestDispatcherHandsEachSinkItsBatch(t *testing.T) {
	tests := []struct {
		name string
		sink interface {
			adapters.Sink
			sent() ([]int, []string)
		}
		due  int
		want []int
	}{
		{"a sink that does not say", &recordingSink{}, 1300, []int{512, 512, 276}},
		{"a sink of 4096", &batchingSink{batch: 4096}, 5000, []int{4096, 904}},
		{"a sink of 4096, one round's worth", &batchingSink{batch: 4096}, 1300, []int{1300}},
		{"a sink that says nothing sensible", &batchingSink{batch: 0}, 600, []int{512, 88}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, stop := startEngine(t)
			defer stop()
			d := newDispatcher("tos", tt.sink, &config.Config{}, e, e.metrics, slog.New(slog.NewTextHandler(io.Discard, nil)))
			now := time.Now()
			var want []string
			for i := range tt.due {
				id := fmt.Sprintf("cmd-%05d", i)
				want = append(want, id)
				d.outbox.put(&outboxEntry{cmd: state.Command{ID: id, Container: "TSTU0000000", Action: state.ReleaseHold}, next: now})
			}
			d.round(context.Background())
			calls, ids := tt.sink.sent()
			if !slices.Equal(calls, tt.want) {
				t.Errorf("calls of %v commands, want %v", calls, tt.want)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("sent %d commands out of order or not all (want %d)", len(ids), len(want))
			}
		})
	}
}

func (s *recordingSink) sent() ([]int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), slices.Clone(s.ids)
}
