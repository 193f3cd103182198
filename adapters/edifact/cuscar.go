package edifact

// # CUSCAR: manifests
//
// A source of kind manifest reads UN/EDIFACT CUSCAR (customs cargo
// report) messages, the manifest a carrier or its agent reports to
// customs, into manifest records (DESIGN 3.6): each links a bill of lading
// to its containers, and the newest (latest at per B/L) replaces the B/L's
// container list. The interchange is read and checked as for CUSRES
// (Parse, ParseAll): a damaged envelope rejects the interchange, a message
// that is not a CUSCAR or has an invalid field is rejected alone (one
// record, positioned at the segment), and the others still decode.
//
// The message, as the D.96B CUSCAR segment table lays it out:
//
//	UNH BGM DTM ...          header: DTM 2005 = 137 is the report's time
//	SG1  RFF-DTM             references of the whole report
//	SG2  NAD-SG3(CTA-COM)    parties
//	SG4  TDT-LOC-DTM         the conveyance (vessel, voyage)
//	SG5  EQD-...             the equipment of the report: EQD+CN a container
//	SG7  CNI-...             one consignment (manifest line), holding
//	  SG8  RFF-...           its references: RFF+BM the bill of lading
//	  SG14 GID-...-SGP-...   its goods items; SGP (split goods placement)
//	                         names the equipment a goods item is in
//	UNT
//
// From each consignment (a CNI and the segments after it, up to the next
// CNI or UNT) the decoder takes:
//
//   - bl: the first RFF with reference qualifier 1153 BM (bill of lading
//     number), else MB (master bill of lading), C506 1154 the reference,
//     at most state.MaxRefLen (70) bytes. A consignment without one
//     rejects the message: its containers could not be linked to anything.
//   - containers: the EQD segments with 8053 = CN inside the consignment
//     (implementations that repeat the equipment under the consignment),
//     and the equipment its SGP segments name (C237 8260), which must be
//     declared by an EQD of the message: an SGP naming an EQD+CN's
//     container adds it, an SGP naming other equipment (EQD+RR, a rail
//     car) adds nothing, and an SGP naming equipment no EQD declares
//     rejects the message. Each is checked as ISO 6346 (bad_check_digit
//     names the right digit); repeats are dropped. A consignment with no
//     container (break bulk) links its B/L to none.
//
// Consignments with the same B/L are one manifest record (a B/L split over
// several manifest lines): their containers together, up to
// MaxManifestContainers (10,000) per B/L; more rejects the message.
//
//   - at: the header DTM with 2005 = 137 (document/message date/time), in
//     the formats CUSRES reads, else the interchange's date and time of
//     preparation (UNB S004), in the source's time_zone.
//   - id: MessageID, then '#' and the B/L's ordinal in the message (1 for
//     the first B/L), so that each B/L of a report has its own id and the
//     same interchange delivered twice repeats them (a duplicate).
//
// A BGM message function (1225) of 1 (cancellation) or 3 (deletion)
// withdraws an earlier report: portsync cannot tell which links it takes
// back, so the message is rejected and the corrected report must be sent
// (a replacement, 5, or a new original, 9, is read as any report).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/state"
)

// MaxManifestContainers is the most containers one CUSCAR message may link
// to one B/L, as in the canonical format.
const MaxManifestContainers = jsonfmt.MaxManifestContainers

// manifestBLQualifiers are the reference qualifiers (1153) of a
// consignment's B/L, best first.
var manifestBLQualifiers = []string{"BM", "MB"}

// cuscarHeaderTags are the segments of the CUSCAR message header, before
// the first segment group.
var cuscarHeaderTags = []string{"BGM", "DTM", "LOC", "QTY"}

// consignment is one B/L of a message: the CNI that first named it and
// its containers.
type consignment struct {
	cni        *Segment
	bl         string
	containers []string
}

// cuscar maps one message of a manifest source to its manifest records,
// or to one rejection.
func (d *Decoder) cuscar(ic *Interchange, m *Message, prefix string) []adapters.Record {
	where := func(s *Segment) string {
		return prefix + fmt.Sprintf("message %d (UNH %s), %s", m.Number, m.Ref, s.Position())
	}
	cons, bad, err := d.consignments(ic, m)
	if err != nil {
		return []adapters.Record{{Err: err, Position: where(bad)}}
	}
	recs := make([]adapters.Record, len(cons.list))
	id := MessageID(ic, m)
	for i, c := range cons.list {
		recs[i] = adapters.Record{
			Manifest: &state.ManifestEvent{ID: fmt.Sprintf("%s#%d", id, i+1), BL: c.bl, Containers: c.containers, At: cons.at.t},
			Position: where(c.cni),
		}
	}
	return recs
}

type report struct {
	list []*consignment
	at   timeAt
}

