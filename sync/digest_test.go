package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

func digestEvent() *state.AgencyEvent {
	return &state.AgencyEvent{ID: "REL-2026-000123", Agency: "customs", Status: state.Released,
		Containers: []string{"MSCU1234566", "TGHU1234567"}, BL: "MEDUSH123456", Declaration: "220120261000123456",
		Reason: "documents checked", At: time.Date(2026, 11, 28, 10, 15, 0, 0, time.FixedZone("", 8*3600))}
}

// Any change of content changes the digest; writing the same instant in
// another zone does not.
func TestContentDigest(t *testing.T) {
	base := contentDigest(digestEvent())
	changes := map[string]func(*state.AgencyEvent){
		"id":          func(e *state.AgencyEvent) { e.ID += "x" },
		"status":      func(e *state.AgencyEvent) { e.Status = state.Held },
		"hold":        func(e *state.AgencyEvent) { e.Hold = "7H" },
		"containers":  func(e *state.AgencyEvent) { e.Containers = e.Containers[:1] },
		"order":       func(e *state.AgencyEvent) { e.Containers[0], e.Containers[1] = e.Containers[1], e.Containers[0] },
		"bl":          func(e *state.AgencyEvent) { e.BL = "" },
		"declaration": func(e *state.AgencyEvent) { e.Declaration += "1" },
		"reason":      func(e *state.AgencyEvent) { e.Reason = "" },
		"at":          func(e *state.AgencyEvent) { e.At = e.At.Add(time.Second) },
		// Field boundaries: the same bytes split otherwise.
		"shifted": func(e *state.AgencyEvent) { e.BL, e.Declaration = e.BL+"2", "20120261000123456" },
	}
	for name, change := range changes {
		ev := digestEvent()
		change(ev)
		if bytes.Equal(contentDigest(ev), base) {
			t.Errorf("%s changed, digest did not", name)
		}
	}
	ev := digestEvent()
	ev.At = ev.At.UTC()
	if !bytes.Equal(contentDigest(ev), base) {
		t.Error("the same instant in UTC digests otherwise")
	}
	tos := &state.TOSEvent{ID: "REL-2026-000123", Container: "MSCU1234566", Event: "arrived", At: ev.At}
	if bytes.Equal(contentDigest(tos), contentDigest(&state.TOSEvent{ID: tos.ID, Container: tos.Container, Event: tos.Event, At: tos.At, HasHolds: true})) {
		t.Error("an empty hold list and none digest alike")
	}
}

// BenchmarkContentDigest puts the digest, computed for every inbound
// record, beside the JSON encoding it replaced, in the same run.
func BenchmarkContentDigest(b *testing.B) {
	ev := digestEvent()
	b.Run("fields", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			contentDigest(ev)
		}
	})
	b.Run("json-baseline", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			data, _ := json.Marshal(ev)
			sha256.Sum256(data)
		}
	})
}

// TestContentDigestIsStable pins the digests of one event of each kind:
// they are stored in the dedupe bucket, so a change of encoding would make
// every re-delivery after an upgrade look like new content.
func TestContentDigestIsStable(t *testing.T) {
	at := time.Unix(1700000000, 5)
	for _, c := range []struct {
		ev   any
		want string
	}{
		{digestEvent(), "4645c9515f1cb90562097612ff5a55d5ab4919cd45f8919f59ac409797775df8"},
		{&state.TOSEvent{ID: "N4-1", Container: "MSCU1234566", Event: "arrived", Holds: []string{"CUSTOMS"}, HasHolds: true, At: at},
			"2757fa3dd40580a7b7b37ae83274a12a9bbd34c682b95eb87e11a4a9f4968350"},
		{&state.ManifestEvent{ID: "M1", BL: "BL1", Containers: []string{"MSCU1234566"}, At: at},
			"4540e4bfc5d6aaf75aa729a076746d8c7f0cc40b70fc265383408ae536ae7d22"},
	} {
		if got := hex.EncodeToString(contentDigest(c.ev)); got != c.want {
			t.Errorf("contentDigest(%T) = %s, want %s", c.ev, got, c.want)
		}
	}
}
