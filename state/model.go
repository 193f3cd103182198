package state

import (
	"slices"
	"time"
)

// Status is an agency's decision on a container.
type Status string

// Agency statuses.
const (
	Unknown  Status = "unknown"
	Held     Status = "held"
	Released Status = "released"
)

// Agency event statuses besides released and held (DESIGN 3.1): an
// agency removes one of its holds (of the event's hold type), or takes its
// release back. Neither is a status a container can have.
const (
	HoldRemoved Status = "hold_removed"
	Revoked     Status = "revoked"
)

// Presence says where a container is, as far as the TOS has told us.
type Presence string

// Presences.
const (
	Expected Presence = "expected"
	InYard   Presence = "in_yard"
	Departed Presence = "departed"
)

// TOS event kinds.
const (
	TOSArrived  = "arrived"
	TOSHolds    = "holds"
	TOSDeparted = "departed"
)

// Command actions.
const (
	AddHold     = "add_hold"
	ReleaseHold = "release_hold"
)

// Mismatch and alert kinds.
const (
	KindStaleHold             = "stale_hold"
	KindMissingHold           = "missing_hold"
	KindUnauthorizedDeparture = "unauthorized_departure"
	KindSinkDown              = "sink_down"
	KindInvalidInput          = "invalid_input"
	// KindCommandRejected: the TOS refused a command (an HTTP TOS's 409 or
	// 422); it is not sent again until the next sweep.
	KindCommandRejected = "command_rejected"
	// KindSessionLost: a broker came back without the persistent session
	// portsync had, so messages it queued for us may be gone.
	KindSessionLost = "session_lost"
	// KindSourceDown: a source has failed for longer than sla.apply_within.
	KindSourceDown = "source_down"
	// KindSourceSilent: a source has delivered nothing for its
	// silent_after.
	KindSourceSilent = "source_silent"
	// KindManualOverride: an operator's override (portsync override) was
	// applied to an agency's ledger on a container; it resolves when a
	// newer decision of the agency itself changes that ledger.
	KindManualOverride = "manual_override"
)

// CausePolicyUnknown is the cause of a hold asked for by an agency's
// when_unknown policy rather than by an event.
const CausePolicyUnknown = "policy:when_unknown"

// AgencyEvent is a decision of an agency on one or more containers (DESIGN
// 3.1), decoded and validated.
type AgencyEvent struct {
	ID     string `json:"id"`
	Agency string `json:"agency"`
	Status Status `json:"status"`
	// Hold is the hold type a held or hold_removed event is about (CBP
	// 1H, 7H, an inspection); empty is the agency's general hold.
	Hold        string    `json:"hold,omitempty"`
	Containers  []string  `json:"containers"`
	BL          string    `json:"bl,omitempty"`
	Declaration string    `json:"declaration,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// ManifestEvent links a bill of lading to its containers (DESIGN 3.6): a
// manifest, or a TOS's B/L data. The latest At per B/L wins and replaces
// the B/L's container list.
type ManifestEvent struct {
	ID         string    `json:"id"`
	BL         string    `json:"bl"`
	Containers []string  `json:"containers"`
	At         time.Time `json:"at"`
}

// TOSEvent is a report of the terminal operating system on one container
// (DESIGN 3.2), decoded and validated. HasHolds tells an empty hold list
// from an absent one, which matters for departed.
type TOSEvent struct {
	ID        string   `json:"id"`
	Container string   `json:"container"`
	Event     string   `json:"event"`
	Holds     []string `json:"holds"`
	HasHolds  bool     `json:"-"`
	// BL, when set, links the container to that bill of lading.
	BL string    `json:"bl,omitempty"`
	At time.Time `json:"at"`
}

// AgencyState is one agency's decisions on one container: a small ledger
// of its release and its holds by type (DESIGN section 1), the status
// derived from them, and the event that last changed them. Real agencies
// release and hold separately: CBP's 1C release stands while a 7H exam
// hold is open, and the cargo may not leave until the hold is removed.
type AgencyState struct {
	Status     Status    `json:"status"`      // derived from Release and Holds
	At         time.Time `json:"at"`          // the agency's time of the last change
	EventID    string    `json:"event_id"`    // the event of the last change
	Source     string    `json:"source"`      // the source it came from
	ReceivedAt time.Time `json:"received_at"` // our clock when it arrived
	// Release is the agency's release: granted, or revoked (taken back).
	Release LedgerEntry `json:"release,omitzero"`
	// Holds are the agency's holds by hold type ("" is its general hold),
	// open or removed; a removed hold is kept so that an older placement
	// arriving late is recognised as stale.
	Holds map[string]LedgerEntry `json:"holds,omitempty"`
}

// LedgerEntry is one line of an agency's ledger: its state and the event
// that last set it.
type LedgerEntry struct {
	State      string    `json:"state"` // granted or revoked; open or removed
	At         time.Time `json:"at"`    // the agency's time: an older event is stale
	EventID    string    `json:"event_id"`
	Source     string    `json:"source,omitempty"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
}

