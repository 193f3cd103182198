package mappedxml_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// examples is where the example mappings and their sample documents are.
const examples = "../../docs/examples/mapped_xml"

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examples, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// cnWant is what the Chinese release instruction sample decodes to.
var cnWant = []want{
	// PAS: one event per container, each at its own release time.
	ok("record 1", state.AgencyEvent{
		ID: "2248R20261128000101/CSQU3054383", Status: state.Released, Containers: []string{"CSQU3054383"},
		BL: "COSU6301234560", Declaration: "224820261000123456", Reason: "海关放行",
		At: at("2026-11-28T10:05:00+08:00"),
	}),
	ok("record 2", state.AgencyEvent{
		ID: "2248R20261128000101/MSKU7654328", Status: state.Released, Containers: []string{"MSKU7654328"},
		BL: "COSU6301234560", Declaration: "224820261000123456", Reason: "海关放行",
		At: at("2026-11-28T10:17:30+08:00"),
	}),
	// CPI: held, at the instruction's time (no time per container).
	ok("record 3", state.AgencyEvent{
		ID: "2248C20261128000044/OOLU8123457", Status: state.Held, Containers: []string{"OOLU8123457"},
		BL: "OOLU2601234567", Declaration: "224820261000123789", Reason: "检验检疫查验, 布控",
		At: at("2026-11-28T10:12:00+08:00"),
	}),
	// DEL: the earlier release is revoked.
	ok("record 4", state.AgencyEvent{
		ID: "2248D20261128000007/TCNU2468017", Status: state.Revoked, Containers: []string{"TCNU2468017"},
		BL: "CBHU2611000333", Declaration: "224820261000120001", Reason: "删除放行指令 2248R20261127000350",
		At: at("2026-11-28T10:15:00+08:00"),
	}),
	// "允许放行" in free text, no instruction type: not a release.
	rejected("record 5", state.CodeInvalidField, `field "status" (path "../../InstructionType"): required, not found in the record`),
}

// TestChineseReleaseInstruction decodes the shipped sample of a single
// window release instruction with the shipped mapping, as a configuration
// holding it would.
func TestChineseReleaseInstruction(t *testing.T) {
	src := parseSources(t, string(readExample(t, "cn-release-instruction.yaml")))
	dec, err := adapters.NewDecoder(src)
	if err != nil {
		t.Fatal(err)
	}
	sample := readExample(t, "cn-release-instruction.xml")
	checkRecords(t, dec.Decode(sample), cnWant)

	// A status code that is free text is no release either.
	text := strings.Replace(string(sample), "<InstructionNo>2248X20261128000002</InstructionNo>",
		"<InstructionNo>2248X20261128000002</InstructionNo><InstructionType>允许放行</InstructionType>", 1)
	recs := dec.Decode([]byte(text))
	checkRecords(t, recs[4:], []want{rejected("record 5", state.CodeInvalidField,
		`field "status" (path "../../InstructionType"): "允许放行" is not in status_values (known: "CPI", "DEL", "PAS")`)})

	// An empty code is not one.
	text = strings.Replace(string(sample), "<InstructionNo>2248X20261128000002</InstructionNo>",
		"<InstructionNo>2248X20261128000002</InstructionNo><InstructionType> </InstructionType>", 1)
	checkRecords(t, dec.Decode([]byte(text))[4:], []want{rejected("record 5", state.CodeInvalidField,
		`field "status" (path "../../InstructionType"): must not be empty`)})

	// Two codes in one instruction are ambiguous.
	text = strings.Replace(string(sample), "<InstructionType>CPI</InstructionType>",
		"<InstructionType>CPI</InstructionType><InstructionType>PAS</InstructionType>", 1)
	checkRecords(t, dec.Decode([]byte(text))[2:3], []want{rejected("record 3", state.CodeInvalidField,
		`field "status" (path "../../InstructionType"): selects more than one node ("CPI", "PAS"), want one`)})
}

// TestCUSRESLikeXML decodes the shipped CUSRES-like sample with the
// shipped mapping.
func TestCUSRESLikeXML(t *testing.T) {
	src := parseSources(t, string(readExample(t, "cusres.yaml")))
	dec, err := adapters.NewDecoder(src)
	if err != nil {
		t.Fatal(err)
	}
	recs := dec.Decode(readExample(t, "cusres.xml"))
	last := recs[len(recs)-1]
	recs = recs[:len(recs)-1]
	checkRecords(t, recs, []want{
		ok("record 1", state.AgencyEvent{
			ID: "NLCUSTOMS/4711/1", Status: state.Released, Containers: []string{"MSKU7654328", "MRKU1357906"},
			BL: "MAEU241234567", Declaration: "26NLD4000001234567", Reason: "Goods released for free circulation",
			At: at("2026-11-28T09:00:00+01:00"),
		}),
		ok("record 2", state.AgencyEvent{
			ID: "NLCUSTOMS/4711/2", Status: state.Held, Containers: []string{"TEMU9876540"},
			Declaration: "26NLD4000001234901", At: at("2026-11-28T09:02:00+01:00"),
		}),
		ok("record 3", state.AgencyEvent{
			ID: "NLCUSTOMS/4711/3", Status: state.Revoked, Containers: []string{"FCIU4242424"},
			Declaration: "26NLD4000001230042", At: at("2026-11-28T09:04:00+01:00"),
		}),
	})
	// The fourth has two GIS: refused, not read by its first code. The
	// reason names the whole XPath, so only its end is compared.
	rej, isRej := last.Err.(*state.Rejection)
	if !isRej || last.Position != "record 4" || rej.Code != state.CodeInvalidField ||
		!strings.HasPrefix(rej.Reason, `field "status" (path "concat( substring('withdrawn'`) ||
		!strings.HasSuffix(rej.Reason, `: "4 and another GIS" is not in status_values (known: "4", "5", "6", "7", "9", "withdrawn")`) {
		t.Errorf("record 4: %s %+v %v", last.Position, last.Agency, last.Err)
	}
}

// TestExamplesDirectory: every mapping in docs/examples/mapped_xml has its
// sample document. (The mappings are sources to add to a configuration,
// not configurations: they live in a directory of their own, out of reach
// of the test that runs portsync check on docs/examples/*.yaml.)
func TestExamplesDirectory(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) != 2 {
		t.Fatalf("mappings: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := os.Stat(strings.TrimSuffix(f, ".yaml") + ".xml"); err != nil {
			t.Errorf("%s has no sample: %v", f, err)
		}
	}
}

// TestREADMEExample: the README's mapped_xml example is the Chinese
// example mapping, and decodes its sample alike.
func TestREADMEExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(data), "\n### mapped_xml")
	if !found {
		t.Fatal("README has no mapped_xml section")
	}
	_, block, found := strings.Cut(section, "```yaml\n")
	block, _, found2 := strings.Cut(block, "```")
	if !found || !found2 {
		t.Fatal("the README's mapped_xml section has no yaml block")
	}
	src := parseSources(t, "sources:\n"+block)
	dec, err := adapters.NewDecoder(src)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, dec.Decode(readExample(t, "cn-release-instruction.xml")), cnWant)
}
