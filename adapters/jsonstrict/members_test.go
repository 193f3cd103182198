package jsonstrict_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/portsync/portsync/adapters/jsonstrict"
)

func TestMembers(t *testing.T) {
	doc := `{ "id" : "1" ,"n":-1.5e3,"t":true, "o":{"a":[1,"]"]},"a":[ ],` +
		`"st\u0061tus":"h\u00e9ld","e":"","z":null}`
	want := map[string]string{
		"id": `"1"`, "n": `-1.5e3`, "t": `true`, "o": `{"a":[1,"]"]}`, "a": `[ ]`,
		"status": `"h\u00e9ld"`, "e": `""`, "z": `null`,
	}
	got := map[string]string{}
	jsonstrict.Members([]byte(doc), func(name string, value []byte) { got[name] = string(value) })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	if s, ok := jsonstrict.String([]byte(want["status"])); !ok || s != "héld" {
		t.Fatalf("String(%s) = %q, %v", want["status"], s, ok)
	}
	var items []string
	jsonstrict.Elements([]byte(`[ "a" ,{"b":[2]}, 3,[] ]`), func(v []byte) { items = append(items, string(v)) })
	if want := []string{`"a"`, `{"b":[2]}`, `3`, `[]`}; !reflect.DeepEqual(items, want) {
		t.Fatalf("Elements = %q, want %q", items, want)
	}
	jsonstrict.Elements([]byte(`[]`), func(v []byte) { t.Fatalf("Elements of [] gave %s", v) })
	jsonstrict.Members([]byte(`{ }`), func(n string, v []byte) { t.Fatalf("Members of {} gave %s", n) })
}

// FuzzMembers holds the walk to encoding/json: for every object Check
// accepts, the members are what json.Unmarshal puts in a map of raw values,
// each array's elements what it puts in a slice of them, and each string
// what it decodes.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		event, `{"a":[1,{"b":"\"}"}],"c":"\u00e9\\"}`, `{ "x" : [ ] , "y":{ } }`, "{\"k\":\"\xff\"}",
		`{"\u0061":[true,false,null,-0.5E+2]}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.TrimSpace(data)
		if len(data) == 0 || data[0] != '{' || jsonstrict.Check(data) != nil {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("Check passed what json.Unmarshal refuses: %v", err)
		}
		got := map[string]json.RawMessage{}
		jsonstrict.Members(data, func(name string, value []byte) { got[name] = value })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Members = %q, want %q", got, want)
		}
		for _, v := range got {
			checkValue(t, v)
		}
	})
}

func checkValue(t *testing.T, v []byte) {
	var s string
	err := json.Unmarshal(v, &s)
	isString := err == nil && v[0] == '"' // json.Unmarshal takes null for a string too
	if got, ok := jsonstrict.String(v); ok != isString || ok && got != s {
		t.Fatalf("String(%s) = %q, %v; json.Unmarshal: %q, %v", v, got, ok, s, err)
	}
	if v[0] != '[' {
		return
	}
	var want []json.RawMessage
	if err := json.Unmarshal(v, &want); err != nil {
		t.Fatal(err)
	}
	got := []json.RawMessage{}
	jsonstrict.Elements(v, func(e []byte) { got = append(got, e) })
	if len(got) != len(want) {
		t.Fatalf("Elements(%s) = %q, want %q", v, got, want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("Elements(%s) = %q, want %q", v, got, want)
		}
		checkValue(t, got[i])
	}
}
