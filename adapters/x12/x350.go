package x12

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// mapTx maps one transaction set of an interchange as the parser reads
// it; the records wait in the interchange until its IEA checks out. A test
// interchange maps nothing: the whole of it is refused once it is read.
func (d *decoder) mapTx(ic *interchange, g *group, t *transaction) []adapters.Record {
	if ic.usage != 'P' {
		return nil
	}
	return d.transaction(ic, g, t)
}

// usageRejection refuses a test interchange (ISA15 T) whose envelope
// checked out.
func usageRejection(ic *interchange) adapters.Record {
	return adapters.Record{
		Err: state.Reject(state.CodeInvalidField, "ISA15 (usage indicator) is %q, test data: interchange %s is not applied, only production (P) interchanges free or hold cargo",
			string(ic.usage), ic.control),
		Position: fmt.Sprintf("segment %d", ic.isa.pos),
	}
}

// equipment is one container reference: the segment it is in and its
// initial and number elements.
type equipment struct {
	seg             *segment
	what            string // e.g. "N701/N702"
	initial, number string
	check           string // N718, the equipment number check digit, if sent apart
}

// x4Loop is one X4 and the segments of its loop.
type x4Loop struct {
	x4     *segment
	n      int // ordinal of the X4 in its transaction set
	equip  []equipment
	p4     *p4Loop // nil outside a P4 loop (BA1, or no loop)
	refs   []*segment
	remark string
}

// p4Loop is the port loop around X4 loops; its VIDs name the equipment of
// X4s that name none.
type p4Loop struct {
	vids []equipment
}

// transaction maps one transaction set: one record per X4, or one
// rejection for the whole set.
func (d *decoder) transaction(ic *interchange, g *group, t *transaction) []adapters.Record {
	seen := g.seen
	st, se := t.segs[0], t.segs[len(t.segs)-1]
	at := func(s *segment) string {
		return fmt.Sprintf("transaction %d (segment %d)", t.n, s.pos-st.pos+1)
	}
	reject := func(s *segment, code, format string, args ...any) []adapters.Record {
		return []adapters.Record{{Err: state.Reject(code, format, args...), Position: at(s)}}
	}

	if st.el(1) != "350" {
		return reject(st, state.CodeInvalidField, "ST01 (transaction set identifier) is %s: this source takes 350 (customs status information) transaction sets only", quoteShort(st.el(1)))
	}
	ctl := st.el(2)
	if ctl == "" || len(ctl) > 9 {
		return reject(st, state.CodeInvalidField, "ST02 (transaction set control number): want 1 to 9 characters, got %s", quoteShort(ctl))
	}
	if n, ok := count(se.el(1)); !ok || n != len(t.segs) {
		return reject(se, state.CodeMalformed, "SE01 says %s segments, the transaction set has %d (ST to SE)", quoteShort(se.el(1)), len(t.segs))
	}
	if se.el(2) != ctl {
		return reject(se, state.CodeMalformed, "SE02 (transaction set control number) %s does not match ST02 %q", quoteShort(se.el(2)), ctl)
	}
	if prev, dup := seen[ctl]; dup {
		return reject(st, state.CodeInvalidField, "ST02 (transaction set control number) %q repeats that of transaction %d in the same group", ctl, prev)
	}
	seen[ctl] = t.n

	var (
		loops []*x4Loop
		p4    *p4Loop
		cur   *x4Loop
	)
	for _, s := range t.segs[1 : len(t.segs)-1] {
		switch s.id {
		case "P4":
			p4, cur = &p4Loop{}, nil
		case "BA1":
			p4, cur = nil, nil
		case "X4":
			cur = &x4Loop{x4: s, n: len(loops) + 1, p4: p4}
			if s.el(11) != "" || s.el(12) != "" {
				cur.equip = append(cur.equip, equipment{seg: s, what: "X411/X412", initial: s.el(11), number: s.el(12)})
			}
			loops = append(loops, cur)
		case "N7":
			if cur == nil {
				return reject(s, state.CodeMalformed, "N7 (equipment details) is outside an X4 (customs release information) loop, so it is not known which disposition it belongs to")
			}
			// N718 (data element 761, equipment number check digit)
			// carries the check digit when N702 does not.
			cur.equip = append(cur.equip, equipment{seg: s, what: "N701/N702", initial: s.el(1), number: s.el(2), check: strings.TrimSpace(s.el(18))})
		case "VID":
			if p4 == nil {
				return reject(s, state.CodeMalformed, "VID (conveyance identification) is outside a P4 (port information) loop")
			}
			p4.vids = append(p4.vids, equipment{seg: s, what: "VID02/VID03", initial: s.el(2), number: s.el(3)})
			cur = nil
		case "N9":
			if cur != nil {
				cur.refs = append(cur.refs, s)
			}
		case "K1":
			if cur != nil && cur.remark == "" {
				cur.remark = strings.TrimSpace(s.el(1))
			}
		case "M10", "V9", "VEH", "NM1", "M7", "M7A":
			// Heading and port-level segments: they end an X4 loop.
			cur = nil
		}
	}
	if len(loops) == 0 {
		return reject(st, state.CodeInvalidField, "the transaction set has no X4 (customs release information) segment, so it names no disposition (conveyance-level V9 notices are not applied)")
	}
	out := make([]adapters.Record, 0, len(loops))
	for _, l := range loops {
		ev, bad, err := d.disposition(ic, g, ctl, l)
		switch {
		case err != nil:
			out = append(out, adapters.Record{Err: err, Position: at(bad)})
		case ev != nil:
			out = append(out, adapters.Record{Agency: ev, Position: at(l.x4)})
		}
		// Neither: an advisory, which changes nothing (see the package
		// documentation).
	}
	return out
}

