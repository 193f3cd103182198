// Package mappedxml decodes agency events from any XML document a customs
// system sends, by a mapping in the source's configuration (format
// "mapped_xml"). It is mapped_json (package mappedjson) for XML: the same
// mapping keys, the same checks and the same rejections, with XPath 1.0
// expressions (github.com/antchfx/xpath over github.com/antchfx/xmlquery)
// where mapped_json has gjson paths:
//
//	format: mapped_xml
//	mapping:
//	  records: /ReleaseMessage/List/Instruction   # optional: the record elements
//	  id: InstructionNo
//	  status: InstructionType
//	  containers: Containers/Container/ContainerNo  # one node per container
//	  at: InstructionTime
//	  at_layout: "20060102150405"                  # Go layout; default RFC 3339
//	  at_zone: Asia/Shanghai                       # required when the layout has no offset
//	  bl: BillNo                                   # optional
//	  declaration: EntryId                         # optional
//	  reason: Remark                               # optional
//	  agency: Authority                            # optional; default the source's agency
//	  hold: HoldType                               # optional: the hold type of held and hold_removed
//	  hold_values: {XRAY: 7H}                      # optional: their hold words -> hold types
//	  status_values: {PAS: released, CPI: held, DEL: revoked}
//
// Only agency sources (kind agency) may use it. Check compiles every
// XPath, so a configuration with one that does not compile is refused with
// the key's line.
//
// # Records
//
// Without records, the document element is the one record. With records,
// the XPath is evaluated on the document (write it from the root,
// /Envelope/Body/Item, or with //Item) and must select elements; every
// element selected is one record, in document order, and the other paths
// are relative to it. A records XPath that selects nothing rejects the
// document: XML cannot tell an empty list from a mapping that does not fit
// the document, and silence would hide the second. Records are numbered
// from 1 in the dead letter (Position "record 1").
//
// Per-container times: an event has one time for all its containers. When
// a message gives each container its own release time, make each container
// a record (records: .../Container) and reach the shared fields with ../
// (status: ../../InstructionType), and build an id that differs per
// container (id: concat(../../InstructionNo, '/', ContainerNo)): ids are
// unique per source, and records that shared one would be taken for
// repeats of the first.
//
// # Values
//
// A path may select nodes or compute a string, number or boolean (concat(),
// normalize-space(), count()). Node sets: no node is a missing value, one
// node gives its text (an element's text content, which must have no
// child elements; an attribute's or a text node's value), and more than
// one node rejects the record, naming the first two: an XPath that
// matches twice is ambiguous, as a repeated JSON key is. Only containers
// takes several nodes, one container number each (1 to MaxContainers;
// repeats are dropped, keeping order). A computed string is the value, the
// empty string being an empty value; a number is its text and NaN is
// missing. Values are trimmed of surrounding white space. Then each field
// is checked as mapped_json checks it: id non-empty and at most
// state.MaxIDLen bytes; status looked up in status_values (exactly, then
// ignoring case); hold (with hold_values) only on held and hold_removed;
// containers by state.ParseContainer; bl and declaration at most
// state.MaxRefLen bytes; reason cut to state.MaxReasonLen bytes with a
// marker; at in at_layout and at_zone, from 1970 and with an offset
// within ±23:59. A bad record is rejected alone, e.g.
//
//	field "status" (path "../../InstructionType"): "XYZ" is not in status_values (known: "CPI", "DEL", "PAS")
//
// Names in an XPath match an element's local name and the prefix it is
// written with: Status matches <Status> also under a default namespace
// (xmlns="..."), and <cus:Status> needs cus:Status (or
// *[local-name()='Status']). XPath 1.0 has no if: a value that depends on
// another can be built with substring(s, 1, n * condition), which is s
// when the condition holds and empty otherwise.
//
// # The document
//
// A document is read only if it is well-formed XML in encoding/xml's strict
// sense, in UTF-8 or in the encoding its declaration names (GB18030, GBK,
// GB2312, Big5, ISO-8859-x and the other encodings of the WHATWG list), a
// UTF-8 byte order mark allowed. It is checked in one pass before any tree
// is built, and rejected whole (one rejection without a position) when it:
//
//   - declares a DOCTYPE or anything else in <!...> (an internal subset,
//     ENTITY declarations): no DTD is read, no entity is defined or
//     expanded and nothing is fetched, so there is no XXE and no billion
//     laughs; the five predefined entities and character references are
//     read;
//   - is larger than MaxBytes, nests elements deeper than MaxDepth or
//     holds more than MaxNodes elements, attributes, text and comments;
//   - has no root element, several, or text outside it;
//   - selects more than MaxRecords records.
package mappedxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"
	"golang.org/x/net/html/charset"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/adapters/mapping"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Format is the format's configuration name.
