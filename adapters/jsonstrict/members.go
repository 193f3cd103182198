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
	for i, more := nextItem(object, 1); more; {
		end := stringEnd(object, i+1)
		name, _ := String(object[i : end+1])
		start := valueStart(object, end+1)
		last := valueEnd(object, start)
		fn(name, object[start:last+1])
		i, more = nextItem(object, last+1)
	}
}

// Elements calls fn with the raw bytes of each element of an array that
// Check accepted (on its own or as part of a document), with no space
// around it.
func Elements(array []byte, fn func(value []byte)) {
	for i, more := nextItem(array, 1); more; {
		last := valueEnd(array, i)
		fn(array[i : last+1])
		i, more = nextItem(array, last+1)
	}
}

// nextItem is where the member or element after i begins, past space and
// a comma, or false at the bracket that closes them.
func nextItem(data []byte, i int) (int, bool) {
	i = skipSpace(data, i)
	switch data[i] {
	case '}', ']':
		return i, false
	case ',':
		i = skipSpace(data, i+1)
	}
	return i, true
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
