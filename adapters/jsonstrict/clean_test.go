package jsonstrict

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestCleanAgreesWithCheck: the fast pass passes what the careful pass
// passes, and hands on the rest, escapes and odd bytes in names included.
func TestCleanAgreesWithCheck(t *testing.T) {
	cases := []struct {
		doc  string
		skip string
		want bool // clean's answer
	}{
		{`{"id":"1","status":"held"}`, "", true},
		{`{"id":"1","status":"held","status":"released"}`, "", false},
		{`{"a":{"b":1,"c":{"d":1,"d":2}}}`, "", false},
		{`{"a":{"a":{"a":1}}}`, "", true},
		{`[{"a":1},{"a":1}]`, "", true},
		{`{"a":{"x":1},"b":{"x":1}}`, "", true},
		{`{"a":{"x":1},"a":2}`, "", false},
		{`{"s":"a,\"b\":1","b":2}`, "", true},
		{`{"s":"{\"b\":1,","t":"\\"}`, "", true},
		{`{"st\u0061tus":1,"status":2}`, "", false}, // escaped name: left to check
		{"{\"\xff\":1,\"\xfe\":2}", "", false},      // both read as U+FFFD
		{`{"a":1,}`, "", false},                     // not JSON
		{`{} {}`, "", false},                        // two values
		{` "x" `, "", true},
		{`{"events":[{"id":1,"id":2}],"next":"c"}`, "events", true},
		{`{"events":[],"next":"c","events":[]}`, "events", false},
		{`{"events" : 12 , "next":{"a":1,"a":2}}`, "events", false},
		{`{"events" : 12 , "next":{"a":1}}`, "events", true},
		{`{"events":"{\"a\":1,\"a\":2}","x":1}`, "events", true},
		{`{"events":{"a":{"a":1,"a":2}},"x":1}`, "events", true},
		{`{"x":{"events":{"a":1,"a":2}}}`, "events", false},
		{`[{"events":{"a":1,"a":2}}]`, "events", false},
		{manyNames(maxCleanNames + 1), "", false}, // many names: check hashes them
		{manyNames(maxCleanNames - 1), "", true},
	}
	for _, c := range cases {
		got := clean([]byte(c.doc), c.skip)
		if got != c.want {
			t.Errorf("clean(%q, %q) = %v, want %v", c.doc, c.skip, got, c.want)
		}
		if got && check([]byte(c.doc), c.skip) != nil {
			t.Errorf("clean passed %q, which check refuses: %v", c.doc, check([]byte(c.doc), c.skip))
		}
	}
}

func manyNames(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":[1]`)
	}
	b.WriteByte('}')
	return b.String()
}

// FuzzClean holds the fast pass to the careful one: never a pass where
// check refuses, and a pass wherever check passes a document whose names
// are plain (no escapes, ASCII) and few.
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","agency":"customs","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`,
		`{"a":{"a":1},"b":[1,{"b":2,"c":"}"}],"a":3}`, `{"events":[{"id":1,"id":2}],"next":null}`,
		`{"events":-1.5e3 ,"x":true}`, `{"\u0061":1,"a":2}`, "{\"\xff\":1,\"\xfe\":2}", `[[],{},""]`,
	} {
		f.Add([]byte(s), "events")
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, data []byte, skip string) {
		fast, careful := clean(data, skip), check(data, skip) == nil
		if fast && !careful {
			t.Fatalf("clean passed what check refuses: %v", check(data, skip))
		}
		if careful && !fast && plainNames(data) {
			t.Fatalf("clean refused a document check passes, with plain names")
		}
	})
}

// plainNames reports whether every string in data is ASCII without
// escapes, and there are fewer strings than clean keeps names.
func plainNames(data []byte) bool {
	if bytes.IndexByte(data, '\\') >= 0 || bytes.Count(data, []byte{'"'}) >= 2*maxCleanNames {
		return false
	}
	for _, c := range data {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