// disposition maps one X4 loop to an agency event; an advisory (info)
// gives none. On error, bad is the segment at fault.
func (d *decoder) disposition(ic *interchange, g *group, ctl string, l *x4Loop) (ev *state.AgencyEvent, bad *segment, err error) {
	x4 := l.x4
	code := strings.TrimSpace(x4.el(7))
	if code == "" {
		return nil, x4, state.Reject(state.CodeInvalidField, "X407 (disposition code) is empty")
	}
	dp, ok := d.codes[code]
	if !ok {
		return nil, x4, state.Reject(state.CodeInvalidField, "X407 disposition code %s is not in this source's disposition table (status_codes): it neither releases, holds, removes a hold, revokes nor is a known advisory", quoteShort(code))
	}
	if dp.status == info {
		return nil, nil, nil
	}
	at, err := d.when(x4)
	if err != nil {
		return nil, x4, err
	}
	if err := state.CheckOffset("at", at); err != nil {
		// X12 times carry no offset, but the zone's tzdata gives one and
		// time.LoadLocation reads whatever TZif file ZONEINFO names.
		_, detail, _ := strings.Cut(err.(*state.Rejection).Reason, ": ")
		return nil, x4, state.Reject(state.CodeInvalidField, "X405/X406 (date and time) %q %q in zone %s: %s", x4.el(5), x4.el(6), at.Location(), detail)
	}

	equip := l.equip
	if len(equip) == 0 && l.p4 != nil {
		equip = l.p4.vids
	}
	containers := make([]string, 0, len(equip))
	for _, e := range equip {
		id, err := e.container()
		if err != nil {
			return nil, e.seg, err
		}
		if !slices.Contains(containers, id) {
			containers = append(containers, id)
		}
	}
	if len(containers) > MaxContainers {
		return nil, x4, state.Reject(state.CodeInvalidField, "the X4 with disposition %s names %d containers, more than %d", code, len(containers), MaxContainers)
	}

	bl, blAt, blSeg := strings.TrimSpace(x4.el(1)), "X401 (bill of lading)", x4
	if bl == "" {
		bl, blAt = strings.TrimSpace(x4.el(8)), "X408 (house bill of lading)"
	}
	for _, n9 := range l.refs {
		if q := n9.el(1); bl == "" && (q == "BM" || q == "MB") {
			bl, blAt, blSeg = strings.TrimSpace(n9.el(2)), "N902 (reference)", n9
		}
	}
	// References become store keys: state.MaxRefLen bounds them.
	if err := state.CheckRef("bl", bl); err != nil {
		return nil, blSeg, state.Reject(state.CodeInvalidField, "%s: %s", blAt, err.(*state.Rejection).Reason)
	}
	// CBP decides per bill: an X4 with a B/L and no container (no
	// X411/X412, no N7, no VID) is a decision on the whole B/L, which the
	// engine applies to every container linked to it, now and later.
	if len(containers) == 0 && bl == "" {
		return nil, x4, state.Reject(state.CodeInvalidField, "the X4 with disposition %s names neither a container (no X411/X412, no N7 in its loop, no VID in its P4 loop) nor a bill of lading (X401, X408, N9 BM or MB)", code)
	}
	decl := strings.TrimSpace(x4.el(4))
	if err := state.CheckRef("declaration", decl); err != nil {
		return nil, x4, state.Reject(state.CodeInvalidField, "X404 (entry number): %s", err.(*state.Rejection).Reason)
	}
	// X420 (data element 1073, yes/no): Y marks a hold CBP re-sends
	// because the bill's port of discharge or vessel changed (CSMS
	// 12-000148, "04/21 change to ANSI X.12 350 message").
	resent := strings.TrimSpace(x4.el(20)) == "Y"
	id := fmt.Sprintf("%s:%s:%s:%s:%d", ic.sender, ic.control, g.control, ctl, l.n)
	if dp.status == state.Held {
		if hid, ok := holdID(ic.sender, code, bl, containers, x4); ok {
			id = hid
		}
	}
	return &state.AgencyEvent{
		ID:          id,
		Agency:      d.agency,
		Status:      dp.status,
		Hold:        dp.hold,
		Containers:  containers,
		BL:          bl,
		Declaration: decl,
		Reason:      reason(code, dp, resent, l.remark),
		At:          at,
	}, nil, nil
}

// holdID is the id of a hold placement: the sender, the code, the bill,
// the containers and the posting date and time (X405, X406) of the hold,
// so that the same hold sent again in another interchange (CBP re-sends
// holds still in force, X420 = Y) has the id it had the first time and
// the engine counts it a duplicate. A hold placed again later has another
// time and so another id. Without X406 two placements on one day cannot
// be told apart, so the hold keeps the id of its place in the interchange
// (ok false): applied again, a hold already open changes nothing.
func holdID(sender, code, bl string, containers []string, x4 *segment) (string, bool) {
	date, clock := strings.TrimSpace(x4.el(5)), strings.TrimSpace(x4.el(6))
	if clock == "" {
		return "", false
	}
	units := "bl"
	switch {
	case len(containers) == 1:
		units = containers[0]
	case len(containers) > 1:
		sorted := slices.Sorted(slices.Values(containers))
		sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
		units = fmt.Sprintf("%d-%x", len(containers), sum[:6])
	}
	return fmt.Sprintf("%s:hold:%s:%s:%s:%s%s", sender, code, bl, units, date, clock), true
}

// container reads the ISO 6346 number of one equipment reference. A check
// digit in N718 completes a six-digit N702, or must agree with the
// seventh digit of N702.
func (e equipment) container() (string, error) {
	number, what := e.number, e.what
	if e.check != "" {
		digits := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(number))
		switch {
		case len(e.check) != 1 || e.check[0] < '0' || e.check[0] > '9':
			return "", state.Reject(state.CodeInvalidField, "N718 (equipment number check digit): want one digit, got %s", quoteShort(e.check))
		case len(digits) == 6:
			number, what = digits+e.check, "N701/N702/N718"
		case len(digits) == 7 && digits[6] != e.check[0]:
			return "", state.Reject(state.CodeInvalidField, "N718 (equipment number check digit) %q differs from the last digit of N702 %s", e.check, quoteShort(e.number))
		}
	}
	id, err := state.ParseContainer(e.initial + number)
	if err != nil {
		rej := err.(*state.Rejection)
		shown := quoteShort(e.number)
		if what == "N701/N702/N718" {
			shown += "/" + quoteShort(e.check)
		}
		return "", state.Reject(rej.Code, "%s %s/%s: %s", what, quoteShort(e.initial), shown, rej.Reason)
	}
	return id, nil
}

