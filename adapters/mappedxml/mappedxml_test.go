package mappedxml_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/edifact"
	_ "github.com/portsync/portsync/adapters/filedrop"
	_ "github.com/portsync/portsync/adapters/httpsink"
	_ "github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/adapters/mappedxml"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// noticeMapping reads a clearance notice that is one record, with the
// containers in repeated elements and the status in an attribute.
func noticeMapping() *config.Mapping {
	return &config.Mapping{
		ID:           "@id",
		Status:       "Decision/@code",
		Containers:   "Equipment/ContainerNo",
		BL:           "BillOfLading",
		Declaration:  "DeclarationNo",
		Reason:       "Decision",
		At:           "Decision/@at",
		StatusValues: map[string]string{"RELEASED": "released", "HOLD": "held", "EXAM": "held:exam", "CANCELLED": "revoked"},
	}
}

const notice = `<?xml version="1.0" encoding="UTF-8"?>
<Notice id="N-1">
  <Decision code="RELEASED" at="2026-11-28T10:15:00+08:00">documents checked</Decision>
  <Equipment><ContainerNo>mscu 123456-6</ContainerNo></Equipment>
  <Equipment><ContainerNo>TGHU1234567</ContainerNo></Equipment>
  <Equipment><ContainerNo>MSCU1234566</ContainerNo></Equipment>
  <BillOfLading>MEDUSH123456</BillOfLading>
  <DeclarationNo>220120261000123456</DeclarationNo>
</Notice>`

var noticeEvent = state.AgencyEvent{
	ID: "N-1", Status: state.Released, Containers: []string{"MSCU1234566", "TGHU1234567"},
	BL: "MEDUSH123456", Declaration: "220120261000123456", Reason: "documents checked",
	At: at("2026-11-28T10:15:00+08:00"),
}

