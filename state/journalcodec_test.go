package state

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// journalSamples are journal entries as the engine writes them: our clock
// with nanoseconds, senders' times in seconds.
func journalSamples() []JournalEntry {
	now := time.Date(2026, 11, 28, 2, 0, 0, 123456789, time.UTC)
	sent := time.Date(2026, 11, 28, 1, 59, 58, 0, time.UTC)
	return []JournalEntry{
		{At: now, Kind: JournalTOSEvent, Container: "MSCU1234565", Source: "tos-events", EventID: "N4-20261128-000123456",
			Status: "arrived", EventAt: sent, Holds: []string{"CUSTOMS"}, Result: "applied"},
		{At: now, Kind: JournalAgencyEvent, Container: "MSCU1234565", Source: "customs-mqtt", EventID: "REL-2026-0001234567",
			Agency: "customs", Status: "released", EventAt: sent, Result: "applied", DetailOf: 1234567},
		{At: now, Kind: JournalCommand, Container: "MSCU1234565", EventID: "REL-2026-0001234567", Agency: "customs",
			Command: "cmd-000001234567-1a2b3c4d", Action: "release_hold", Hold: "CUSTOMS", Detail: "customs released"},
		{At: now, Kind: JournalConfirmed, Container: "MSCU1234565", EventID: "REL-2026-0001234567", Agency: "customs",
			Command: "cmd-000001234567-1a2b3c4d", Action: "release_hold", Hold: "CUSTOMS"},
	}
}

// journalFull sets every field, so that a field added to JournalEntry and
// not to the binary form shows in the round trip.
func journalFull() JournalEntry {
	return JournalEntry{Seq: 42, At: time.Unix(5, 6).In(time.FixedZone("", 8*3600)), Kind: "other", Container: "c",
		Source: "s", EventID: "e", Agency: "a", Status: "st", EventAt: time.Date(9999, 1, 2, 3, 4, 5, 6, time.UTC),
		Holds: []string{"h1", ""}, Command: "cmd", Action: "ac", Hold: "ho", Result: "r", Detail: "d", DetailOf: 9,
		ReusedID: true, BL: "bl"}
}

// TestJournalBinaryRoundTrip checks that every entry reads back as JSON
// would have read it back.
func TestJournalBinaryRoundTrip(t *testing.T) {
	if n := reflect.TypeFor[JournalEntry]().NumField(); n != 18 {
		t.Fatalf("JournalEntry has %d fields; the binary form knows 18 (Seq is the key): give the new one a bit and a round trip here", n)
	}
	entries := append(journalSamples(), journalFull(), JournalEntry{Seq: 1, Holds: []string{}},
		JournalEntry{Seq: 2, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local), Kind: JournalManifest})
	for _, e := range entries {
		e.Seq = max(e.Seq, 7)
		var viaJSON, viaBinary JournalEntry
		j, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if err := unmarshalJournalEntry(e.Seq, j, &viaJSON); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if err := unmarshalJournalEntry(e.Seq, appendJournalEntry(nil, &e), &viaBinary); err != nil {
			t.Fatalf("binary: %v", err)
		}
		if !reflect.DeepEqual(viaBinary, viaJSON) {
			t.Errorf("binary round trip:\n got %#v\nwant %#v (as JSON reads it)", viaBinary, viaJSON)
		}
	}
}

// TestJournalBinaryDamaged checks that a cut or extended entry, or one
// from a newer version, is an error and never a panic.
func TestJournalBinaryDamaged(t *testing.T) {
	e := journalFull()
	data := appendJournalEntry(nil, &e)
	for n := range len(data) {
		var got JournalEntry
		if err := unmarshalJournalEntry(1, data[:n], &got); err == nil {
			t.Errorf("entry cut to %d of %d bytes decoded without error", n, len(data))
		}
	}
	var got JournalEntry
	if err := unmarshalJournalEntry(1, append(data, 0), &got); err == nil {
		t.Error("entry with a byte too many decoded without error")
	}
	// A whole entry of a newer version: a field bit this one does not
	// know, and nothing else wrong with it.
	minimal := JournalEntry{At: time.Unix(1, 0).UTC(), Kind: JournalAgencyEvent}
	valid := appendJournalEntry(nil, &minimal)
	if err := unmarshalJournalEntry(1, valid, &got); err != nil {
		t.Fatalf("the entry before the unknown bit: %v", err)
	}
	newer := append([]byte{journalV1}, binary.AppendUvarint(nil, 1<<62)...)
	newer = append(newer, valid[2:]...) // valid[1] is its bitmap, 0
	if err := unmarshalJournalEntry(1, newer, &got); err == nil || !strings.Contains(err.Error(), "unknown to this version") {
		t.Errorf("entry with an unknown field: %v, want it refused as unknown to this version", err)
	}
}

