package edifact

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Delimiters are the service characters of an interchange (ISO 9735 §7):
// the ones a UNA service string advice sets, or the defaults of the syntax
// level.
type Delimiters struct {
	Component byte // component data element separator, default ':'
	Element   byte // data element separator, default '+'
	Decimal   byte // decimal mark, '.' or ','
	Release   byte // release character, default '?'; 0 when none is used
	// Repetition is the repetition separator of syntax version 4 (UNA
	// position 5); 0 when the position is the reserved space. Repeated data
	// elements are not split: the CUSRES data portsync reads never repeat.
	Repetition byte
	Segment    byte // segment terminator, default '\''
}

// DefaultDelimiters are the service characters of syntax levels A and C
// and the later character sets, used when an interchange has no UNA.
var DefaultDelimiters = Delimiters{Component: ':', Element: '+', Decimal: '.', Release: '?', Segment: '\''}

// levelBDelimiters are the defaults of syntax level B (UNOB) without a UNA:
// the information separators IS1, IS3 and IS4 and no release character.
var levelBDelimiters = Delimiters{Component: 0x1F, Element: 0x1D, Decimal: '.', Segment: 0x1C}

// Segment is one segment of an interchange with the release characters
// taken out.
type Segment struct {
	Tag string
	// Elements are the segment's data elements after the tag; each is its
	// list of components (a simple data element has one).
	Elements [][]string
	// Index is the segment's position in the interchange, counted from 1
	// at UNB (a UNA is not a segment). Line is the line of its first
	// character, counted from 1.
	Index int
	Line  int
}

// Value returns component c of data element e (both counted from 0), or ""
// when the segment does not have it.
func (s *Segment) Value(e, c int) string {
	if e < 0 || e >= len(s.Elements) || c < 0 || c >= len(s.Elements[e]) {
		return ""
	}
	return s.Elements[e][c]
}

// Position locates the segment for a reason: "segment 12 (EQD, line 12)".
func (s *Segment) Position() string {
	return fmt.Sprintf("segment %d (%s, line %d)", s.Index, s.Tag, s.Line)
}

// Message is one message of an interchange, UNH to UNT.
type Message struct {
	// Number is the message's position in the interchange, from 1.
	Number int
	// Ref is the message reference number (UNH 0062). Type, Version,
	// Release and Agency are the message identifier (UNH S009: 0065,
	// 0052, 0054, 0051), e.g. CUSRES D 96B UN.
	Ref, Type, Version, Release, Agency string
	// Group is the functional group reference (UNG 0048), "" outside groups.
	Group string
	// Segments are the message's segments, UNH and UNT included.
	Segments []Segment
}

// Interchange is a parsed UN/EDIFACT interchange (UNA, UNB ... UNZ) whose
// envelope has been checked: separators, balanced service segments,
// matching references and every count.
type Interchange struct {
	Delimiters Delimiters
	// HasUNA says the interchange began with a service string advice.
	HasUNA bool
	// Syntax is the syntax identifier (UNB S001 0001, e.g. UNOA, UNOC,
	// UNOY) and SyntaxVersion its version number (0002).
	Syntax, SyntaxVersion string
	// Sender and Recipient are the interchange sender and recipient
	// identifications (UNB S002 0004, S003 0010).
	Sender, Recipient string
	// Date and Time are the date and time of preparation as sent (UNB S004
	// 0017, YYMMDD or, in syntax version 4, CCYYMMDD; 0019, HHMM).
	Date, Time string
	// ControlRef is the interchange control reference (UNB 0020).
	ControlRef string
	// Groups says the messages are in functional groups (UNG ... UNE).
	Groups   bool
	Messages []Message
	// Segments is the number of segments, UNB to UNZ.
	Segments int
}

// SyntaxError is a fault in an interchange's syntax or envelope. Position
// locates it ("segment 14 (UNT, line 14)", "UNA (line 1)").
type SyntaxError struct {
	Position string
	Reason   string
}

