package x12

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// isaLen is the length of the fixed-width ISA segment with its terminator:
// "ISA", 16 elements of fixed width, 16 element separators, the terminator.
const isaLen = 106

// isaWidths are the fixed widths of ISA01 to ISA16.
var isaWidths = [16]int{2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1}

// delimiters are the separators of one interchange, read from its ISA.
type delimiters struct {
	element    byte
	component  byte // ISA16
	repetition byte // ISA11 from version 00402 on; 0 while ISA11 is a standards identifier ("U")
	segment    byte // the byte after ISA16
}

// segment is one segment of a message. elems[0] is the segment ID and
// elems[n] element n, so that s.el(7) is X407 of an X4.
type segment struct {
	id    string
	elems []string
	pos   int // 1-based position in the message, counting every interchange
}

// el returns element n, or "" where the segment is shorter.
func (s *segment) el(n int) string {
	if n < len(s.elems) {
		return s.elems[n]
	}
	return ""
}

// interchange is one ISA ... IEA envelope being read. Its transaction
// sets are mapped as each one ends (SE), and their records kept until the
// IEA shows the envelope sound: only then are they handed on, so a
// damaged interchange frees nothing, while the segments of a transaction
// set are dropped once it is mapped and memory stays flat however long
// the message.
type interchange struct {
	isa     *segment // elems[1:] are ISA01 to ISA16 as sent, space padding included
	sender  string   // ISA06, trimmed
	control string   // ISA13
	usage   byte     // ISA15: P or T
	delims  delimiters
	groups  []*group
	iea     *segment
	recs    []adapters.Record // the records of its transaction sets, in order
}

// group is one GS ... GE functional group.
type group struct {
	gs      *segment
	control string // GS06
	txs     int    // transaction sets read
	ge      *segment
	seen    map[string]int // ST02 -> transaction ordinal
}

// transaction is one ST ... SE transaction set, ST and SE included. Its
// control structure (SE count, control numbers) is the mapper's to check,
// since an error there rejects only the transaction.
type transaction struct {
	n    int // ordinal of its ST in the message
	segs []*segment
}

// parsed is one interchange of a message, or why it was refused whole.
type parsed struct {
	ic  *interchange
	err error // a *state.Rejection
	pos int   // segment position of err; 0 for the message as a whole
}

// maxSegment bounds one segment. X12 segments are short (the longest
// element the 350 carries is 80 bytes); a longer one is not X12, and
// refusing it keeps a file without terminators from being held whole.
const maxSegment = 1 << 20

// parser walks a message segment by segment from a reader, so a message of
// any size is read with one segment (and one transaction set) in memory.
type parser struct {
	r    *bufio.Reader
	buf  []byte
	seg  int   // segments read so far
	txn  int   // ST segments read so far
	err  error // the first read error other than EOF; it ends the message
	onTx func(ic *interchange, g *group, t *transaction) []adapters.Record
}

var bom = []byte("\xef\xbb\xbf")

// readMessage splits a message into interchanges and hands each to emit
// once it is read. A message holds one interchange or several in a row
// (as files from a VAN often do). An error in an interchange's envelope
// refuses that interchange; reading goes on after its IEA. An unreadable
// ISA header ends the message, since without it the separators, and so
// the segments, are unknown. onTx maps each transaction set of an
// interchange as it ends.
func readMessage(r io.Reader, onTx func(*interchange, *group, *transaction) []adapters.Record, emit func(parsed)) {
	p := &parser{r: bufio.NewReaderSize(r, 64<<10), onTx: onTx}
	if b, _ := p.r.Peek(len(bom)); bytes.Equal(b, bom) {
		p.r.Discard(len(bom))
	}
	n := 0
	for {
		p.skipSpace()
		if _, err := p.r.Peek(1); err != nil {
			p.readErr(err)
			break
		}
		item, fatal := p.interchange()
		emit(item)
		n++
		if fatal || p.err != nil {
			break
		}
	}
	if p.err != nil {
		emit(parsed{err: state.Reject(state.CodeMalformed, "the message could not be read to its end (after segment %d): %v", p.seg, p.err)})
		return
	}
	if n == 0 {
		emit(parsed{err: state.Reject(state.CodeMalformed, "payload is empty: want an X12 interchange starting with ISA")})
	}
}

func (p *parser) readErr(err error) {
	if err != nil && err != io.EOF && p.err == nil {
		p.err = err
	}
}

