package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// containerFull sets every field of the container and of what it holds,
// so that a field added and not encoded shows in the round trip.
func containerFull() Container {
	at := time.Date(2026, 11, 28, 2, 0, 0, 123456789, time.UTC)
	cn := time.Date(2026, 11, 28, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	ledger := LedgerEntry{State: HoldOpen, At: cn, EventID: "e1", Source: "s1", ReceivedAt: at}
	agency := AgencyState{Status: Held, At: cn, EventID: "e2", Source: "s2", ReceivedAt: at,
		Release: LedgerEntry{State: ReleaseRevoked, At: cn, EventID: "e3"}, Holds: map[string]LedgerEntry{"": ledger, "7H": ledger}}
	return Container{
		ID: "MSCU1234565", Presence: InYard, Agencies: map[string]AgencyState{"customs": agency, "quarantine": {Status: Unknown}},
		TOSHolds: []string{"CUSTOMS", "CIQ"}, TOSAt: cn, DepartedUncleared: true,
		Mismatches: map[string]Mismatch{"customs": {Container: "MSCU1234565", Agency: "customs", Hold: "CUSTOMS", Kind: "stale_hold", Since: at}},
		Pending: map[string]PendingCommand{"CUSTOMS": {ID: "cmd-1", Action: ReleaseHold, Hold: "CUSTOMS", Agency: "customs",
			Cause: "e2", IssuedAt: at, CauseReceivedAt: at}},
		Alerts: []string{"a1"}, BLs: []string{"BL1", "BL2"}, Declarations: []string{"D1"}, UpdatedAt: at,
		Own: map[string]AgencyState{"customs": agency},
	}
}

// containerSamples are containers as the engine leaves them, and the
// corners of JSON's empty and nil.
func containerSamples() []Container {
	at := time.Date(2026, 11, 28, 2, 0, 0, 123456789, time.UTC)
	return []Container{
		containerFull(),
		{ID: "TGHU1234567", Presence: Expected, TOSHolds: []string{}, UpdatedAt: at},
		{ID: "TGHU1234567", Presence: Departed, UpdatedAt: at}, // TOSHolds nil: JSON null
		{ID: "CSQU3054383", Presence: InYard, TOSHolds: []string{"CUSTOMS"}, Agencies: map[string]AgencyState{},
			Alerts: []string{}, BLs: []string{}, Mismatches: map[string]Mismatch{}, Pending: map[string]PendingCommand{},
			UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local)},
		// Takes a B/L's release and has no decision of its own.
		{ID: "CSQU3054383", Presence: InYard, TOSHolds: []string{"CUSTOMS"}, BLs: []string{"BL1"}, UpdatedAt: at,
			Agencies: map[string]AgencyState{"customs": {Status: Released, Release: LedgerEntry{State: ReleaseGranted, EventID: "REL-BL"}}},
			Own:      map[string]AgencyState{}},
	}
}

// TestContainerBinaryRoundTrip checks that every container reads back as
// its JSON would have read back, except that an empty Own stays empty
// (JSON leaves it out), and that the binary form is smaller.
func TestContainerBinaryRoundTrip(t *testing.T) {
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[Container](): 13, reflect.TypeFor[AgencyState](): 7, reflect.TypeFor[LedgerEntry](): 5,
		reflect.TypeFor[Mismatch](): 5, reflect.TypeFor[PendingCommand](): 7,
	} {
		if got := typ.NumField(); got != n {
			t.Fatalf("%s has %d fields; the binary form knows %d: add the new one to containercodec.go (a new version) and here", typ, got, n)
		}
	}
	for _, c := range containerSamples() {
		j, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		var viaJSON, viaBinary Container
		if _, err := unmarshalContainer(j, &viaJSON); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if c.Own != nil && len(c.Own) == 0 {
			viaJSON.Own = map[string]AgencyState{}
		}
		b := appendContainer(nil, &c)
		if exact, err := unmarshalContainer(b, &viaBinary); err != nil || !exact {
			t.Fatalf("binary: exact %v, %v", exact, err)
		}
		if !reflect.DeepEqual(viaBinary, viaJSON) {
			t.Errorf("binary round trip:\n got %#v\nwant %#v (as JSON reads it)", viaBinary, viaJSON)
		}
		if p, err := presenceOf(b); err != nil || p != c.Presence {
			t.Errorf("presenceOf = %q, %v; want %q", p, err, c.Presence)
		}
		t.Logf("%s %s: JSON %d bytes, binary %d", c.ID, c.Presence, len(j), len(b))
	}
}

// TestContainerBinaryDamaged: a cut or extended container, or one of an
// unknown version, is an error and never a panic.
func TestContainerBinaryDamaged(t *testing.T) {
	c := containerFull()
	data := appendContainer(nil, &c)
	for n := range len(data) {
		var got Container
		if _, err := unmarshalContainer(data[:n], &got); err == nil {
			t.Errorf("container cut to %d of %d bytes decoded without error", n, len(data))
		}
	}
	var got Container
	if _, err := unmarshalContainer(append(data, 0), &got); err == nil {
		t.Error("container with a byte too many decoded without error")
	}
	if _, err := unmarshalContainer(append([]byte{containerV2 + 1}, data[1:]...), &got); err == nil {
		t.Error("container of an unknown version decoded without error")
	}
}

