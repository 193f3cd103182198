package jsonstrict

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Members calls fn with each member of an object, in order: its name, read
// as encoding/json reads it (escapes undone), and the raw bytes of its
// value. The object must be one that Check or CheckExcept accepted, with
// no space around it: Members walks it without checking it again, which
// is what makes it cheaper than json.Unmarshal into a map.
func Members(object []byte, fn func(name string, value []byte)) {
	i := 1
	for {
		i = skipSpace(object, i)
		switch object[i] {
		case '}':
			return
		case ',':
			i = skipSpace(object, i+1)
		}
		end := stringEnd(object, i+1)
		name, _ := String(object[i : end+1])
		start := valueStart(object, end+1)
		last := valueEnd(object, start)
		fn(name, object[start:last+1])
		i = last + 1
	}
}

// Elements calls fn with the raw bytes of each element of an array that
// Check accepted (on its own or as part of a document), with no space
// around it.
func Elements(array []byte, fn func(value []byte)) {
	i := 1
	for {
		i = skipSpace(array, i)
		switch array[i] {
		case ']':
			return
		case ',':
			i = skipSpace(array, i+1)
		}
		last := valueEnd(array, i)
		fn(array[i : last+1])
		i = last + 1
	}
}

// String is the value of a JSON string that Check accepted, read as
// encoding/json reads it, and whether value is a string at all.
func String(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' {
		return "", false
	}
	if inner := value[1 : len(value)-1]; !hasEscape(inner) && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	return s, json.Unmarshal(value, &s) == nil
}

func hasEscape(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }
