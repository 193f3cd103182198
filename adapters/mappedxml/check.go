package mappedxml

import (
	"fmt"
	"strings"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"

	"github.com/portsync/portsync/adapters/mapping"
	"github.com/portsync/portsync/config"
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

// Config is the keys of a mapped_xml source's own; the common ones are in
// config.Source.
type Config struct {
	// Mapping says where an event's fields are in the document, as XPath
	// 1.0 expressions.
	Mapping *config.Mapping `yaml:"mapping"`
}

// settings is a checked mapping, ready to decode with.
type settings struct {
	records *xpath.Expr // nil: the document element is the one record
	id, agency, status, containers, at,
	bl, declaration, reason, hold field
	mapping.Clock
	mapping.Values
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
	// What did not decode is reported, and what is under it is left out
	// (adapters.FormatKeys); the rest is checked.
	c := new(Config)
	errs = append(errs, cfg.Keys.Decode(c)...)
	m := c.Mapping
	if m == nil {
		fail("mapping", "required for format %s: the XPaths of id, status, containers and at, and status_values", Format)
		return errs, nil
	}
	s := &settings{}

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

	s.Statuses, s.Known = mapping.CheckStatuses(m, "{PAS: released, CPI: held}", fail)
	s.Holds, s.KnownHolds = mapping.CheckHolds(m, "XPath", fail)
	s.Clock = mapping.CheckTime(m, `"2006-01-02 15:04:05" or "20060102150405"`, fail)
	if s.Layout == mapping.DefaultLayout {
		// at_layout spelled out as the default reads as the default.
		s.AtLayout = ""
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
