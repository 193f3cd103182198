package mappedxml

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"

	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Check checks the mapped_xml settings of a source and returns one
// error for each problem, keyed relative to the source ("mapping.id",
// "mapping.status_values.MAYBE"): every XPath is compiled, so a mistake in
// one is reported on its line. It may be called for any source: for a
// source of another format it returns nothing (the mapping block belongs
// to mapped_json and mapped_xml alike, and config validation refuses it
// for other formats).
func Check(cfg config.Source) []config.KeyError {
	if cfg.Format != Format {
		return nil
	}
	errs, _ := check(cfg)
	return errs
}

// layoutInfo says what a Go time layout holds, by formatting a reference
// time with it and parsing the text back.
type layoutInfo struct {
	date   bool // year, month and day survive the round trip
	offset bool // a numeric UTC offset survives the round trip
	abbrev bool // a zone abbreviation (MST) is in it
}

func inspectLayout(layout string) layoutInfo {
	// The zone name is one no real zone uses, to spot MST in the layout.
	ref := time.Date(2026, 11, 28, 10, 15, 30, 0, time.FixedZone("QQXT", 8*3600))
	text := ref.Format(layout)
	info := layoutInfo{abbrev: strings.Contains(text, "QQXT")}
	t, err := time.Parse(layout, text)
	if err != nil {
		return info
	}
	info.date = t.Year() == 2026 && t.Month() == time.November && t.Day() == 28
	_, off := t.Zone()
	info.offset = !info.abbrev && off == 8*3600
	return info
}

// settings is a checked mapping, ready to decode with.
type settings struct {
	records *xpath.Expr // nil: the document element is the one record
	id, agency, status, containers, at,
	bl, declaration, reason, hold field
	loc      *time.Location
	layout   string
	statuses map[string]status
	known    string            // the status words, quoted and sorted, for reasons
	holds    map[string]string // hold_values; nil when the mapping has none
	knownH   string            // the hold words, for reasons
}

// status is what a status word maps to: a status and, for held and
// hold_removed, optionally a hold type ("held:exam").
type status struct {
	st   state.Status
	hold string
}

// probe is the document every compiled XPath is tried on once, so that
// check knows what kind of result the records path gives.
const probe = `<record><field attr="1">text</field></record>`

// compile compiles an XPath of the mapping. A panic in the XPath library
// is an error of the expression, not of the daemon.
func compile(path string) (expr *xpath.Expr, err error) {
	defer func() {
		if p := recover(); p != nil {
			expr, err = nil, fmt.Errorf("the XPath library failed on it: %v", p)
		}
	}()
	return xpath.Compile(path)
}

// evaluate evaluates expr on node, turning a panic into an error.
func evaluate(expr *xpath.Expr, node *xmlquery.Node) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("the XPath library failed on it: %v", p)
		}
	}()
	return expr.Evaluate(xmlquery.CreateXPathNavigator(node)), nil
}

