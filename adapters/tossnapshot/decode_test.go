package tossnapshot

import (
	"slices"
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
	if all := entries(snap); len(all) != 1 || all[0].Container != "MSCU1234566" || snap.Complete {
		t.Errorf("got %+v, want MSCU1234566 alone and the snapshot not complete", snap)
	}
	if all := strings.Join(snap.Problems, "\n"); !strings.Contains(all, `entry 1: duplicate key "holds" in the object at $.containers[1]`) {
		t.Errorf("problems do not name the repeat:\n%s", all)
	}
}

// entries unpacks every entry of snap, in groups of 2 so that the
// grouping is exercised too.
func entries(snap Snapshot) []Entry {
	var all []Entry
	for group := range snap.Chunks(2) {
		all = append(all, group...)
	}
	return all
}

// TestDecodeListsInOrder: the entries come out sorted by number, one per
// container, across groups; Listed answers for them and no other; entries
// with the same holds get the same holds.
func TestDecodeListsInOrder(t *testing.T) {
	snap, err := Decode([]byte(`{"containers": [
		{"container": "TGHU1234567", "holds": ["customs"]},
		{"container": "MSCU1234566", "holds": ["CUSTOMS"]},
		{"container": "CSQU3054383", "holds": []},
		{"container": "MSCU1234566", "holds": ["CUSTOMS"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := entries(snap)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.Container)
		if want := e.Container != "CSQU3054383"; e.HoldsUnknown || (len(e.Holds) == 1) != want || (want && e.Holds[0] != "CUSTOMS") {
			t.Errorf("%s: %+v", e.Container, e)
		}
	}
	if want := []string{"CSQU3054383", "MSCU1234566", "TGHU1234567"}; !slices.Equal(ids, want) || snap.Len() != 3 {
		t.Errorf("entries %v (Len %d), want %v", ids, snap.Len(), want)
	}
	for id, want := range map[string]bool{"CSQU3054383": true, "MSCU1234566": true, "TGHU1234567": true, "MSCU1234567": false, "": false, "MSCU12345660": false} {
		if snap.Listed(id) != want {
			t.Errorf("Listed(%q) = %v, want %v", id, !want, want)
		}
	}
	if snap.Skipped != 0 {
		t.Errorf("problems %v, want none", snap.Problems)
	}
}
