package jsonstrict

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// maxCleanNames is the most names clean keeps on its stack before it
// leaves the document to check: past it, a linear search per name would
// make a hostile object of many members quadratic, and check hashes them.
const maxCleanNames = 64

// span is a member name's place in the document, quotes excluded.
type span struct{ start, end int }

// cleanFrame is one open object or array of clean's walk.
type cleanFrame struct {
	object  bool
	wantKey bool // objects: the next string is a name
	names   int  // objects: where its names begin on the names stack
}

// clean is the fast pass every message takes: it reports true only for
// one valid JSON value with no name repeated in any object, and false for
// anything it cannot vouch for, which then goes to check. json.Valid
// settles the syntax, so the walk after it only has to tell names from
// values. A name with an escape or with bytes that are not UTF-8 is left
// to check: encoding/json reads "\u0061" as "a" and every invalid byte as
// U+FFFD, so their raw bytes do not say whether two names are the same.
func clean(data []byte, skip string) bool {
	if !json.Valid(data) {
		return false
	}
	var (
		stackBuf [16]cleanFrame
		namesBuf [32]span
		stack    = stackBuf[:0]
		names    = namesBuf[:0]
	)
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			stack = append(stack, cleanFrame{object: c == '{', wantKey: c == '{', names: len(names)})
		case '}', ']':
			top := len(stack) - 1
			names = names[:stack[top].names]
			stack = stack[:top]
		case ',':
			if top := len(stack) - 1; stack[top].object {
				stack[top].wantKey = true
			}
		case '"':
			end := stringEnd(data, i+1)
			top := len(stack) - 1
			if top < 0 || !stack[top].object || !stack[top].wantKey {
				i = end
				continue
			}
			stack[top].wantKey = false
			name := data[i+1 : end]
			if hasEscape(name) || !utf8.Valid(name) || len(names) == maxCleanNames {
				return false
			}
			for _, n := range names[stack[top].names:] {
				if bytes.Equal(data[n.start:n.end], name) {
					return false
				}
			}
			names = append(names, span{i + 1, end})
			i = end
			if top == 0 && skip != "" && string(name) == skip {
				i = valueEnd(data, valueStart(data, end+1))
			}
		}
	}
	return true
}

// stringEnd is the index of the quote that closes the string whose first
// byte is at i, in a document json.Valid accepted.
func stringEnd(data []byte, i int) int {
	for {
		switch data[i] {
		case '"':
			return i
		case '\\':
			i++
		}
		i++
	}
}

// valueStart is the index of the first byte of the member value whose
// name closes before i, in a document json.Valid accepted.
func valueStart(data []byte, i int) int {
	for data[i] != ':' {
		i++
	}
	return skipSpace(data, i+1)
}

// valueEnd is the index of the last byte of the value that begins at i, in
// a document json.Valid accepted.
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i+1)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = stringEnd(data, i+1)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i
				}
			}
		}
	}
	for i+1 < len(data) && !isSpace(data[i+1]) && data[i+1] != ',' && data[i+1] != '}' && data[i+1] != ']' {
		i++
	}
	return i
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
