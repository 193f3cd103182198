package jsonstrict_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters/jsonstrict"
)

func TestCheckDuplicates(t *testing.T) {
	cases := []struct {
		name, doc, want string // want: the error, "" for none
	}{
		{"finding 8", `{"id":"1","status":"held","at":"x","status":"released"}`, `duplicate key "status" in the object at $`},
		{"escaped name", `{"status":"held","st\u0061tus":"released"}`, `duplicate key "status" in the object at $`},
		{"nested object", `{"a":{"b":1,"c":{"d":1,"d":2}}}`, `duplicate key "d" in the object at $.a.c`},
		{"in an array", `{"events":[{"id":"1"},{"id":"2","id":"3"}]}`, `duplicate key "id" in the object at $.events[1]`},
		{"root array", `[{}, [{"x":1}], [1, {"x":1,"x":1}]]`, `duplicate key "x" in the object at $[2][1]`},
		{"odd names on the path", `{"a b":{"":{"k":1,"k":1}}}`, `duplicate key "k" in the object at $["a b"][""]`},
		{"empty name twice", `{"":1,"":2}`, `duplicate key "" in the object at $`},
		{"after a nested value", `{"a":{"a":1},"b":[1,2],"a":3}`, `duplicate key "a" in the object at $`},
		{"large object", manyKeys(40, 39), `duplicate key "k39" in the object at $`},
		{"same names in sibling objects", `[{"a":1},{"a":1}]`, ""},
		{"same name at two depths", `{"a":{"a":{"a":1}}}`, ""},
		{"case differs", `{"status":1,"Status":2}`, ""},
		{"large object without repeats", manyKeys(40, -1), ""},
		{"scalars", `"x"`, ""},
		{"number", ` 1e400 `, ""},
		{"empty containers", `{"a":{},"b":[],"c":[[]]}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := jsonstrict.Check([]byte(c.doc))
			if c.want == "" {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			var dup *jsonstrict.DuplicateKeyError
			if !errors.As(err, &dup) || err.Error() != c.want {
				t.Fatalf("Check: %v (%T), want %s", err, err, c.want)
			}
		})
	}
}

// manyKeys is an object of n members k0, k1, ... with k<dup> named again
// at the end (dup < 0: no repeat).
func manyKeys(n, dup int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":1`)
	}
	if dup >= 0 {
		b.WriteString(`,"k` + strconv.Itoa(dup) + `":2`)
	}
	b.WriteByte('}')
	return b.String()
}

// TestCheckSyntax: anything that is not one JSON value fails with the
// error json.Unmarshal gives, word for word.
func TestCheckSyntax(t *testing.T) {
	for _, doc := range []string{
		``, ` `, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[1,]`, `[1 2]`,
		`{} {}`, `{}x`, `1 2`, `"x" "y"`, `<html>`, `nul`, `"\x"`, `{"a":1}}`, `]`, `[}`,
	} {
		err := jsonstrict.Check([]byte(doc))
		want := json.Unmarshal([]byte(doc), new(json.RawMessage))
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("Check(%q) = %v, want %v", doc, err, want)
		}
	}
}

func TestCheckExcept(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"repeat inside the skipped member", `{"events":[{"id":1,"id":2}],"next":"c"}`, ""},
		{"skipped member repeated", `{"events":[],"next":"c","events":[]}`, `duplicate key "events" in the object at $`},
		{"repeat elsewhere", `{"events":[{"id":1,"id":2}],"paging":{"next":1,"next":2}}`, `duplicate key "next" in the object at $.paging`},
		{"same name deeper is not skipped", `{"x":{"events":{"a":1,"a":2}}}`, `duplicate key "a" in the object at $.x.events`},
		{"skipped member must be JSON", `{"events":[{"id":}]}`, "invalid character '}' looking for beginning of value"},
		{"root array is checked", `[{"events":{"a":1,"a":2}}]`, `duplicate key "a" in the object at $[0].events`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := jsonstrict.CheckExcept([]byte(c.doc), "events")
			if (err == nil) != (c.want == "") || err != nil && err.Error() != c.want {
				t.Fatalf("CheckExcept: %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzCheck holds Check to encoding/json: it accepts exactly what
// json.Valid accepts less the documents with a repeated name, which a
// decode into generic values and back shows (a map keeps one value per
// name, so a repeat changes the member count).
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		event, `{"status":"held","status":"released"}`, `{"a":[{"b":1,"b":2}]}`, `{"\u0061":1,"a":2}`,
		`{"":1,"":2}`, `[]`, `{} {}`, `{"a":1,}`, "{\"\xff\":1,\"\xfe\":2}", `1e999`, `[[[[{"a":{"a":{}}}]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := jsonstrict.Check(data)
		var dup *jsonstrict.DuplicateKeyError
		if !json.Valid(data) {
			if err == nil || errors.As(err, &dup) {
				t.Fatalf("invalid JSON: Check = %v, want a syntax error", err)
			}
			return
		}
		if err != nil && !errors.As(err, &dup) {
			t.Fatalf("valid JSON: Check = %v, want nil or a duplicate", err)
		}
		if (err == nil) != !hasRepeat(data) {
			t.Fatalf("Check = %v, but repeated names: %v", err, hasRepeat(data))
		}
		if err != nil && !strings.HasPrefix(dup.Path, "$") {
			t.Fatalf("path %q does not start at $", dup.Path)
		}
		skipErr := jsonstrict.CheckExcept(data, "a")
		if err == nil && skipErr != nil {
			t.Fatalf("CheckExcept = %v where Check passes", skipErr)
		}
	})
}

// hasRepeat is a slow oracle: the names in the document against the
// members its objects keep when decoded into maps, which hold one value
// per name.
func hasRepeat(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	return countMembers(data) != countMembersOf(v)
}

// countMembers counts the names in the document, repeats included.
func countMembers(data []byte) int {
	type open struct{ object, wantName bool }
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []open
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if k := len(stack) - 1; k >= 0 && stack[k].wantName && tok != json.Delim('}') {
			n++
			stack[k].wantName = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, open{tok == json.Delim('{'), tok == json.Delim('{')})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if k := len(stack) - 1; k >= 0 && stack[k].object {
			stack[k].wantName = true
		}
	}
}

func countMembersOf(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := len(v)
		for _, e := range v {
			n += countMembersOf(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += countMembersOf(e)
		}
		return n
	}
	return 0
}

// event is a typical agency event (DESIGN 3.1).
const event = `{
  "id": "REL-2026-000123",
  "agency": "customs",
  "status": "released",
  "containers": ["MSCU1234566", "TGHU1234567"],
  "bl": "MEDUSH123456",
  "declaration": "220120261000123456",
  "reason": "documents checked",
  "at": "2026-11-28T10:15:00+08:00"
}`

// BenchmarkCheck compares the scan with json.Valid, the floor any JSON
// decoder pays, on a typical event.
func BenchmarkCheck(b *testing.B) {
	data := []byte(event)
	b.Run("jsonstrict.Check", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := jsonstrict.Check(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}