func (p *parser) skipSpace() {
	for {
		b, err := p.r.Peek(1)
		if err != nil {
			return
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			p.r.Discard(1)
		default:
			return
		}
	}
}

func malformed(pos int, format string, args ...any) parsed {
	return parsed{pos: pos, err: state.Reject(state.CodeMalformed, format, args...)}
}

// interchange reads one interchange. fatal means the rest of the message
// cannot be read.
func (p *parser) interchange() (item parsed, fatal bool) {
	pos := p.seg + 1
	d, isa, problem, ok := p.header()
	if !ok {
		return problem, true
	}
	p.r.Discard(isaLen)
	p.seg++
	ic := &interchange{
		isa:     &segment{id: "ISA", elems: isa, pos: pos},
		sender:  strings.TrimSpace(isa[6]),
		control: isa[13],
		usage:   isa[15][0],
		delims:  d,
	}
	failed := problem.err != nil
	fail := func(pr parsed) {
		if !failed {
			problem, failed = pr, true
			ic.recs = nil
		}
	}
	var (
		g  *group
		tx *transaction
	)
	for {
		s, bad, isaNext, done := p.next(d)
		if done {
			if !failed {
				return malformed(pos, "the interchange has no IEA: the message ends first"), false
			}
			return problem, false
		}
		if isaNext {
			// A new interchange begins before this one ended: refuse this
			// one and read the next from its ISA.
			fail(malformed(p.seg+1, "ISA starts an interchange before the one started at segment %d ends with IEA", pos))
			return problem, false
		}
		if s.id == "ST" {
			p.txn++
		}
		if bad != "" {
			fail(malformed(s.pos, "%s", bad))
			continue
		}
		if failed {
			if s.id == "IEA" {
				p.skipTerminators(d)
				return problem, false
			}
			continue
		}
		switch {
		case tx != nil:
			switch s.id {
			case "SE":
				tx.segs = append(tx.segs, s)
				g.txs++
				ic.recs = append(ic.recs, p.onTx(ic, g, tx)...)
				tx = nil
			case "ST", "GS", "GE", "IEA":
				fail(malformed(s.pos, "%s: the transaction set started by ST at segment %d has no SE", s.id, tx.segs[0].pos))
			default:
				tx.segs = append(tx.segs, s)
			}
		case s.id == "GS":
			if g != nil {
				fail(malformed(s.pos, "GS: the functional group started by GS at segment %d has no GE", g.gs.pos))
				continue
			}
			if pr, ok := checkGS(s, ic); !ok {
				fail(pr)
				continue
			}
			g = &group{gs: s, control: s.el(6), seen: map[string]int{}}
		case s.id == "ST":
			if g == nil {
				fail(malformed(s.pos, "ST is outside a functional group (GS ... GE)"))
				continue
			}
			tx = &transaction{n: p.txn, segs: []*segment{s}}
		case s.id == "GE":
			if g == nil {
				fail(malformed(s.pos, "GE has no GS"))
				continue
			}
			g.ge = s
			if pr, ok := checkGE(g); !ok {
				fail(pr)
				continue
			}
			ic.groups = append(ic.groups, g)
			g = nil
		case s.id == "IEA":
			if g != nil {
				fail(malformed(s.pos, "IEA: the functional group started by GS at segment %d has no GE", g.gs.pos))
				break
			}
			ic.iea = s
			p.skipTerminators(d)
			if pr, ok := checkIEA(ic); !ok {
				return pr, false
			}
			return parsed{ic: ic}, false
		default:
			fail(malformed(s.pos, "%s is outside a transaction set (ST ... SE)", s.id))
		}
		if failed && s.id == "IEA" {
			// The IEA that ends this interchange refused it (an SE or GE
			// was missing): nothing of it is left to skip.
			p.skipTerminators(d)
			return problem, false
		}
	}
}

// skipTerminators skips what may follow an IEA before the next ISA: line
// breaks and stray segment terminators (empty segments).
func (p *parser) skipTerminators(d delimiters) {
	for {
		b, err := p.r.Peek(1)
		if err != nil || (b[0] != d.segment && b[0] != '\r' && b[0] != '\n') {
			return
		}
		p.r.Discard(1)
	}
}