func (e *SyntaxError) Error() string { return e.Position + ": " + e.Reason }

func errAt(s *Segment, format string, args ...any) *SyntaxError {
	return &SyntaxError{Position: s.Position(), Reason: fmt.Sprintf(format, args...)}
}

// Limits that keep a hostile payload from costing more than its size.
const (
	maxElements   = 256
	maxComponents = 64
)

// Field lengths of the envelope (ISO 9735 service directory).
const (
	maxPartyID = 35 // 0004, 0010
	maxRef     = 14 // 0020, 0048, 0062
)

// Parse reads a payload of one interchange: an optional UNA, then UNB, messages (UNH ...
// UNT), optionally in functional groups (UNG ... UNE), and UNZ, with
// nothing but white space after it. It checks the envelope: the UNA, that
// every service segment is where it belongs, that UNT, UNE and UNZ repeat
// the reference of their header, and the counts of UNT (segments), UNE and
// UNZ (messages or groups). It does not look inside messages.
//
// Line breaks (CR, LF) are ignored wherever they are not a separator and
// not released, as most translators do; spaces and tabs are ignored only
// between segments. Values are returned as UTF-8: an interchange in UNOW
// or UNOY must be valid UTF-8, and bytes above 0x7F in any other character
// set are read as ISO 8859-1 (exact for UNOC, the Latin-1 level).
//
// The error is a *SyntaxError.
func Parse(data []byte) (*Interchange, error) {
	start, line := skipBlank(data, 0, 1)
	data = data[start:]
	if len(data) == 0 {
		return nil, &SyntaxError{Position: "interchange", Reason: "payload is empty: want an interchange starting with UNA or UNB"}
	}
	ic, _, _, err := parseOne(data, line, false)
	return ic, err
}

// Parsed is one interchange of a payload, or the fault that refused it.
type Parsed struct {
	Interchange *Interchange
	Err         error // a *SyntaxError
}

// ParseAll reads every interchange of a payload: files often hold several
// in a row (UNA/UNB ... UNZ, UNA/UNB ... UNZ), each with its own service
// characters. Each is parsed as Parse parses one; an interchange whose
// envelope is faulty is refused alone and reading goes on after its UNZ.
// A fault that leaves the end of an interchange unknown (a segment that
// cannot be read, a payload cut short, a second UNB before the UNZ) ends
// the reading: what follows it cannot be told apart. Segment indexes count
// from 1 at each interchange's UNB; lines count through the payload.
func ParseAll(data []byte) []Parsed {
	var out []Parsed
	off, line := skipBlank(data, 0, 1)
	if off == len(data) {
		return []Parsed{{Err: &SyntaxError{Position: "interchange", Reason: "payload is empty: want an interchange starting with UNA or UNB"}}}
	}
	for off < len(data) {
		ic, n, endLine, err := parseOne(data[off:], line, true)
		out = append(out, Parsed{Interchange: ic, Err: err})
		if n == 0 {
			break
		}
		off, line = skipBlank(data, off+n, endLine)
	}
	return out
}

// parseOne parses the interchange at the start of data, which starts on
// line. With oneOfMany it ends at the first UNZ and returns how many bytes
// it read (0 when its end is unknown) and the line it ended on; without,
// it reads data to its end as one interchange.
func parseOne(data []byte, line int, oneOfMany bool) (*Interchange, int, int, error) {
	ic := &Interchange{}
	d, rest, err := delimiters(data, line)
	if err != nil {
		return nil, 0, line, err
	}
	if len(rest) < len(data) {
		ic.HasUNA = true
		// A line break may be one of the UNA's service characters.
		line += bytes.Count(data[:len(data)-len(rest)], []byte{'\n'})
	}
	ic.Delimiters = d
	segs, n, endLine, err := tokenize(rest, d, line, oneOfMany)
	if err != nil {
		return nil, 0, line, err
	}
	read := len(data) - len(rest) + n
	if err := decodeCharset(segs); err != nil {
		return nil, read, endLine, err
	}
	if err := ic.envelope(segs); err != nil {
		if se, ok := err.(*SyntaxError); ok && oneOfMany && len(segs) > 0 && segs[len(segs)-1].Tag != "UNZ" {
			// No UNZ where it ends: its end is unknown.
			return nil, 0, endLine, se
		}
		return nil, read, endLine, err
	}
	return ic, read, endLine, nil
}