const Format = "mapped_xml"

func init() {
	adapters.RegisterFormat(Format, adapters.FormatKeys[Config](adapters.Format{New: newDecoder, Check: Check}, true))
}

// Limits on a document and its records.
const (
	// MaxContainers is the most containers one record may name, as in the
	// canonical format.
	MaxContainers = jsonfmt.MaxContainers
	// MaxRecords is the most records one document may hold. Every rejected
	// record is a dead letter of its own, so the limit bounds what one bad
	// document can write.
	MaxRecords = 10000
	// MaxBytes is the largest document read: its tree takes several times
	// its size in memory. Messages are at most adapters.MaxPayload (1 MiB)
	// anyway; the limit is for file_drop, whose files may be larger.
	MaxBytes = 16 << 20
	// MaxDepth is the deepest nesting of elements read.
	MaxDepth = 64
	// MaxNodes is the most elements, attributes, text nodes and comments a
	// document may hold.
	MaxNodes = 500000
)

// decoder decodes one source's documents.
type decoder struct {
	sourceAgency string // the source's agency, when the mapping names no path
	*settings
	// mu serialises Decode: compiled XPaths keep state while they are
	// evaluated.
	mu sync.Mutex
}

func newDecoder(cfg config.Source) (adapters.Decoder, error) {
	errs, s := check(cfg)
	if s != nil && s.agency.expr == nil && cfg.Agency == "" {
		errs = append(errs, config.KeyError{Key: "agency", Msg: "required: the agency this source speaks for (or mapping.agency)"})
	}
	if len(errs) > 0 {
		list := make([]error, len(errs))
		for i, e := range errs {
			list[i] = fmt.Errorf("source %s: format %s: %s: %s", cfg.Name, Format, e.Key, e.Msg)
		}
		return nil, errors.Join(list...)
	}
	return &decoder{sourceAgency: cfg.Agency, settings: s}, nil
}

// Decode decodes a document into one record per record of the document, or
// one rejection for a document that cannot be read at all. A panic in the
// XML or XPath library is turned into a rejection of the document, so that
// one poisoned message cannot stop the daemon over and over.
func (d *decoder) Decode(payload []byte) (recs []adapters.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			recs = reject(state.Reject(state.CodeMalformed, "internal error: the decoder failed on this document: %v", p))
		}
	}()
	if len(payload) > MaxBytes {
		return reject(state.Reject(state.CodeTooLarge, "document is %d bytes, more than the %d format %s reads", len(payload), MaxBytes, Format))
	}
	payload = bytes.TrimPrefix(payload, []byte("\xef\xbb\xbf"))
	if err := scan(payload); err != nil {
		return reject(state.Reject(state.CodeMalformed, "%v", err))
	}
	doc, err := xmlquery.Parse(bytes.NewReader(payload))
	if err != nil {
		return reject(state.Reject(state.CodeMalformed, "payload is not well-formed XML: %v", err))
	}

	if d.records == nil {
		ev, err := d.record(firstElement(doc))
		return []adapters.Record{{Agency: ev, Err: err}}
	}
	path := d.records.String()
	v, err := evaluate(d.records, doc)
	if err != nil {
		return reject(state.Reject(state.CodeMalformed, "records (path %q): %v", path, err))
	}
	it, ok := v.(*xpath.NodeIterator)
	if !ok {
		return reject(state.Reject(state.CodeMalformed, "records (path %q): want elements, got %s", path, describe(v)))
	}
	var nodes []*xmlquery.Node
	for it.MoveNext() {
		nav, ok := it.Current().(*xmlquery.NodeNavigator)
		if !ok || nav.NodeType() != xpath.ElementNode || nav.Current().Type != xmlquery.ElementNode {
			return reject(state.Reject(state.CodeMalformed, "records (path %q): selects %s, want elements", path, nodeKind(it.Current())))
		}
		if len(nodes) == MaxRecords {
			return reject(state.Reject(state.CodeMalformed, "records (path %q): more than %d records in one document", path, MaxRecords))
		}
		nodes = append(nodes, nav.Current())
	}
	if len(nodes) == 0 {
		return reject(state.Reject(state.CodeMalformed, "records (path %q): selects no element in the document", path))
	}
	recs = make([]adapters.Record, len(nodes))
	for i, n := range nodes {
		recs[i].Position = fmt.Sprintf("record %d", i+1)
		recs[i].Agency, recs[i].Err = d.record(n)
	}
	return recs
}

func reject(err error) []adapters.Record { return []adapters.Record{{Err: err}} }