// edit applies old -> new replacements to notice, each exactly once.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	doc := notice
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(doc, pairs[i]) != 1 {
			t.Fatalf("%q is not once in the notice", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

func TestSingleRecord(t *testing.T) {
	dec := newDecoder(t, noticeMapping())
	checkRecords(t, dec.Decode([]byte(notice)), []want{ok("", noticeEvent)})

	withHold := noticeEvent
	withHold.Status, withHold.Hold = state.Held, "exam"
	long := strings.Repeat("B", 71)
	tests := []struct {
		name string
		doc  string
		want want
	}{
		{"a UTF-8 byte order mark", "\xef\xbb\xbf" + notice, ok("", noticeEvent)},
		{"no XML declaration", strings.TrimPrefix(notice, `<?xml version="1.0" encoding="UTF-8"?>`), ok("", noticeEvent)},
		{"a default namespace", edit(t, `<Notice id="N-1">`, `<Notice xmlns="urn:example:notice" id="N-1">`), ok("", noticeEvent)},
		{"CDATA and entities", edit(t, ">documents checked<", "><![CDATA[documents]]> &#99;hecked<"), ok("", noticeEvent)},
		{"a word in another case", edit(t, `code="RELEASED"`, `code="released"`), ok("", noticeEvent)},
		{"a typed hold", edit(t, `code="RELEASED"`, `code="EXAM"`), ok("", withHold)},
		{"unknown status word", edit(t, `code="RELEASED"`, `code="XYZ"`),
			rejected("", state.CodeInvalidField, `field "status" (path "Decision/@code"): "XYZ" is not in status_values (known: "CANCELLED", "EXAM", "HOLD", "RELEASED")`)},
		{"status missing", edit(t, `code="RELEASED" `, ``),
			rejected("", state.CodeInvalidField, `field "status" (path "Decision/@code"): required, not found in the record`)},
		{"two decisions", edit(t, `<BillOfLading>`, `<Decision code="HOLD" at="2026-11-28T10:16:00+08:00"/><BillOfLading>`),
			rejected("", state.CodeInvalidField, `field "status" (path "Decision/@code"): selects more than one node ("RELEASED", "HOLD"), want one`)},
		{"id missing", edit(t, ` id="N-1"`, ``),
			rejected("", state.CodeInvalidField, `field "id" (path "@id"): required, not found in the record`)},
		{"id blank", edit(t, `id="N-1"`, `id="  "`),
			rejected("", state.CodeInvalidField, `field "id" (path "@id"): must not be empty`)},
		{"id too long", edit(t, `id="N-1"`, `id="`+strings.Repeat("i", 257)+`"`),
			rejected("", state.CodeInvalidField, `field "id" (path "@id"): "`+strings.Repeat("i", 80)+`"... is 257 characters, longer than 256`)},
		{"no containers", strings.NewReplacer("<Equipment><ContainerNo>mscu 123456-6</ContainerNo></Equipment>", "",
			"<Equipment><ContainerNo>TGHU1234567</ContainerNo></Equipment>", "",
			"<Equipment><ContainerNo>MSCU1234566</ContainerNo></Equipment>", "").Replace(notice),
			rejected("", state.CodeInvalidField, `field "containers" (path "Equipment/ContainerNo"): want 1 to 1000 container numbers, got none`)},
		{"a bad check digit", edit(t, "TGHU1234567", "TGHU1234568"),
			rejected("", state.CodeBadCheckDigit, `field "containers" (path "Equipment/ContainerNo"): node 2: container "TGHU1234568": check digit is 8, the right digit for TGHU123456 is 7`)},
		{"a container element with children", edit(t, "<ContainerNo>TGHU1234567</ContainerNo>", "<ContainerNo><No>TGHU1234567</No></ContainerNo>"),
			rejected("", state.CodeInvalidField, `field "containers" (path "Equipment/ContainerNo"): want text, got the element <ContainerNo>, which has child elements (<No>)`)},
		{"bl too long", edit(t, "MEDUSH123456", long),
			rejected("", state.CodeInvalidField, `field "bl" (path "BillOfLading"): "`+long[:40]+`"... is 71 bytes, longer than 70`)},
		{"time without offset", edit(t, `+08:00"`, `"`),
			rejected("", state.CodeInvalidField, `field "at" (path "Decision/@at"): want an RFC 3339 time with offset such as 2026-11-28T10:15:00+08:00, got "2026-11-28T10:15:00"`)},
		{"offset +24:00", edit(t, `+08:00"`, `+24:00"`),
			rejected("", state.CodeInvalidField, `field "at" (path "Decision/@at"): "2026-11-28T10:15:00+24:00": zone offset +24:00 is outside -23:59..+23:59`)},
		{"before 1970", edit(t, `2026-11-28T10:15:00+08:00`, `1969-12-31T10:15:00+08:00`),
			rejected("", state.CodeInvalidField, `field "at" (path "Decision/@at"): "1969-12-31T10:15:00+08:00" is before 1970`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRecords(t, dec.Decode([]byte(tt.doc)), []want{tt.want})
		})
	}
}

// TestReasonIsCut: long free text is kept in part, never rejected.
func TestReasonIsCut(t *testing.T) {
	recs := newDecoder(t, noticeMapping()).Decode([]byte(edit(t, "documents checked", strings.Repeat("查验", 400))))
	if len(recs) != 1 || recs[0].Agency == nil {
		t.Fatalf("got %+v", recs)
	}
	if r := recs[0].Agency.Reason; len(r) > state.MaxReasonLen+60 || !strings.Contains(r, "[cut: 1023 of 2400 bytes kept]") {
		t.Errorf("reason %q", r)
	}
}

// TestGBK: a document in the encoding its declaration names, as Chinese
// systems often send.
func TestGBK(t *testing.T) {
	m := noticeMapping()
	doc := edit(t, `encoding="UTF-8"`, `encoding="GBK"`, "documents checked", "单证放行")
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(doc)
	if err != nil {
		t.Fatal(err)
	}
	ev := noticeEvent
	ev.Reason = "单证放行"
	checkRecords(t, newDecoder(t, m).Decode([]byte(gbk)), []want{ok("", ev)})

	// The same bytes declared as UTF-8 (or not declared) are refused.
	bad := strings.Replace(gbk, `encoding="GBK"`, `encoding="UTF-8"`, 1)
	recs := newDecoder(t, m).Decode([]byte(bad))
	if len(recs) != 1 || recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "invalid UTF-8") {
		t.Errorf("GBK bytes declared UTF-8: %+v", recs)
	}
}

// TestNamespacePrefixes: names match the prefix the document writes.
func TestNamespacePrefixes(t *testing.T) {
	doc := `<c:Notice xmlns:c="urn:example:customs" c:id="N-1"><c:Decision c:code="RELEASED" c:at="2026-11-28T10:15:00+08:00"/>` +
		`<c:Equipment><c:ContainerNo>MSCU1234566</c:ContainerNo></c:Equipment></c:Notice>`
	m := &config.Mapping{
		ID: "@c:id", Status: "c:Decision/@c:code", At: "c:Decision/@c:at",
		Containers:   "*[local-name()='Equipment']/*[local-name()='ContainerNo']",
		StatusValues: map[string]string{"RELEASED": "released"},
	}
	checkRecords(t, newDecoder(t, m).Decode([]byte(doc)), []want{ok("", state.AgencyEvent{
		ID: "N-1", Status: state.Released, Containers: []string{"MSCU1234566"}, At: at("2026-11-28T10:15:00+08:00"),
	})})

	m.Status = "Decision/@code" // without the prefix: nothing
	checkRecords(t, newDecoder(t, m).Decode([]byte(doc)), []want{
		rejected("", state.CodeInvalidField, `field "status" (path "Decision/@code"): required, not found in the record`)})
}

// TestRecords: a list of records, each decoded alone.
func TestRecords(t *testing.T) {
	m := &config.Mapping{
		Records: "//Item", ID: "Ref", Status: "State", Containers: "Cntr", At: "Time",
		AtLayout: "2006-01-02 15:04:05", AtZone: "Asia/Shanghai", Agency: "../@authority",
		Hold: "HoldType", HoldValues: map[string]string{"XRAY": "7H"},
		StatusValues: map[string]string{"R": "released", "H": "held"},
	}
	item := func(ref, st, extra string) string {
		return fmt.Sprintf("<Item><Ref>%s</Ref><State>%s</State><Cntr>MSCU1234566</Cntr><Time>2026-11-28 10:15:00</Time>%s</Item>", ref, st, extra)
	}
	doc := `<Page><List authority="customs">` + item("1", "R", "") + item("2", "H", "<HoldType>xray</HoldType>") +
		item("3", "R", "<HoldType>XRAY</HoldType>") + item("4", "H", "<HoldType>DOG</HoldType>") +
		`</List><List authority="quarantine">` + item("5", "R", "") + `</List><List>` + item("6", "R", "") + `</List></Page>`
	ev := func(id string, st state.Status, hold, agency string) state.AgencyEvent {
		return state.AgencyEvent{ID: id, Agency: agency, Status: st, Hold: hold, Containers: []string{"MSCU1234566"}, At: at("2026-11-28T10:15:00+08:00")}
	}
	checkRecords(t, newDecoder(t, m).Decode([]byte(doc)), []want{
		ok("record 1", ev("1", state.Released, "", "customs")),
		ok("record 2", ev("2", state.Held, "7H", "customs")),
		rejected("record 3", state.CodeInvalidField, `field "hold" (path "HoldType"): "7H" is a hold type, but status "released" is not about one hold (only held and hold_removed take a hold)`),
		rejected("record 4", state.CodeInvalidField, `field "hold" (path "HoldType"): "DOG" is not in hold_values (known: "XRAY")`),
		ok("record 5", ev("5", state.Released, "", "quarantine")),
		rejected("record 6", state.CodeInvalidField, `field "agency" (path "../@authority"): required, not found in the record`),
	})

	for doc, reason := range map[string]string{
		`<Page><List/></Page>`:   `records (path "//Item"): selects no element in the document`,
		`<Page><Item>x</Item>`:   `payload is not well-formed XML: XML syntax error on line 1: unexpected EOF`,
		`<Page><Item/></Page>x`:  `text outside the root element (line 1): "x"`,
		`<Page/><Page/>`:         `a second root element <Page> (line 1): a document has one`,
		``:                       `payload is not XML: no root element`,
		`{"json":"document"}`:    `text outside the root element (line 1): "{\"json\":\"document\"}"`,
		"<Page>\xff</Page>":      `payload is not well-formed XML: XML syntax error on line 1: invalid UTF-8`,
		`<Page>&unknown;</Page>`: `payload is not well-formed XML: XML syntax error on line 1: invalid character entity &unknown;`,
	} {
		checkRecords(t, newDecoder(t, m).Decode([]byte(doc)), []want{rejected("", state.CodeMalformed, reason)})
	}

	// records that are not elements
	for path, reason := range map[string]string{
		"//Item/@id":   `records (path "//Item/@id"): selects the attribute @id, want elements`,
		"//Ref/text()": `records (path "//Ref/text()"): selects a text node, want elements`,
	} {
		m := *m
		m.Records = path
		checkRecords(t, newDecoder(t, &m).Decode([]byte(`<Page><Item id="1"><Ref>1</Ref></Item></Page>`)), []want{rejected("", state.CodeMalformed, reason)})
	}
}

// TestComputedValues: an XPath may compute a string, number or boolean.
func TestComputedValues(t *testing.T) {
	m := &config.Mapping{
		ID: "concat(@office, '-', count(Equipment))", Status: "@done = 'yes'", Containers: "normalize-space(Box)",
		At: "Time", Reason: "number(Missing)", BL: "substring(Ref, 1, 4)",
		StatusValues: map[string]string{"true": "released", "false": "held"},
	}
	doc := `<N office="SHA" done="yes"><Equipment/><Equipment/><Box>  MSCU 1234566 </Box><Time>2026-11-28T10:15:00Z</Time><Ref>ABCD1234</Ref></N>`
	checkRecords(t, newDecoder(t, m).Decode([]byte(doc)), []want{ok("", state.AgencyEvent{
		ID: "SHA-2", Status: state.Released, Containers: []string{"MSCU1234566"}, BL: "ABCD", At: at("2026-11-28T10:15:00Z"),
	})})
}

// TestHostileDocuments: what format mapped_xml refuses before it builds a
// tree (see the package comment).
func TestHostileDocuments(t *testing.T) {
	dec := newDecoder(t, &config.Mapping{
		Records: "//Item", ID: "Ref", Status: "State", Containers: "Cntr", At: "Time",
		StatusValues: map[string]string{"R": "released"},
	})
	deep := strings.Repeat("<a>", mappedxml.MaxDepth+1) + strings.Repeat("</a>", mappedxml.MaxDepth+1)
	many := "<r>" + strings.Repeat("<i/>", mappedxml.MaxNodes) + "</r>"
	huge := "<r>" + strings.Repeat(" ", mappedxml.MaxBytes) + "</r>"
	items := "<r>" + strings.Repeat("<Item/>", mappedxml.MaxRecords+1) + "</r>"
	tests := []struct {
		name, doc, code, reason string
	}{
		{"external entity (XXE)", `<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<r><Item><Ref>&xxe;</Ref></Item></r>`, state.CodeMalformed,
			`a <!DOCTYPE ...> declaration (line 2): DTDs and entity declarations are refused, so nothing is expanded or fetched`},
		{"billion laughs", `<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<lolz>&lol2;</lolz>`, state.CodeMalformed,
			`a <!DOCTYPE ...> declaration (line 1): DTDs and entity declarations are refused, so nothing is expanded or fetched`},
		{"external DTD", `<!DOCTYPE r SYSTEM "http://attacker.example/r.dtd"><r/>`, state.CodeMalformed,
			`a <!DOCTYPE ...> declaration (line 1): DTDs and entity declarations are refused, so nothing is expanded or fetched`},
		{"entity declaration inside the root", `<r><!ENTITY x "y"></r>`, state.CodeMalformed,
			`a <!ENTITY ...> declaration (line 1): DTDs and entity declarations are refused, so nothing is expanded or fetched`},
		{"deep nesting", deep, state.CodeMalformed, `elements nest deeper than 64 (line 1)`},
		{"too many nodes", many, state.CodeMalformed, `more than 500000 elements, attributes, text nodes and comments`},
		{"too large", huge, state.CodeTooLarge, fmt.Sprintf(`document is %d bytes, more than the 16777216 format mapped_xml reads`, len(huge))},
		{"too many records", items, state.CodeMalformed, `records (path "//Item"): more than 10000 records in one document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRecords(t, dec.Decode([]byte(tt.doc)), []want{rejected("", tt.code, tt.reason)})
		})
	}
}

type keyErr struct{ key, msg string }

func TestCheckMapping(t *testing.T) {
	valid := func() *config.Mapping { return noticeMapping() }
	with := func(edit func(m *config.Mapping)) config.Source {
		m := valid()
		edit(m)
		return source(m)
	}
	tests := []struct {
		name string
		src  config.Source
		want []keyErr
	}{
		{"valid", source(valid()), nil},
		{"another format", config.Source{Format: "mapped_json", Keys: config.NewKeys(mappedxml.Config{Mapping: valid()})}, nil},
		{"no mapping", config.Source{Kind: "agency", Agency: "customs", Format: mappedxml.Format},
			[]keyErr{{"mapping", "required for format mapped_xml"}}},
		{"tos source", config.Source{Kind: "tos", Format: mappedxml.Format, Keys: config.NewKeys(mappedxml.Config{Mapping: valid()})},
			[]keyErr{{"kind", `format mapped_xml decodes agency events only; want kind "agency", got "tos"`}}},
		{"required paths", with(func(m *config.Mapping) { m.ID, m.Status, m.Containers, m.At = "", " ", "", "" }),
			[]keyErr{{"mapping.id", "required: the XPath of the event id"}, {"mapping.status", "required: the XPath of their status word"},
				{"mapping.containers", "required"}, {"mapping.at", "required"}}},
		{"XPaths that do not compile", with(func(m *config.Mapping) {
			m.ID, m.Records, m.Reason, m.Hold = "Notice[", "//Item[@x=", "concat(", "$hold"
		}), []keyErr{
			{"mapping.id", `XPath "Notice[" does not compile`}, {"mapping.records", `XPath "//Item[@x=" does not compile`},
			{"mapping.reason", `XPath "concat(" does not compile`}, {"mapping.hold", `XPath "$hold" does not compile`},
		}},
		{"an unknown function", with(func(m *config.Mapping) { m.BL = "tokenize(Ref, ',')" }),
			[]keyErr{{"mapping.bl", `XPath "tokenize(Ref, ',')" does not compile`}}},
		{"records that are not nodes", with(func(m *config.Mapping) { m.Records = "count(//Item)" }),
			[]keyErr{{"mapping.records", `XPath "count(//Item)" gives the number 0, not nodes`}}},
		{"blank hold", with(func(m *config.Mapping) { m.Hold = " " }),
			[]keyErr{{"mapping.hold", "blank"}}},
		{"hold_values without hold", with(func(m *config.Mapping) { m.HoldValues = map[string]string{"X": "7H"} }),
			[]keyErr{{"mapping.hold_values", "needs mapping.hold"}}},
		{"bad status_values", with(func(m *config.Mapping) { m.StatusValues = map[string]string{"R": "ok", "h": "held", "H": "released"} }),
			[]keyErr{{"mapping.status_values.H", `"H" and "h" differ only in case`}, {"mapping.status_values.R", `want released, held[:TYPE], hold_removed[:TYPE] or revoked, got "ok"`}}},
		{"no status_values", with(func(m *config.Mapping) { m.StatusValues = nil }),
			[]keyErr{{"mapping.status_values", "required"}}},
		{"layout without zone", with(func(m *config.Mapping) { m.AtLayout = "20060102150405" }),
			[]keyErr{{"mapping.at_zone", `required: at_layout "20060102150405" has no UTC offset`}}},
		{"zone with an offset layout", with(func(m *config.Mapping) { m.AtZone = "Asia/Shanghai" }),
			[]keyErr{{"mapping.at_zone", "not used"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := mappedxml.Check(tt.src)
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %q, want %d", errs, len(tt.want))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(errs, func(e config.KeyError) bool { return e.Key == w.key && strings.Contains(e.Msg, w.msg) }) {
					t.Errorf("no error %s: %s in %q", w.key, w.msg, errs)
				}
			}
			if tt.src.Format != mappedxml.Format {
				return
			}
			_, err := adapters.NewDecoder(tt.src)
			if (err == nil) != (len(errs) == 0) {
				t.Fatalf("NewDecoder error %v, Check %q", err, errs)
			}
		})
	}

	src := source(valid())
	src.Agency = ""
	if _, err := adapters.NewDecoder(src); err == nil || !strings.Contains(err.Error(), "source customs-xml: format mapped_xml: agency: required") {
		t.Errorf("NewDecoder without an agency: %v", err)
	}
}

// TestConfigLines: portsync check reports a bad XPath on its line.
func TestConfigLines(t *testing.T) {
	sources := `sources:
  - name: customs-xml
    type: file_drop
    dir: /var/spool/portsync/customs
    kind: agency
    agency: customs
    format: mapped_xml
    mapping:
      records: /Page/Item[
      id: Ref
      status: State
      status_values: {R: released}
      containers: Cntr
      at: Time
`
	_, err := config.Parse("portsync.yaml", []byte(configHead+sources), hookRegistry{})
	want := `portsync.yaml:15: sources[0].mapping.records: XPath "/Page/Item[" does not compile`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("errors %v\nwant %s", err, want)
	}

	// A mapping is refused on a format that does not use it (by the
	// registry, which knows every format's keys).
	_, err = config.Parse("portsync.yaml", []byte(configHead+strings.Replace(strings.Replace(sources, "mapped_xml", "edifact", 1), "/Page/Item[", "/Page/Item", 1)),
		adapters.Registry)
	want = `portsync.yaml:14: sources[0].mapping: only used by formats mapped_json and mapped_xml, and this source's format is "edifact"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("errors %v\nwant %s", err, want)
	}
}

// TestConcurrentDecode: one decoder may be used from several goroutines.
func TestConcurrentDecode(t *testing.T) {
	dec := newDecoder(t, noticeMapping())
	done := make(chan []adapters.Record)
	for range 8 {
		go func() { done <- dec.Decode([]byte(notice)) }()
	}
	for range 8 {
		checkRecords(t, <-done, []want{ok("", noticeEvent)})
	}
}