// skipBlank skips a byte order mark and white space, counting lines.
func skipBlank(data []byte, i, line int) (int, int) {
	if bytes.HasPrefix(data[i:], []byte("\xEF\xBB\xBF")) {
		i += 3
	}
	for ; i < len(data); i++ {
		switch data[i] {
		case '\n':
			line++
		case ' ', '\t', '\r':
		default:
			return i, line
		}
	}
	return i, line
}

// delimiters reads the UNA, if any, and returns the delimiters and the
// data after it. Without a UNA, the data must start with UNB, and the
// character after the tag picks the default set: '+' for levels A, C and
// later, IS3 for level B.
func delimiters(data []byte, line int) (Delimiters, []byte, error) {
	pos := fmt.Sprintf("UNA (line %d)", line)
	if bytes.HasPrefix(data, []byte("UNA")) {
		if len(data) < 9 {
			return Delimiters{}, nil, &SyntaxError{Position: pos, Reason: fmt.Sprintf("service string advice %q is cut short: want UNA and 6 characters", data)}
		}
		a := data[3:9]
		if i := bytes.IndexByte(a, 0); i >= 0 {
			return Delimiters{}, nil, &SyntaxError{Position: pos, Reason: fmt.Sprintf("service string advice %q: position %d is a NUL byte", data[:9], i+1)}
		}
		d := Delimiters{Component: a[0], Element: a[1], Decimal: a[2], Release: a[3], Repetition: a[4], Segment: a[5]}
		if d.Release == ' ' {
			d.Release = 0
		}
		if d.Repetition == ' ' {
			d.Repetition = 0
		}
		if err := d.check(); err != nil {
			return Delimiters{}, nil, &SyntaxError{Position: pos, Reason: fmt.Sprintf("service string advice %q: %s", data[:9], err)}
		}
		return d, data[9:], nil
	}
	if len(data) >= 4 && string(data[:3]) == "UNB" {
		switch data[3] {
		case DefaultDelimiters.Element:
			return DefaultDelimiters, data, nil
		case levelBDelimiters.Element:
			return levelBDelimiters, data, nil
		}
	}
	return Delimiters{}, nil, &SyntaxError{Position: fmt.Sprintf("segment 1 (line %d)", line),
		Reason: fmt.Sprintf("interchange must start with UNA or UNB+, got %q", cut(string(data), 20))}
}