// scan reads the document once as tokens, before any tree is built, and
// refuses what format mapped_xml does not read (see the package comment).
func scan(payload []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(payload))
	dec.CharsetReader = charset.NewReaderLabel
	depth, nodes, roots := 0, 0, 0
	for {
		start := dec.InputOffset() // where the token begins, for its line
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("payload is not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			nodes += 1 + len(t.Attr)
			if depth > MaxDepth {
				return fmt.Errorf("elements nest deeper than %d (line %d)", MaxDepth, line(payload, start))
			}
			if depth == 1 {
				if roots++; roots > 1 {
					return fmt.Errorf("a second root element <%s> (line %d): a document has one", t.Name.Local, line(payload, start))
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			nodes++
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("text outside the root element (line %d): %s", line(payload, start), quoteStr(strings.TrimSpace(string(t))))
			}
		case xml.Comment, xml.ProcInst:
			nodes++
		case xml.Directive:
			word, _, _ := strings.Cut(strings.TrimSpace(string(t)), " ")
			return fmt.Errorf("a <!%s ...> declaration (line %d): DTDs and entity declarations are refused, so nothing is expanded or fetched",
				cutWord(word), line(payload, start))
		}
		if nodes > MaxNodes {
			return fmt.Errorf("more than %d elements, attributes, text nodes and comments", MaxNodes)
		}
	}
	if roots == 0 {
		return errors.New("payload is not XML: no root element")
	}
	return nil
}

// line is the line of the first character that is not white space at or
// after offset off of payload (for a document in UTF-8; in another
// encoding, offsets are in the decoded text and the line is approximate).
func line(payload []byte, off int64) int {
	n := min(int(max(off, 0)), len(payload))
	for n < len(payload) && strings.IndexByte(" \t\r\n", payload[n]) >= 0 {
		n++
	}
	return 1 + bytes.Count(payload[:n], []byte("\n"))
}

func cutWord(w string) string {
	if len(w) > 20 || !utf8.ValidString(w) {
		return "..."
	}
	return w
}

// field is one of our fields and the XPath the mapping finds it at.
type field struct {
	name, path string
	expr       *xpath.Expr // nil when the mapping names no path
}

// m is the field as the shared mapping code names it in reasons.
func (f field) m() mapping.Field { return mapping.Field{Name: f.name, Path: f.path} }

func (f field) reject(code, format string, args ...any) error {
	return f.m().Reject(code, format, args...)
}

// values evaluates the field in a record: the text of each node it
// selects (at most max), or the one value it computes. nodes says whether
// it selected nodes; n is how many (up to max+1).
func (f field) values(rec *xmlquery.Node, max int) (texts []string, nodes bool, err error) {
	if f.expr == nil {
		return nil, false, nil
	}
	v, err := evaluate(f.expr, rec)
	if err != nil {
		return nil, false, f.reject(state.CodeMalformed, "%v", err)
	}
	switch v := v.(type) {
	case *xpath.NodeIterator:
		for len(texts) <= max && v.MoveNext() {
			s, err := nodeText(v.Current())
			if err != nil {
				return nil, true, f.reject(state.CodeInvalidField, "%v", err)
			}
			texts = append(texts, s)
		}
		return texts, true, nil
	case string:
		return []string{v}, false, nil
	case float64:
		if math.IsNaN(v) {
			return nil, false, nil
		}
		return []string{formatNumber(v)}, false, nil
	case bool:
		return []string{strconv.FormatBool(v)}, false, nil
	}
	return nil, false, f.reject(state.CodeMalformed, "the XPath gives %s", describe(v))
}

// nodeText is the text of a selected node: an attribute's or a text
// node's value, or the text content of an element without child elements.
func nodeText(nav xpath.NodeNavigator) (string, error) {
	x, ok := nav.(*xmlquery.NodeNavigator)
	switch {
	case !ok:
	case nav.NodeType() == xpath.AttributeNode:
		return nav.Value(), nil
	case x.Current().Type == xmlquery.TextNode, x.Current().Type == xmlquery.CharDataNode:
		return x.Current().Data, nil
	case x.Current().Type == xmlquery.ElementNode:
		n := x.Current()
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == xmlquery.ElementNode {
				return "", fmt.Errorf("want text, got the element <%s>, which has child elements (<%s>)", qname(n), qname(c))
			}
		}
		return n.InnerText(), nil
	}
	return "", fmt.Errorf("want an element, attribute or text, got %s", nodeKind(nav))
}

func qname(n *xmlquery.Node) string {
	if n.Prefix != "" {
		return n.Prefix + ":" + n.Data
	}
	return n.Data
}