// check checks cfg as a mapped_xml source and, if it is sound, returns
// what a decoder needs.
func check(cfg config.Source) ([]config.KeyError, *settings) {
	var errs []config.KeyError
	fail := func(key, format string, args ...any) {
		errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if cfg.Kind != config.KindAgency {
		fail("kind", "format %s decodes agency events only; want kind %q, got %q", Format, config.KindAgency, cfg.Kind)
	}
	m := cfg.Mapping
	if m == nil {
		fail("mapping", "required for format %s: the XPaths of id, status, containers and at, and status_values", Format)
		return errs, nil
	}
	s := &settings{statuses: map[string]status{}}

	probeDoc, err := xmlquery.Parse(strings.NewReader(probe))
	if err != nil {
		panic("mappedxml: the probe document does not parse: " + err.Error())
	}
	// xpathOf compiles one path of the mapping; what describes it for a
	// required path that is missing.
	xpathOf := func(key, path, what string) field {
		f := field{name: key, path: path}
		switch {
		case strings.TrimSpace(path) == "" && what != "":
			fail("mapping."+key, "required: the XPath of %s in a record", what)
		case path != "" && strings.TrimSpace(path) == "":
			fail("mapping."+key, "blank: name the XPath of the %s, or leave %s out", key, key)
		case path != "":
			expr, err := compile(path)
			if err != nil {
				fail("mapping."+key, "XPath %q does not compile: %v", path, err)
				break
			}
			if _, err := evaluate(expr, firstElement(probeDoc)); err != nil {
				fail("mapping."+key, "XPath %q: %v", path, err)
				break
			}
			f.expr = expr
		}
		return f
	}
	if m.Records != "" {
		f := xpathOf("records", m.Records, "")
		if f.expr != nil {
			v, _ := evaluate(f.expr, probeDoc)
			if _, ok := v.(*xpath.NodeIterator); !ok {
				fail("mapping.records", "XPath %q gives %s, not nodes: name the record elements, e.g. /Response/List/Item", m.Records, describe(v))
			} else {
				s.records = f.expr
			}
		}
	}
	s.id = xpathOf("id", m.ID, "the event id, unique per source")
	s.status = xpathOf("status", m.Status, "their status word")
	s.containers = xpathOf("containers", m.Containers, "the container numbers (one node each)")
	s.at = xpathOf("at", m.At, "the time of the decision")
	s.agency = xpathOf("agency", m.Agency, "")
	s.bl = xpathOf("bl", m.BL, "")
	s.declaration = xpathOf("declaration", m.Declaration, "")
	s.reason = xpathOf("reason", m.Reason, "")
	s.hold = xpathOf("hold", m.Hold, "")

	words := slices.Sorted(maps.Keys(m.StatusValues))
	if len(words) == 0 {
		fail("mapping.status_values", "required: map each of their status words to released, held, hold_removed or revoked, e.g. {PAS: released, CPI: held}")
	}
	for i, word := range words {
		spec := m.StatusValues[word]
		key := "mapping.status_values." + word
		switch {
		case strings.TrimSpace(word) == "":
			fail("mapping.status_values", "an empty status word never matches (empty statuses are refused)")
			continue
		case strings.TrimSpace(word) != word:
			fail(key, "status word %q has surrounding spaces and never matches: their values are trimmed", word)
			continue
		}
		st, hold, err := jsonfmt.ParseStatusSpec(spec)
		if err != nil {
			fail(key, "%v", err)
			continue
		}
		s.statuses[word] = status{st, hold}
		for _, other := range words[i+1:] {
			if strings.EqualFold(word, other) && m.StatusValues[other] != spec {
				fail(key, "%q and %q differ only in case but map to %s and %s; a value such as %q would match both",
					word, other, spec, m.StatusValues[other], strings.ToLower(word))
			}
		}
	}
	quoted := make([]string, 0, len(s.statuses))
	for _, w := range words {
		if _, ok := s.statuses[w]; ok {
			quoted = append(quoted, fmt.Sprintf("%q", w))
		}
	}
	if len(quoted) > 12 {
		quoted = append(quoted[:12], "...")
	}
	s.known = strings.Join(quoted, ", ")

	s.holds, s.knownH = checkHolds(m, fail)

	s.layout = m.AtLayout
	if s.layout == "" {
		s.layout = defaultLayout
	}
	info := inspectLayout(s.layout)
	switch {
	case info.abbrev:
		fail("mapping.at_layout", "%q holds a zone abbreviation (MST), which Go reads as UTC unless the host knows it (CST is China, Cuba or US Central): "+
			"use a numeric offset (-07:00) or write their abbreviation as text and set at_zone", m.AtLayout)
	case !info.date:
		fail("mapping.at_layout", "%q is not a Go time layout with a year, month and day: write the reference time "+
			"Mon Jan 2 15:04:05 -0700 MST 2006 as they would, e.g. \"2006-01-02 15:04:05\" or \"20060102150405\"", m.AtLayout)
	}
	switch zone := m.AtZone; {
	case zone == "" && !info.offset && !info.abbrev && info.date:
		fail("mapping.at_zone", "required: at_layout %q has no UTC offset, so name the zone of their clock, e.g. Asia/Shanghai", m.AtLayout)
	case zone == "":
		s.loc = time.UTC
	case info.offset:
		layout := "(default RFC 3339)"
		if m.AtLayout != "" {
			layout = strconv.Quote(m.AtLayout)
		}
		fail("mapping.at_zone", "not used: at_layout %s carries its own UTC offset; remove at_zone", layout)
	case strings.EqualFold(zone, "local"):
		fail("mapping.at_zone", "name an IANA zone such as Asia/Shanghai; Local depends on the host")
	default:
		loc, err := time.LoadLocation(zone)
		if err != nil {
			fail("mapping.at_zone", "unknown time zone %q: want an IANA name such as Asia/Shanghai or UTC", zone)
		}
		s.loc = loc
	}
	if len(errs) > 0 {
		return errs, nil
	}
	return nil, s
}

// firstElement is the document element of doc (doc itself if it has none).
func firstElement(doc *xmlquery.Node) *xmlquery.Node {
	for n := doc.FirstChild; n != nil; n = n.NextSibling {
		if n.Type == xmlquery.ElementNode {
			return n
		}
	}
	return doc
}

// describe names the kind of an XPath result that is not a node set, for
// a reason.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %s", quoteStr(v))
	case float64:
		return fmt.Sprintf("the number %s", formatNumber(v))
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	}
	return fmt.Sprintf("a %T", v)
}

// checkHolds checks mapping.hold_values and returns the table of hold
// words (nil without hold_values) and its words for reasons. Hold words
// match as status words do: exactly, then ignoring case.
func checkHolds(m *config.Mapping, fail func(key, format string, args ...any)) (map[string]string, string) {
	if len(m.HoldValues) == 0 {
		return nil, ""
	}
	if strings.TrimSpace(m.Hold) == "" {
		fail("mapping.hold_values", "needs mapping.hold, the XPath of the hold words it translates")
	}
	words := slices.Sorted(maps.Keys(m.HoldValues))
	holds := make(map[string]string, len(words))
	var quoted []string
	for i, word := range words {
		hold := m.HoldValues[word]
		key := "mapping.hold_values." + word
		switch {
		case strings.TrimSpace(word) == "":
			fail("mapping.hold_values", "an empty hold word never matches (an empty hold is the general hold)")
			continue
		case strings.TrimSpace(word) != word:
			fail(key, "hold word %q has surrounding spaces and never matches: their values are trimmed", word)
			continue
		}
		if err := jsonfmt.CheckHold(hold); err != nil {
			fail(key, "%v", err)
			continue
		}
		for _, other := range words[i+1:] {
			if strings.EqualFold(word, other) && m.HoldValues[other] != hold {
				fail(key, "%q and %q differ only in case but map to %s and %s", word, other, hold, m.HoldValues[other])
			}
		}
		holds[word] = hold
		if len(quoted) < 12 {
			quoted = append(quoted, fmt.Sprintf("%q", word))
		}
	}
	if len(holds) > 12 {
		quoted = append(quoted, "...")
	}
	return holds, strings.Join(quoted, ", ")
}