// check refuses service characters that would make the interchange
// ambiguous: two roles for one character, or a letter or digit (which
// would be read as data).
func (d Delimiters) check() error {
	if d.Decimal != '.' && d.Decimal != ',' {
		return fmt.Errorf("decimal mark (position 3) must be '.' or ',', got %q", d.Decimal)
	}
	roles := []struct {
		name string
		c    byte
	}{
		{"component data element separator (position 1)", d.Component},
		{"data element separator (position 2)", d.Element},
		{"release character (position 4)", d.Release},
		{"repetition separator (position 5)", d.Repetition},
		{"segment terminator (position 6)", d.Segment},
	}
	for i, r := range roles {
		if r.c == 0 {
			continue
		}
		if isAlnum(r.c) || r.c == ' ' {
			return fmt.Errorf("%s must not be a letter, digit or space, got %q", r.name, r.c)
		}
		for _, o := range roles[:i] {
			if o.c == r.c {
				return fmt.Errorf("%s and %s are both %q", o.name, r.name, r.c)
			}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// tokenize splits data into segments, data elements and components,
// taking out release characters and unreleased line breaks.
// With atUNZ it stops after the first UNZ segment; it returns how many
// bytes it read and the line it ended on.
func tokenize(data []byte, d Delimiters, line int, atUNZ bool) ([]Segment, int, int, error) {
	var (
		segs     []Segment
		elems    [][]string
		comps    []string
		val      []byte
		started  bool
		segLine  int
		released bool
	)
	pos := func() string {
		return fmt.Sprintf("segment %d (line %d)", len(segs)+1, segLine)
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			line++
		}
		if released {
			released = false
			val = append(val, c)
			continue
		}
		if !started {
			// Between segments: white space, and the terminators of empty
			// segments, carry nothing.
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == d.Segment {
				continue
			}
			started, segLine = true, line
		}
		if d.Release != 0 && c == d.Release {
			released = true
			continue
		}
		switch c {
		case d.Segment:
			comps = append(comps, string(val))
			elems = append(elems, comps)
			seg, err := newSegment(elems, len(segs)+1, segLine)
			if err != nil {
				return nil, 0, line, err
			}
			segs = append(segs, seg)
			elems, comps, val, started = nil, nil, val[:0], false
			if atUNZ && seg.Tag == "UNZ" {
				// What carries nothing between segments carries nothing
				// after the UNZ either: white space and the terminators
				// of empty segments.
				j := i + 1
				for ; j < len(data); j++ {
					c := data[j]
					if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != d.Segment {
						break
					}
					if c == '\n' {
						line++
					}
				}
				return segs, j, line, nil
			}
		case d.Element:
			comps = append(comps, string(val))
			elems = append(elems, comps)
			comps, val = nil, val[:0]
			if len(elems) > maxElements {
				return nil, 0, line, &SyntaxError{Position: pos(), Reason: fmt.Sprintf("more than %d data elements in one segment", maxElements-1)}
			}
		case d.Component:
			comps = append(comps, string(val))
			val = val[:0]
			if len(comps) >= maxComponents {
				return nil, 0, line, &SyntaxError{Position: pos(), Reason: fmt.Sprintf("more than %d components in one data element", maxComponents)}
			}
		case '\r', '\n':
			// A line break that is no separator is layout, not data.
		default:
			val = append(val, c)
		}
	}
	if released {
		return nil, 0, line, &SyntaxError{Position: pos(), Reason: fmt.Sprintf("payload ends with the release character %q, which must be followed by the character it releases", d.Release)}
	}
	if started {
		return nil, 0, line, &SyntaxError{Position: pos(), Reason: fmt.Sprintf("payload ends inside a segment that has no segment terminator %q (cut short?)", d.Segment)}
	}
	return segs, len(data), line, nil
}

func newSegment(elems [][]string, index, line int) (Segment, error) {
	tag := elems[0][0]
	if !validTag(tag) {
		return Segment{}, &SyntaxError{Position: fmt.Sprintf("segment %d (line %d)", index, line),
			Reason: fmt.Sprintf("segment tag must be 3 upper-case letters or digits, got %q", cut(tag, 20))}
	}
	return Segment{Tag: tag, Elements: elems[1:], Index: index, Line: line}, nil
}

func validTag(t string) bool {
	if len(t) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c := t[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// decodeCharset turns every value into UTF-8 according to the syntax
// identifier of the UNB (the first segment).
func decodeCharset(segs []Segment) error {
	if len(segs) == 0 {
		return nil
	}
	syntax := segs[0].Value(0, 0)
	utf := syntax == "UNOW" || syntax == "UNOY"
	for i := range segs {
		s := &segs[i]
		for _, e := range s.Elements {
			for j, v := range e {
				if isASCII(v) {
					continue
				}
				if utf {
					if !utf8.ValidString(v) {
						return errAt(s, "value %q is not valid UTF-8, which syntax identifier %s requires", cut(v, 40), syntax)
					}
					continue
				}
				e[j] = latin1(v)
			}
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// latin1 reads s as ISO 8859-1, whose code points are its byte values.
func latin1(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// cut shortens s for a reason.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// envelope checks the service segments and fills in the interchange.
func (ic *Interchange) envelope(segs []Segment) error {
	if len(segs) == 0 {
		return &SyntaxError{Position: "interchange", Reason: "no segments after the UNA: want UNB"}
	}
	unb := &segs[0]
	if unb.Tag != "UNB" {
		return errAt(unb, "first segment must be UNB (interchange header), got %s", unb.Tag)
	}
	if err := ic.header(unb); err != nil {
		return err
	}
	ic.Segments = len(segs)
	var (
		msg        *Message
		group      *Segment // the open UNG
		groupMsgs  int
		groups     int
		unz        *Segment
		sawMessage bool
	)
	for i := 1; i < len(segs); i++ {
		s := &segs[i]
		if unz != nil {
			return errAt(s, "segment after UNZ: the interchange ended at %s", unz.Position())
		}
		if msg != nil {
			msg.Segments = append(msg.Segments, *s)
			switch s.Tag {
			case "UNT":
				if err := checkTrailer(msg, s); err != nil {
					return err
				}
				ic.Messages = append(ic.Messages, *msg)
				msg = nil
			case "UNA", "UNB", "UNG", "UNE", "UNZ", "UNH":
				first := &msg.Segments[0]
				return errAt(s, "%s inside message %q, which began at %s and has no UNT", s.Tag, msg.Ref, first.Position())
			}
			continue
		}
		switch s.Tag {
		case "UNH":
			if group == nil && ic.Groups {
				return errAt(s, "UNH outside a functional group, in an interchange that uses groups (UNG)")
			}
			m, err := messageHeader(s)
			if err != nil {
				return err
			}
			m.Number = len(ic.Messages) + 1
			if group != nil {
				m.Group = group.Value(4, 0)
				groupMsgs++
			}
			msg, sawMessage = m, true
		case "UNG":
			if group != nil {
				return errAt(s, "UNG inside the functional group that began at %s, which has no UNE", group.Position())
			}
			if sawMessage && !ic.Groups {
				return errAt(s, "UNG after messages outside any group: an interchange has either groups or messages")
			}
			ref := s.Value(4, 0)
			if err := checkRef(s, "UNG 0048 (group reference number)", ref); err != nil {
				return err
			}
			ic.Groups, group, groupMsgs = true, s, 0
		case "UNE":
			if group == nil {
				return errAt(s, "UNE without a UNG")
			}
			if err := checkCount(s, "UNE 0060 (number of messages)", s.Value(0, 0), groupMsgs); err != nil {
				return err
			}
			if got, want := s.Value(1, 0), group.Value(4, 0); got != want {
				return errAt(s, "UNE 0048 (group reference number) is %q, the UNG at %s says %q", got, group.Position(), want)
			}
			group = nil
			groups++
		case "UNZ":
			if group != nil {
				return errAt(s, "UNZ while the functional group that began at %s has no UNE", group.Position())
			}
			what, n := "messages", len(ic.Messages)
			if ic.Groups {
				what, n = "functional groups", groups
			}
			if err := checkCount(s, "UNZ 0036 (interchange control count, "+what+")", s.Value(0, 0), n); err != nil {
				return err
			}
			if got := s.Value(1, 0); got != ic.ControlRef {
				return errAt(s, "UNZ 0020 (interchange control reference) is %q, the UNB says %q", got, ic.ControlRef)
			}
			unz = s
		case "UNA", "UNB":
			return errAt(s, "%s in the middle of the interchange that began at %s (one interchange per payload)", s.Tag, unb.Position())
		default:
			return errAt(s, "%s outside a message (want UNH, UNG, UNE or UNZ here)", s.Tag)
		}
	}
	last := &segs[len(segs)-1]
	switch {
	case msg != nil:
		first := &msg.Segments[0]
		return errAt(first, "message %q has no UNT: the payload ends at %s", msg.Ref, last.Position())
	case group != nil:
		return errAt(group, "functional group has no UNE: the payload ends at %s", last.Position())
	case unz == nil:
		return errAt(last, "interchange %q has no UNZ (interchange trailer): the payload ends here (cut short?)", ic.ControlRef)
	}
	return nil
}

// header checks and reads the UNB.
func (ic *Interchange) header(unb *Segment) error {
	ic.Syntax, ic.SyntaxVersion = unb.Value(0, 0), unb.Value(0, 1)
	if len(ic.Syntax) != 4 || strings.IndexFunc(ic.Syntax, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return errAt(unb, "UNB S001 0001 (syntax identifier) must be 4 letters such as UNOA or UNOC, got %q", cut(ic.Syntax, 20))
	}
	if v := ic.SyntaxVersion; len(v) != 1 || v[0] < '1' || v[0] > '4' {
		return errAt(unb, "UNB S001 0002 (syntax version number) must be 1 to 4, got %q", cut(v, 20))
	}
	ic.Sender, ic.Recipient = unb.Value(1, 0), unb.Value(2, 0)
	if err := checkField(unb, "UNB S002 0004 (interchange sender identification)", ic.Sender, maxPartyID); err != nil {
		return err
	}
	if err := checkField(unb, "UNB S003 0010 (interchange recipient identification)", ic.Recipient, maxPartyID); err != nil {
		return err
	}
	ic.Date, ic.Time = unb.Value(3, 0), unb.Value(3, 1)
	if _, err := PreparedAt(ic.Date, ic.Time, nil); err != nil {
		return errAt(unb, "UNB S004 (date and time of preparation): %v", err)
	}
	ic.ControlRef = unb.Value(4, 0)
	return checkRef(unb, "UNB 0020 (interchange control reference)", ic.ControlRef)
}

func checkField(s *Segment, name, v string, max int) error {
	switch {
	case v == "":
		return errAt(s, "%s is missing", name)
	case len(v) > max:
		return errAt(s, "%s %q is longer than %d characters", name, cut(v, 40), max)
	}
	return nil
}

func checkRef(s *Segment, name, v string) error { return checkField(s, name, v, maxRef) }

// messageHeader checks and reads a UNH.
func messageHeader(s *Segment) (*Message, error) {
	m := &Message{Ref: s.Value(0, 0), Type: s.Value(1, 0), Version: s.Value(1, 1), Release: s.Value(1, 2), Agency: s.Value(1, 3)}
	if err := checkRef(s, "UNH 0062 (message reference number)", m.Ref); err != nil {
		return nil, err
	}
	if m.Type == "" || m.Version == "" || m.Release == "" || m.Agency == "" {
		return nil, errAt(s, "UNH S009 (message identifier) needs type, version, release and agency, e.g. CUSRES:D:96B:UN; got %q", cut(strings.Join(elementAt(s, 1), ":"), 40))
	}
	m.Segments = []Segment{*s}
	return m, nil
}

// checkTrailer checks a UNT against its message.
func checkTrailer(m *Message, unt *Segment) error {
	if err := checkCount(unt, "UNT 0074 (number of segments in the message, UNH and UNT included)", unt.Value(0, 0), len(m.Segments)); err != nil {
		return err
	}
	if got := unt.Value(1, 0); got != m.Ref {
		return errAt(unt, "UNT 0062 (message reference number) is %q, the UNH at %s says %q", got, m.Segments[0].Position(), m.Ref)
	}
	return nil
}

func checkCount(s *Segment, name, v string, want int) error {
	n, ok := number(v)
	switch {
	case !ok:
		return errAt(s, "%s must be a number, got %q", name, cut(v, 20))
	case n != want:
		return errAt(s, "%s is %d, but there are %d", name, n, want)
	}
	return nil
}

// number parses a count of at most 10 digits.
func number(v string) (int, bool) {
	if v == "" || len(v) > 10 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}