// consignments reads a CUSCAR message; on error, bad is the segment at
// fault.
func (d *Decoder) consignments(ic *Interchange, m *Message) (report, *Segment, error) {
	unh := &m.Segments[0]
	if m.Type != "CUSCAR" {
		return report{}, unh, state.Reject(state.CodeInvalidField, "UNH S009 0065 (message type): want CUSCAR (a manifest source reads customs cargo reports), got %q", m.Type)
	}
	body := m.Segments[1 : len(m.Segments)-1]

	// The equipment the message declares, for its SGP segments: an EQD
	// anywhere in the message (SG5, or repeated under a consignment).
	declared := map[string]bool{} // raw 8260 -> is a container (EQD+CN)
	for i := range body {
		if s := &body[i]; s.Tag == "EQD" {
			raw := strings.TrimSpace(s.Value(1, 0))
			declared[raw] = declared[raw] || s.Value(0, 0) == "CN"
		}
	}

	var (
		bgm    *Segment
		header = true
		dates  = map[string]*Segment{}
		byBL   = map[string]*consignment{}
		rep    report
		cur    *consignment // the consignment being read
		curRef *Segment     // its CNI, until its B/L is known
		refs   = map[string]string{}
		// pending are the containers of the current consignment, until
		// its B/L is known (RFF may follow EQD).
		pending []containerAt
	)
	flush := func() error {
		if curRef == nil {
			return nil
		}
		bl := first(refs, manifestBLQualifiers)
		if bl == "" {
			return state.Reject(state.CodeInvalidField, "CNI (consignment %s): no RFF+BM (bill of lading) or RFF+MB (master bill of lading) in the consignment: its containers cannot be linked", cut(strings.TrimSpace(curRef.Value(0, 0)), 20))
		}
		cur = byBL[bl]
		if cur == nil {
			cur = &consignment{cni: curRef, bl: bl, containers: []string{}}
			byBL[bl] = cur
			rep.list = append(rep.list, cur)
		}
		for _, c := range pending {
			if slices.Contains(cur.containers, c.id) {
				continue
			}
			if len(cur.containers) == MaxManifestContainers {
				return &segmentError{c.seg, state.Reject(state.CodeInvalidField, "B/L %q: more than %d containers in one message", cut(bl, 70), MaxManifestContainers)}
			}
			cur.containers = append(cur.containers, c.id)
		}
		curRef, refs, pending = nil, map[string]string{}, nil
		return nil
	}
	for i := range body {
		s := &body[i]
		if header && !slices.Contains(cuscarHeaderTags, s.Tag) {
			header = false
		}
		switch s.Tag {
		case "BGM":
			if bgm == nil {
				bgm = s
			}
		case "DTM":
			if q := s.Value(0, 0); header && dates[q] == nil {
				dates[q] = s
			}
		case "CNI":
			if err := flush(); err != nil {
				return report{}, badSegment(err, curRefOr(curRef, s)), unwrap(err)
			}
			curRef = s
		case "RFF":
			if curRef == nil {
				continue // a reference of the whole report (SG1)
			}
			q, v := s.Value(0, 0), strings.TrimSpace(s.Value(0, 1))
			if !slices.Contains(manifestBLQualifiers, q) {
				continue
			}
			if err := state.CheckRef("bl", v); err != nil {
				return report{}, s, state.Reject(state.CodeInvalidField, "RFF %s reference: %s", q, err.(*state.Rejection).Reason)
			}
			if _, seen := refs[q]; !seen && v != "" {
				refs[q] = v
			}
		case "EQD":
			if curRef == nil || s.Value(0, 0) != "CN" {
				continue // the report's equipment (SG5), or not a container
			}
			id, err := equipment("EQD+CN C237 8260 (equipment identification)", s.Value(1, 0))
			if err != nil {
				return report{}, s, err
			}
			pending = append(pending, containerAt{id, s})
		case "SGP":
			if curRef == nil {
				continue
			}
			raw := strings.TrimSpace(s.Value(0, 0))
			isCN, ok := declared[raw]
			switch {
			case raw == "":
				return report{}, s, state.Reject(state.CodeInvalidField, "SGP C237 8260 (equipment identification): the equipment is missing")
			case !ok:
				return report{}, s, state.Reject(state.CodeInvalidField, "SGP C237 8260 (equipment identification) %q: no EQD of the message declares this equipment", cut(raw, 20))
			case !isCN:
				continue // a rail car, a trailer: not a container
			}
			id, err := equipment("SGP C237 8260 (equipment identification)", raw)
			if err != nil {
				return report{}, s, err
			}
			pending = append(pending, containerAt{id, s})
		}
	}
	if err := flush(); err != nil {
		return report{}, badSegment(err, curRefOr(curRef, unh)), unwrap(err)
	}
	if bgm == nil {
		return report{}, unh, state.Reject(state.CodeInvalidField, "BGM (beginning of message) is missing")
	}
	if name, ok := withdrawals[bgm.Value(2, 0)]; ok {
		return report{}, bgm, state.Reject(state.CodeInvalidField, "BGM 1225 (message function) %s (%s) withdraws an earlier cargo report, and which links it takes back is not known: send the corrected report (function 5 or 9)", bgm.Value(2, 0), name)
	}
	if len(rep.list) == 0 {
		return report{}, unh, state.Reject(state.CodeInvalidField, "no consignment: want a CNI with an RFF+BM (bill of lading) and its containers")
	}
	at, err := d.at(ic, dates, []string{"137"})
	if err != nil {
		if at.seg == nil {
			at.seg = unh
		}
		return report{}, at.seg, err
	}
	rep.at = at
	return rep, nil, nil
}

type containerAt struct {
	id  string
	seg *Segment
}

// segmentError carries the segment a rejection found at flush time is
// about, when it is not the consignment's CNI.
type segmentError struct {
	seg *Segment
	err error
}

func (e *segmentError) Error() string { return e.err.Error() }

func badSegment(err error, def *Segment) *Segment {
	if se, ok := err.(*segmentError); ok {
		return se.seg
	}
	return def
}

func unwrap(err error) error {
	if se, ok := err.(*segmentError); ok {
		return se.err
	}
	return err
}

func curRefOr(cni, def *Segment) *Segment {
	if cni != nil {
		return cni
	}
	return def
}

// equipment reads one container number, named by what for the reason.
func equipment(what, raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", state.Reject(state.CodeInvalidField, "%s: the container number is missing", what)
	}
	id, err := state.ParseContainer(raw)
	if err != nil {
		rej := err.(*state.Rejection)
		return "", state.Reject(rej.Code, "%s: %s", what, rej.Reason)
	}
	return id, nil
}