// header reads the fixed-width ISA that comes next. ok false means the separators
// could not be read; otherwise problem, if set, refuses the interchange but
// its segments can still be skipped to its IEA.
func (p *parser) header() (d delimiters, isa []string, problem parsed, ok bool) {
	pos := p.seg + 1
	rest, _ := p.r.Peek(isaLen)
	if !bytes.HasPrefix(rest, []byte("ISA")) {
		return d, nil, malformed(pos, "want an interchange header ISA, got %s", quoteBytes(rest, 20)), false
	}
	if len(rest) < isaLen {
		return d, nil, malformed(pos, "ISA is %d bytes long, want the fixed 106 (ISA, 16 fixed-width elements, segment terminator)", len(rest)), false
	}
	d.element = rest[3]
	d.segment = rest[isaLen-1]
	if !delimiterByte(d.element) || d.element == '\r' || d.element == '\n' {
		return d, nil, malformed(pos, "ISA: element separator %q (the 4th character) is a letter, digit, space or line break", d.element), false
	}
	parts := strings.Split(string(rest[:isaLen-1]), string(d.element))
	if len(parts) != 17 {
		return d, nil, malformed(pos, "ISA: want 16 fixed-width elements separated by %q in the first 105 characters, got %d", d.element, len(parts)-1), false
	}
	for i, w := range isaWidths {
		if got := len(parts[i+1]); got != w {
			return d, nil, malformed(pos, "ISA%02d: want %d characters (the ISA is fixed width), got %d: %q", i+1, w, got, parts[i+1]), false
		}
	}
	d.component = parts[16][0]
	if c := parts[11][0]; !isAlnum(c) {
		d.repetition = c
	}
	if !delimiterByte(d.segment) {
		return d, nil, malformed(pos, "ISA: segment terminator %q (after ISA16) is a letter, digit or space", d.segment), false
	}
	seps := []struct {
		name string
		c    byte
	}{{"element separator", d.element}, {"component separator ISA16", d.component}, {"segment terminator", d.segment}}
	if d.repetition != 0 {
		seps = append(seps, struct {
			name string
			c    byte
		}{"repetition separator ISA11", d.repetition})
	}
	for i, a := range seps[1:] {
		if a.name != "segment terminator" && (!delimiterByte(a.c) || a.c == '\r' || a.c == '\n') {
			return d, nil, malformed(pos, "ISA: %s %q is a letter, digit, space or line break", a.name, a.c), false
		}
		for _, b := range seps[:i+1] {
			if a.c == b.c {
				return d, nil, malformed(pos, "ISA: %s and %s are both %q", b.name, a.name, a.c), false
			}
		}
	}
	isa = append([]string{"ISA"}, parts[1:]...)
	switch {
	case !utf8.Valid(rest[:isaLen]):
		problem = malformed(pos, "ISA is not valid UTF-8 text")
	case !allDigits(isa[13]):
		problem = malformed(pos, "ISA13 (interchange control number): want 9 digits, got %q", isa[13])
	case isa[15] != "P" && isa[15] != "T":
		problem = malformed(pos, "ISA15 (usage indicator): want P (production) or T (test), got %q", isa[15])
	}
	return d, isa, problem, true
}

// next reads the next segment. bad, if set, says why it is not a segment
// (the ID is not one, it is not UTF-8 text, it is longer than maxSegment,
// or the message ends before its terminator). isa says an ISA comes next,
// which is left unread for the next interchange. Line breaks between
// segments, common after each terminator, are skipped, and so are empty
// segments: neither is counted.
func (p *parser) next(d delimiters) (s *segment, bad string, isa, done bool) {
	for {
		for {
			b, err := p.r.Peek(1)
			if err != nil {
				p.readErr(err)
				return nil, "", false, true
			}
			if (b[0] != '\r' && b[0] != '\n') || b[0] == d.segment {
				break
			}
			p.r.Discard(1)
		}
		if b, _ := p.r.Peek(3); string(b) == "ISA" {
			return nil, "", true, false
		}
		raw, terminated, tooLong := p.readSegment(d.segment)
		raw = bytes.Trim(raw, "\r\n")
		if len(raw) == 0 && !tooLong {
			if !terminated {
				return nil, "", false, true
			}
			continue
		}
		p.seg++
		if tooLong {
			id, _, _ := bytes.Cut(raw, []byte{d.element})
			return &segment{id: string(id[:min(len(id), 3)]), pos: p.seg}, fmt.Sprintf("segment is longer than %d bytes: not an X12 segment", maxSegment), false, false
		}
		if !utf8.Valid(raw) {
			return &segment{pos: p.seg}, "segment is not valid UTF-8 text", false, false
		}
		elems := strings.Split(string(raw), string(d.element))
		s = &segment{id: elems[0], elems: elems, pos: p.seg}
		switch {
		case !segmentID(s.id):
			return s, fmt.Sprintf("segment ID %s is not 2 or 3 upper-case letters and digits", quoteShort(s.id)), false, false
		case !terminated && s.id != "IEA":
			// Only the last segment of a message may lack its terminator,
			// and only an IEA is let off.
			return s, fmt.Sprintf("%s is not ended by the segment terminator %q", s.id, d.segment), false, false
		}
		return s, "", false, false
	}
}

