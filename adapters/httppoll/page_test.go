package httppoll

import (
	"errors"
	"strings"
	"testing"
)

// TestPageWithRepeatedKeys: a page that names "events" or its cursor twice
// is refused (encoding/json would read the last, a gjson cursor path the
// first); a repeat inside one event is that event's own fault, left to its
// decoder, and must not fail the page: a failed page is retried from the
// same cursor for ever (issue 9).
func TestPageWithRepeatedKeys(t *testing.T) {
	s := &source{perEvent: true, field: "next_cursor"}
	for body, want := range map[string]string{
		`{"events":[{"id":"1"}],"next_cursor":"c2","events":[]}`:                `duplicate key "events" in the object at $`,
		`{"events":[{"id":"1"}],"next_cursor":"c2","next_cursor":"c1"}`:         `duplicate key "next_cursor" in the object at $`,
		`{"events":[{"id":"1"}],"next_cursor":"c2","meta":{"page":1,"page":2}}`: `duplicate key "page" in the object at $.meta`,
	} {
		_, err := s.parse([]byte(body), "c1")
		var malformed *MalformedError
		if !errors.As(err, &malformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a malformed answer naming %s", body, err, want)
		}
	}

	p, err := s.parse([]byte(`{"events":[{"id":"1","id":"2"},{"id":"3"}],"next_cursor":"c2"}`), "c1")
	if err != nil || len(p.msgs) != 2 || string(p.msgs[0].Payload) != `{"id":"1","id":"2"}` {
		t.Fatalf("page with a repeat inside an event: %+v, %v; want both events delivered", p, err)
	}
}
