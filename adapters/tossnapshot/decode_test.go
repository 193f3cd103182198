package tossnapshot

import (
	"strings"
	"testing"
)

// TestDecodeRepeatedKeys: a snapshot that names one of its own
// fields twice is refused, since which list or which "complete" was meant
// is unknown (encoding/json took the last "complete" and both lists); an
// entry that repeats a key is skipped like any unreadable entry, and the
// snapshot then marks nothing departed (issue 9).
func TestDecodeRepeatedKeys(t *testing.T) {
	for body, want := range map[string]string{
		`{"complete": false, "containers": [], "complete": true}`:                                         `duplicate key "complete" in the object at $`,
		`{"complete": true, "containers": [{"container": "MSCU1234566", "holds": []}], "containers": []}`: `duplicate key "containers" in the object at $`,
		`{"at": "2026-11-28T10:25:00+24:00", "containers": []}`:                                           `field "at": "2026-11-28T10:25:00+24:00": zone offset +24:00 is outside -23:59..+23:59`,
		`{"complete": true, "containers": [], "vendor": {"rev": 1, "rev": 2}}`:                            `duplicate key "rev" in the object at $["vendor"]`,
	} {
		_, err := Decode([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", body, err, want)
		}
	}

	snap, err := Decode([]byte(`{"complete": true, "containers": [
		{"container": "MSCU1234566", "holds": []},
		{"container": "TGHU1234567", "holds": ["CUSTOMS"], "holds": []}]}`))
	if err != nil {
		t.Fatalf("an entry with a repeated key failed the whole snapshot: %v", err)
	}
	if len(snap.Containers) != 1 || snap.Containers[0].Container != "MSCU1234566" || snap.Complete {
		t.Errorf("got %+v, want MSCU1234566 alone and the snapshot not complete", snap)
	}
	if all := strings.Join(snap.Problems, "\n"); !strings.Contains(all, `entry 1: duplicate key "holds" in the object at $.containers[1]`) {
		t.Errorf("problems do not name the repeat:\n%s", all)
	}
}
