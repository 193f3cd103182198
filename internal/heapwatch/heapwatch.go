// Package heapwatch measures the peak heap of a piece of work, for the
// benchmarks that report memory beside their baseline.
package heapwatch

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Peak runs f and returns the most heap (HeapAlloc) in use while it ran,
// above what was in use before, sampled every millisecond.
func Peak(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	runtime.ReadMemStats(&ms)
	if p := max(peak.Load(), ms.HeapAlloc); p > base {
		return p - base
	}
	return 0
}
