package daemon

import (
	"strings"
	"testing"
	"time"
)

// TestStopDoesNotWaitForTheTOS: a stop while a scheduled sweep waits on a
// TOS snapshot that does not answer (for up to its timeout, a minute by
// default) cancels the sweep rather than waiting for it. The harness fails
// a stop that takes more than 10 s.
func TestStopDoesNotWaitForTheTOS(t *testing.T) {
	tos := newSLTOS(t) // answers only when the test ends
	h := newHarness(t, func(y string) string {
		y = strings.Replace(y, "sla:", "  snapshot: {type: http_poll, url: "+tos.url+"}\nsla:", 1)
		return strings.Replace(y, "\nhttp: {listen", "\nschedules: {sweep: \"@every 1s\"}\nhttp: {listen", 1)
	})
	brWaitFor(t, 10*time.Second, "a scheduled sweep asking the TOS for its snapshot", func() bool { return tos.requests.Load() > 0 })
	h.stop()
}