// nodeKind names the kind of a node for a reason.
func nodeKind(nav xpath.NodeNavigator) string {
	switch nav.NodeType() {
	case xpath.RootNode:
		return "the document"
	case xpath.AttributeNode:
		return "the attribute @" + nav.LocalName()
	case xpath.TextNode:
		return "a text node"
	case xpath.CommentNode:
		return "a comment"
	case xpath.ElementNode:
		return "the element <" + nav.LocalName() + ">"
	}
	return "a node"
}

// formatNumber writes an XPath number as its text: integers without a
// fraction or exponent.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// text returns a field as trimmed text; "" when it is missing and not
// required.
func (f field) text(rec *xmlquery.Node, required bool) (string, error) {
	texts, _, err := f.values(rec, 1)
	if err != nil {
		return "", err
	}
	switch {
	case len(texts) == 0:
		if required {
			return "", f.reject(state.CodeInvalidField, "required, not found in the record")
		}
		return "", nil
	case len(texts) > 1:
		return "", f.reject(state.CodeInvalidField, "selects more than one node (%s, %s), want one", quoteStr(strings.TrimSpace(texts[0])), quoteStr(strings.TrimSpace(texts[1])))
	}
	s := strings.TrimSpace(texts[0])
	if required && s == "" {
		return "", f.reject(state.CodeInvalidField, "must not be empty")
	}
	return s, nil
}

// ref reads an optional reference (B/L, declaration), which becomes a
// store key and so is bounded.
func (f field) ref(rec *xmlquery.Node) (string, error) {
	v, err := f.text(rec, false)
	if err != nil {
		return "", err
	}
	return mapping.Ref(f.m(), v)
}

// record decodes one record element.
func (d *decoder) record(rec *xmlquery.Node) (*state.AgencyEvent, error) {
	ev := &state.AgencyEvent{Agency: d.sourceAgency}
	var err error

	if ev.ID, err = d.id.text(rec, true); err != nil {
		return nil, err
	}
	if err := mapping.CheckID(d.id.m(), ev.ID); err != nil {
		return nil, err
	}

	if d.agency.expr != nil {
		if ev.Agency, err = d.agency.text(rec, true); err != nil {
			return nil, err
		}
	}

	word, err := d.status.text(rec, true)
	if err != nil {
		return nil, err
	}
	st, err := d.Status(d.status.m(), word)
	if err != nil {
		return nil, err
	}
	ev.Status, ev.Hold = st.St, st.Hold
	if err := d.holdOf(rec, ev); err != nil {
		return nil, err
	}

	if ev.Containers, err = d.containersOf(rec); err != nil {
		return nil, err
	}
	if ev.BL, err = d.bl.ref(rec); err != nil {
		return nil, err
	}
	if ev.Declaration, err = d.declaration.ref(rec); err != nil {
		return nil, err
	}
	if ev.Reason, err = d.reason.text(rec, false); err != nil {
		return nil, err
	}
	ev.Reason = state.CutText(ev.Reason, state.MaxReasonLen)
	if ev.At, err = d.atOf(rec); err != nil {
		return nil, err
	}
	return ev, nil
}

// holdOf reads the record's hold type (mapping.hold), translated by
// hold_values when the mapping has them; a hold in the record wins over
// one its status word implies. A hold is meaningful for held and
// hold_removed only: on released or revoked it is refused, as in the
// canonical format.
func (d *decoder) holdOf(rec *xmlquery.Node, ev *state.AgencyEvent) error {
	f := d.hold
	word, err := f.text(rec, false)
	if err != nil {
		return err
	}
	return d.Hold(f.m(), word, ev)
}

func (d *decoder) containersOf(rec *xmlquery.Node) ([]string, error) {
	f := d.containers
	list, nodes, err := f.values(rec, MaxContainers)
	switch {
	case err != nil:
		return nil, err
	case len(list) == 0:
		return nil, f.reject(state.CodeInvalidField, "want 1 to %d container numbers, got none", MaxContainers)
	case len(list) > MaxContainers:
		return nil, f.reject(state.CodeInvalidField, "want 1 to %d container numbers, got more", MaxContainers)
	}
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return mapping.Containers(f.m(), list, func(i int) string {
		if nodes && len(list) > 1 {
			return fmt.Sprintf("node %d", i+1)
		}
		return ""
	})
}

func (d *decoder) atOf(rec *xmlquery.Node) (time.Time, error) {
	f := d.at
	s, err := f.text(rec, true)
	if err != nil {
		return time.Time{}, err
	}
	return d.Time(f.m(), s)
}

// quoteStr quotes a value for a reason, cut to a readable length on a
// character boundary.
func quoteStr(s string) string { return mapping.QuoteStr(s) }