// readSegment reads up to the next terminator and returns what is before
// it (in p.buf, valid until the next call). Beyond maxSegment bytes the
// rest is read and dropped, and tooLong says so.
func (p *parser) readSegment(term byte) (raw []byte, terminated, tooLong bool) {
	p.buf = p.buf[:0]
	for {
		chunk, err := p.r.ReadSlice(term)
		if len(p.buf)+len(chunk) <= maxSegment+1 {
			p.buf = append(p.buf, chunk...)
		} else {
			tooLong = true
		}
		switch err {
		case nil:
			if !tooLong {
				return p.buf[:len(p.buf)-1], true, false
			}
			return p.buf, true, true
		case bufio.ErrBufferFull:
			continue
		default:
			p.readErr(err)
			return p.buf, false, tooLong
		}
	}
}

func checkGS(s *segment, ic *interchange) (parsed, bool) {
	if strings.TrimSpace(s.el(1)) == "" {
		return malformed(s.pos, "GS01 (functional identifier code) is empty"), false
	}
	ctl := s.el(6)
	if ctl == "" || len(ctl) > 9 || !allDigits(ctl) {
		return malformed(s.pos, "GS06 (group control number): want 1 to 9 digits, got %s", quoteShort(ctl)), false
	}
	for _, g := range ic.groups {
		if sameNumber(g.control, ctl) {
			return malformed(s.pos, "GS06 (group control number) %s repeats that of the group started by GS at segment %d", ctl, g.gs.pos), false
		}
	}
	return parsed{}, true
}

func checkGE(g *group) (parsed, bool) {
	ge := g.ge
	if g.txs == 0 {
		return malformed(ge.pos, "the functional group started by GS at segment %d has no transaction set", g.gs.pos), false
	}
	if n, ok := count(ge.el(1)); !ok || n != g.txs {
		return malformed(ge.pos, "GE01 says %s transaction sets, the group started by GS at segment %d has %d", quoteShort(ge.el(1)), g.gs.pos, g.txs), false
	}
	if !sameNumber(ge.el(2), g.control) {
		return malformed(ge.pos, "GE02 (group control number) %s does not match GS06 %q at segment %d", quoteShort(ge.el(2)), g.control, g.gs.pos), false
	}
	return parsed{}, true
}

func checkIEA(ic *interchange) (parsed, bool) {
	iea := ic.iea
	if len(ic.groups) == 0 {
		return malformed(iea.pos, "the interchange started by ISA at segment %d has no functional group", ic.isa.pos), false
	}
	if n, ok := count(iea.el(1)); !ok || n != len(ic.groups) {
		return malformed(iea.pos, "IEA01 says %s functional groups, the interchange started by ISA at segment %d has %d", quoteShort(iea.el(1)), ic.isa.pos, len(ic.groups)), false
	}
	if iea.el(2) != ic.control {
		return malformed(iea.pos, "IEA02 (interchange control number) %s does not match ISA13 %q at segment %d", quoteShort(iea.el(2)), ic.control, ic.isa.pos), false
	}
	return parsed{}, true
}

// count parses a count element: 1 to 9 digits.
func count(s string) (int, bool) {
	if s == "" || len(s) > 9 || !allDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// sameNumber compares two numeric control numbers, ignoring leading zeros
// (X12 type N0).
func sameNumber(a, b string) bool {
	x, okA := count(a)
	y, okB := count(b)
	return okA && okB && x == y
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// delimiterByte reports whether c may separate X12 data: an ASCII byte that
// is not a letter, digit or space.
func delimiterByte(c byte) bool {
	return c < 0x80 && c != ' ' && !isAlnum(c)
}

func segmentID(id string) bool {
	if len(id) < 2 || len(id) > 3 || id[0] < 'A' || id[0] > 'Z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

func quoteBytes(b []byte, max int) string {
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