// reason is the event's reason: the code, its name, a re-send mark and the
// first remark.
func reason(code string, dp disposition, resent bool, remark string) string {
	r := "disposition " + code
	if def, ok := defaultCodes[code]; ok && def.status == dp.status && def.hold == dp.hold {
		r += " (" + def.name + ")"
	} else {
		r += " (" + string(dp.status)
		if dp.hold != "" {
			r += ":" + dp.hold
		}
		r += " by status_codes)"
	}
	if resent {
		r += " [re-sent by CBP, X420=Y]"
	}
	if remark != "" {
		const max = 80
		if len(remark) > max {
			remark = strings.ToValidUTF8(remark[:max], "") + "..."
		}
		r += ": " + remark
	}
	return r
}

// when reads the date and time of a disposition: X405, X406 and the zone of
// X417.
func (d *decoder) when(x4 *segment) (time.Time, error) {
	date, clock, tc := strings.TrimSpace(x4.el(5)), strings.TrimSpace(x4.el(6)), strings.TrimSpace(x4.el(17))
	var y, mo, day int
	switch {
	case len(date) == 8 && allDigits(date):
		y, mo, day = atoi(date[:4]), atoi(date[4:6]), atoi(date[6:])
	case len(date) == 6 && allDigits(date):
		y, mo, day = 2000+atoi(date[:2]), atoi(date[2:4]), atoi(date[4:])
	default:
		return time.Time{}, state.Reject(state.CodeInvalidField, "X405 (date): want CCYYMMDD, got %s", quoteShort(date))
	}
	if mo < 1 || mo > 12 || day < 1 || day > daysIn(y, mo) {
		return time.Time{}, state.Reject(state.CodeInvalidField, "X405 (date) %q is not a calendar date", date)
	}
	if y < 1970 {
		return time.Time{}, state.Reject(state.CodeInvalidField, "X405 (date) %q is before 1970", date)
	}
	var h, m, s, ns int
	if clock != "" {
		if !allDigits(clock) || (len(clock) != 4 && len(clock) != 6 && len(clock) != 7 && len(clock) != 8) {
			return time.Time{}, state.Reject(state.CodeInvalidField, "X406 (time): want HHMM, HHMMSS, HHMMSSD or HHMMSSDD, got %s", quoteShort(clock))
		}
		h, m = atoi(clock[:2]), atoi(clock[2:4])
		if len(clock) >= 6 {
			s = atoi(clock[4:6])
		}
		if len(clock) > 6 {
			frac := clock[6:]
			ns = atoi(frac) * 100_000_000
			if len(frac) == 2 {
				ns /= 10
			}
		}
		if h > 23 || m > 59 || s > 59 {
			return time.Time{}, state.Reject(state.CodeInvalidField, "X406 (time) %q is not a time of day", clock)
		}
	}
	loc := d.zone
	if tc != "" && tc != "LT" {
		z, ok := timeCodes[tc]
		if !ok {
			return time.Time{}, state.Reject(state.CodeInvalidField, "X417 (time code) %s is not an X12 time code portsync knows (UT, GM, LT, ET, ES, ED, CT, CS, CD, MT, MS, MD, PT, PS, PD, AT, AS, AD, HT, HS, HD, TT, TS, TD, NT, NS, ND)", quoteShort(tc))
		}
		loc = z
	}
	return time.Date(y, time.Month(mo), day, h, m, s, ns, loc), nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