// TestContainersWrittenAsJSONStillRead: a store written before the binary
// form serves its JSON containers, and rewrites them in the new form.
func TestContainersWrittenAsJSONStillRead(t *testing.T) {
	s := openTemp(t, "old.db")
	old := containerFull()
	err := s.Update(func(tx *Tx) error {
		data, _ := json.Marshal(&old)
		return tx.bucket(bucketContainers).Put([]byte(old.ID), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *Tx) error {
		c, ok, err := tx.Container(old.ID)
		if err != nil || !ok || c.Presence != InYard || c.Agencies["customs"].Holds["7H"].EventID != "e1" {
			t.Fatalf("JSON container read as %+v, %v, %v", c, ok, err)
		}
		var presences []Presence
		if err := tx.ForEachPresence(func(_ string, p Presence) error { presences = append(presences, p); return nil }); err != nil {
			return err
		}
		if len(presences) != 1 || presences[0] != InYard {
			t.Errorf("presences %v", presences)
		}
		return tx.PutContainer(c, c.Presence)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Tx) error {
		if data := tx.bucket(bucketContainers).Get([]byte(old.ID)); data[0] != containerV2 {
			t.Errorf("rewritten container starts with %q, want the binary form", data[0])
		}
		return nil
	})
}

// FuzzContainer: whatever bytes the containers bucket holds, the decoder
// returns a container or an error and never panics; a container it
// returns from the binary form encodes to a form that reads back the
// same. JSON may spell one container several ways ({} for none, "+00:00"
// for UTC, names in any case): one read from JSON encodes to a binary
// form that encodes again to the same bytes.
func FuzzContainer(f *testing.F) {
	for _, c := range containerSamples() {
		f.Add(appendContainer(nil, &c))
		j, _ := json.Marshal(&c)
		f.Add(j)
	}
	for _, c := range containerSamples() {
		f.Add(appendContainerV1(&c))
	}
	f.Add([]byte{containerV1})
	f.Add([]byte{containerV2})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Container
		if _, err := unmarshalContainer(data, &c); err != nil {
			return
		}
		b := appendContainer(nil, &c)
		var again Container
		if _, err := unmarshalContainer(b, &again); err != nil {
			t.Fatalf("re-encoded container does not read back: %v", err)
		}
		if data[0] == '{' {
			if b2 := appendContainer(nil, &again); !bytes.Equal(b2, b) {
				t.Fatalf("container from JSON encodes as %x, then as %x", b, b2)
			}
		} else if !reflect.DeepEqual(again, c) {
			t.Fatalf("re-encoded container reads back as %#v, want %#v", again, c)
		}
	})
}

// appendContainerV1 appends c in binary form version 1, as the version
// before containerV2 wrote it: Own as any other map, so an empty Own as
// none.
func appendContainerV1(c *Container) []byte {
	x := *c
	x.Own = nil
	b := appendContainer(nil, &x) // ends with Own: 0 for nil, in either version
	b[0] = containerV1
	return appendAgencies(b[:len(b)-1], c.Own)
}

// A container written by the version before containerV2, or as JSON,
// lost an empty Own: the reader gives it back when a linked B/L that
// lists the container has decided something, as Own's definition says,
// and keeps a non-empty Own as it was. A B/L that does not list the
// container (it was full) did not rewrite it when it decided: the
// container's Agencies are then its own, and stay so.
func TestContainerOwnBeforeV2Restored(t *testing.T) {
	release := map[string]AgencyState{"customs": {Status: Released, Release: LedgerEntry{State: ReleaseGranted, EventID: "REL"}}}
	own := map[string]AgencyState{"customs": {Status: Held, Holds: map[string]LedgerEntry{"exam": {State: HoldOpen, EventID: "EXAM"}}}}
	listing := []string{"CSQU3054383", "MSCU1234566"}
	asJSON := func(c *Container) []byte {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		bl      BL // stored when it has an ID
		own     map[string]AgencyState
		wantOwn map[string]AgencyState
	}{
		{"B/L decided, no own decision", BL{ID: "BL1", Agencies: release, Containers: listing}, map[string]AgencyState{}, map[string]AgencyState{}},
		{"B/L decided, own decision", BL{ID: "BL1", Agencies: release, Containers: listing}, own, own},
		{"B/L decided, container not listed", BL{ID: "BL1", Agencies: release, Containers: []string{"MSCU1234566"}}, nil, nil},
		{"B/L undecided", BL{ID: "BL1", Containers: listing}, nil, nil},
		{"B/L not stored", BL{}, nil, nil},
	} {
		for form, encode := range map[string]func(*Container) []byte{"v1": appendContainerV1, "JSON": asJSON} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				s := openTemp(t, "old.db")
				c := Container{ID: "CSQU3054383", Presence: InYard, TOSHolds: []string{}, BLs: []string{"BL1"},
					Agencies: release, Own: tc.own}
				err := s.Update(func(tx *Tx) error {
					if tc.bl.ID != "" {
						if err := tx.PutBL(tc.bl); err != nil {
							return err
						}
					}
					return tx.bucket(bucketContainers).Put([]byte(c.ID), encode(&c))
				})
				if err != nil {
					t.Fatal(err)
				}
				_ = s.View(func(tx *Tx) error {
					got, ok, err := tx.Container(c.ID)
					if err != nil || !ok || !reflect.DeepEqual(got.Own, tc.wantOwn) {
						t.Errorf("Container: Own %#v (%v, %v), want %#v", got.Own, ok, err, tc.wantOwn)
					}
					err = tx.ForEachContainer(func(got Container) error {
						if !reflect.DeepEqual(got.Own, tc.wantOwn) {
							t.Errorf("ForEachContainer: Own %#v, want %#v", got.Own, tc.wantOwn)
						}
						return nil
					})
					if err != nil {
						t.Error(err)
					}
					return nil
				})
			})
		}
	}
}