// Ledger entry states: a release is granted or revoked, a hold open or
// removed.
const (
	ReleaseGranted = "granted"
	ReleaseRevoked = "revoked"
	HoldOpen       = "open"
	HoldLifted     = "removed"
)

// Mismatch is a difference between the hold the TOS has and the one it
// should have, for one agency on one container in the yard.
type Mismatch struct {
	Container string    `json:"container"`
	Agency    string    `json:"agency"`
	Hold      string    `json:"hold,omitempty"` // the TOS hold code
	Kind      string    `json:"kind"`           // stale_hold or missing_hold
	Since     time.Time `json:"since"`          // our clock when first seen
}

// PendingCommand is a command issued for a container and not yet confirmed
// by the TOS; the full command is in the outbox under the same ID.
type PendingCommand struct {
	ID       string    `json:"id"`
	Action   string    `json:"action"`
	Hold     string    `json:"hold"`
	Agency   string    `json:"agency"`
	Cause    string    `json:"cause"`
	IssuedAt time.Time `json:"issued_at"`
	// CauseReceivedAt is when the agency event behind the command reached
	// us, for the release-to-TOS latency.
	CauseReceivedAt time.Time `json:"cause_received_at,omitzero"`
}

// Container is everything portsync knows of one container.
type Container struct {
	ID       string                 `json:"container"`
	Presence Presence               `json:"presence"`
	Agencies map[string]AgencyState `json:"agencies,omitempty"`
	TOSHolds []string               `json:"tos_holds"`
	TOSAt    time.Time              `json:"tos_at,omitzero"` // the TOS time of the last TOS event applied
	// DepartedUncleared is set when the container left while not cleared,
	// and stays until it is cleared or arrives again.
	DepartedUncleared bool                      `json:"departed_uncleared,omitempty"`
	Mismatches        map[string]Mismatch       `json:"mismatches,omitempty"` // by agency
	Pending           map[string]PendingCommand `json:"pending,omitempty"`    // by hold code
	Alerts            []string                  `json:"alerts,omitempty"`     // ids of its firing alerts
	// BLs are the bills of lading the container is linked to: by agency
	// events that name both, TOS events with a bl, and manifests.
	BLs          []string  `json:"bls,omitempty"`
	Declarations []string  `json:"declarations,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Own is the container's own ledger (its container-level decisions)
	// while a linked B/L has decisions of its own; Agencies is then the
	// effective ledger, own and the B/Ls' merged. Nil when no linked B/L
	// has decided anything: Agencies is then the container's own.
	Own map[string]AgencyState `json:"own,omitempty"`
}

// BL is a bill of lading: the containers linked to it and its own
// B/L-level decisions, which apply to every linked container (DESIGN
// section 1).
type BL struct {
	ID string `json:"bl"`
	// Containers are the linked containers, in id order.
	Containers []string `json:"containers"`
	// ManifestAt and ManifestID are the manifest that last replaced the
	// list; a manifest no newer than ManifestAt is stale.
	ManifestAt time.Time `json:"manifest_at,omitzero"`
	ManifestID string    `json:"manifest_id,omitempty"`
	// Agencies are the B/L-level ledgers, by agency.
	Agencies  map[string]AgencyState `json:"agencies,omitempty"`
	UpdatedAt time.Time              `json:"updated_at"`
}

// Clone returns a deep copy of b.
func (b BL) Clone() BL {
	b.Containers = slices.Clone(b.Containers)
	b.Agencies = cloneLedgers(b.Agencies)
	return b
}

// cloneLedgers deep-copies a ledger map.
func cloneLedgers(m map[string]AgencyState) map[string]AgencyState {
	m = cloneMap(m)
	for name, a := range m {
		a.Holds = cloneMap(a.Holds)
		m[name] = a
	}
	return m
}

// HasHold reports whether the TOS last reported the hold code on c.
func (c *Container) HasHold(code string) bool {
	return slices.Contains(c.TOSHolds, code)
}

// Clone returns a deep copy of c, so a decision can change it freely.
func (c Container) Clone() Container {
	c.Agencies = cloneLedgers(c.Agencies)
	c.Own = cloneLedgers(c.Own)
	c.Mismatches = cloneMap(c.Mismatches)
	c.Pending = cloneMap(c.Pending)
	c.TOSHolds = slices.Clone(c.TOSHolds)
	c.Alerts = slices.Clone(c.Alerts)
	c.BLs = slices.Clone(c.BLs)
	c.Declarations = slices.Clone(c.Declarations)
	return c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Command is an instruction to the TOS (DESIGN 3.3). It stays in the outbox
// until the TOS confirms it or a newer decision supersedes it.
type Command struct {
	ID        string    `json:"id"`
	Terminal  string    `json:"terminal"`
	Container string    `json:"container"`
	Action    string    `json:"action"`
	Hold      string    `json:"hold"`
	Agency    string    `json:"agency"`
	Cause     string    `json:"cause"`
	Reason    string    `json:"reason"`
	IssuedAt  time.Time `json:"issued_at"`
}

// Alert is a notice for people (DESIGN 3.4). Notified records, per channel,
// when the alert was last delivered in its current state.
type Alert struct {
	ID        string               `json:"id"`
	Kind      string               `json:"kind"`
	Severity  string               `json:"severity"`
	State     string               `json:"state"` // firing or resolved
	Terminal  string               `json:"terminal"`
	Container string               `json:"container,omitempty"`
	Agency    string               `json:"agency,omitempty"`
	Source    string               `json:"source,omitempty"`
	Since     time.Time            `json:"since"`
	Summary   string               `json:"summary"`
	At        time.Time            `json:"at"`
	Count     int                  `json:"count,omitempty"` // invalid messages behind an invalid_input alert
	Notified  map[string]time.Time `json:"notified,omitempty"`
}

// Alert states.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// DeadLetter is an inbound message that could not be applied, kept with the
// reason so that it can be fixed and retried. The same payload from the
// same source is one dead letter however often it comes: Count is how many
// times it arrived when that is more than once (0 for once), ReceivedAt the
// first arrival and LastAt the latest.
type DeadLetter struct {
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	Code       string    `json:"code"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
	Payload    string    `json:"payload"`
	Count      int       `json:"count,omitempty"`
	LastAt     time.Time `json:"last_at,omitzero"`
}