// TestJournalEncodingSizes logs the size of each sample entry as JSON
// (as stored before) and in the binary form (go test -v -run Sizes).
func TestJournalEncodingSizes(t *testing.T) {
	var js, bs int
	for _, e := range journalSamples() {
		e.Seq = 2020000
		j, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		b := appendJournalEntry(nil, &e)
		js += len(j)
		bs += len(b)
		t.Logf("%-18s JSON %3d bytes, binary %3d bytes", e.Kind, len(j), len(b))
	}
	t.Logf("total: JSON %d bytes, binary %d bytes (%.0f%%)", js, bs, 100*float64(bs)/float64(js))
}

// BenchmarkJournalEncoding compares the two forms' encoding and decoding.
func BenchmarkJournalEncoding(b *testing.B) {
	samples := journalSamples()
	b.Run("json_encode", func(b *testing.B) {
		for i := range b.N {
			if _, err := json.Marshal(&samples[i%len(samples)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary_encode", func(b *testing.B) {
		for i := range b.N {
			_ = appendJournalEntry(nil, &samples[i%len(samples)])
		}
	})
	var js, bs [][]byte
	for _, e := range samples {
		j, _ := json.Marshal(&e)
		js = append(js, j)
		bs = append(bs, appendJournalEntry(nil, &e))
	}
	b.Run("json_decode", func(b *testing.B) {
		for i := range b.N {
			var e JournalEntry
			if err := unmarshalJournalEntry(1, js[i%len(js)], &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary_decode", func(b *testing.B) {
		for i := range b.N {
			var e JournalEntry
			if err := unmarshalJournalEntry(1, bs[i%len(bs)], &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzJournalEntry: whatever bytes the journal holds, the decoder returns
// an entry or an error, never panics, and an entry it returns from the
// binary form encodes back to the same bytes.
func FuzzJournalEntry(f *testing.F) {
	for _, e := range append(journalSamples(), journalFull()) {
		f.Add(appendJournalEntry(nil, &e))
		j, _ := json.Marshal(&e)
		f.Add(j)
	}
	f.Add([]byte{journalV1})
	f.Add([]byte{journalV1, 0x80, 0x80, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		var e JournalEntry
		if err := unmarshalJournalEntry(7, data, &e); err != nil || len(data) == 0 || data[0] != journalV1 {
			return
		}
		if again := appendJournalEntry(nil, &e); string(again) != string(data) {
			// Different bytes may decode alike (a uvarint with extra
			// continuation bytes); they must then decode to the same entry.
			var e2 JournalEntry
			if err := unmarshalJournalEntry(7, again, &e2); err != nil || !reflect.DeepEqual(e, e2) {
				t.Fatalf("re-encoded entry reads back as %#v (%v), want %#v", e2, err, e)
			}
		}
	})
}

// TestJournalReadsEntriesWrittenAsJSON: a store written before the binary
// form serves its old JSON entries beside new binary ones, DetailOf and
// retention included.
func TestJournalReadsEntriesWrittenAsJSON(t *testing.T) {
	s := openTemp(t, "old.db")
	at := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	old := JournalEntry{Seq: 1, At: at, Kind: JournalAgencyEvent, Container: "MSCU1234565", EventID: "OLD", Detail: "the reason, stored once"}
	err := s.Update(func(tx *Tx) error {
		b := tx.bucket(bucketJournal)
		data, _ := json.Marshal(&old)
		if err := b.Put(seqKey(1), data); err != nil {
			return err
		}
		if err := b.SetSequence(1); err != nil {
			return err
		}
		if err := tx.bucket(bucketJournalIdx).Put(journalIdxKey(old.Container, 1), nil); err != nil {
			return err
		}
		return tx.Journal(&JournalEntry{At: at.Add(time.Hour), Kind: JournalAgencyEvent, Container: "MSCU1234565", EventID: "NEW", DetailOf: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	var h []JournalEntry
	_ = s.View(func(tx *Tx) error { h, err = tx.History("MSCU1234565"); return err })
	if err != nil || len(h) != 2 || h[0].EventID != "OLD" || h[1].EventID != "NEW" || h[1].Detail != old.Detail || h[1].Seq != 2 {
		t.Fatalf("history %+v, %v; want the JSON entry, then the binary one with its detail", h, err)
	}
	var n int
	err = s.Update(func(tx *Tx) error { n, _, err = tx.PruneJournal(at.Add(time.Minute), 10); return err })
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the old JSON entry pruned", n, err)
	}
}

// TestJSONTimeAgreesWithMarshalJSON: the store refuses exactly the times
// the API could not write.
func TestJSONTimeAgreesWithMarshalJSON(t *testing.T) {
	for _, tm := range []time.Time{
		{}, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(23*3600+59*60+59))),
	} {
		_, want := tm.MarshalJSON()
		if got := jsonTime(tm); (got == nil) != (want == nil) {
			t.Errorf("%s (offset %v): jsonTime %v, MarshalJSON %v", tm, tm.Format("-07:00:00"), got, want)
		}
	}
}