// Journal entry kinds.
const (
	JournalAgencyEvent  = "agency_event"
	JournalTOSEvent     = "tos_event"
	JournalCommand      = "command"
	JournalCommandSent  = "command_sent"
	JournalConfirmed    = "command_confirmed"
	JournalSuperseded   = "command_superseded"
	JournalRejected     = "command_rejected"
	JournalAlertFiring  = "alert_firing"
	JournalAlertResolve = "alert_resolved"
)

// JournalEntry is one line of a container's audit trail. EventID is the
// inbound event behind it, so that every command and alert can be traced to
// the message that caused it.
type JournalEntry struct {
	Seq       uint64    `json:"seq,omitempty"`
	At        time.Time `json:"at"` // our clock
	Kind      string    `json:"kind"`
	Container string    `json:"container"`
	Source    string    `json:"source,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
	Agency    string    `json:"agency,omitempty"`
	Status    string    `json:"status,omitempty"`
	EventAt   time.Time `json:"event_at,omitzero"` // the sender's time
	Holds     []string  `json:"holds,omitempty"`
	Command   string    `json:"command,omitempty"`
	Action    string    `json:"action,omitempty"`
	Hold      string    `json:"hold,omitempty"`
	Result    string    `json:"result,omitempty"` // applied, stale
	Detail    string    `json:"detail,omitempty"`
	// DetailOf is the sequence of the entry that holds this one's Detail:
	// an agency event's reason is stored once however many containers it
	// names. The store's readers fill Detail in and clear DetailOf.
	DetailOf uint64 `json:"detail_of,omitempty"`
	// ReusedID marks an event whose id was seen before with other content:
	// a new decision under a reused entry number.
	ReusedID bool `json:"reused_id,omitempty"`
	// BL is the bill of lading a B/L-level decision or a manifest was
	// about. An entry with a BL and no Container is on the B/L's own
	// timeline (Tx.BLHistory).
	BL string `json:"bl,omitempty"`
}

// Journal entry kind of a manifest (DESIGN 3.6).
const JournalManifest = "manifest"
