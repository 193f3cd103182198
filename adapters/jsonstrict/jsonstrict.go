// Package jsonstrict owns one rule every JSON decoder of portsync applies
// before it decodes: no object may name the same member twice, at any
// depth. RFC 8259 (section 4) leaves the meaning of repeated names to the
// reader, and readers disagree: encoding/json keeps the last value, gjson
// (mapped_json) the first, so {"status":"held",...,"status":"released"}
// would be a hold to one reader and a release to another. I-JSON (RFC 7493,
// section 2.3) forbids repeated names, and so does portsync. Names are
// compared after unescaping, as every reader compares them, so "st\u0061tus"
// repeats "status".
//
// Every inbound message is checked, so the check is built for speed: a
// fast pass (clean.go) vouches for the common document at about the cost
// of json.Valid, and the careful pass that names the repeat runs only on
// what it cannot vouch for. A decoder can then read the members of a
// checked document with Members, Elements and String, without decoding it
// a second time.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DuplicateKeyError is a member name repeated in one object. Path locates
// the object in the document, in JSONPath notation: $ is the whole
// document, $.events[2] the third element of its "events" member.
type DuplicateKeyError struct {
	Key  string
	Path string
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("duplicate key %q in the object at %s", e.Key, e.Path)
}

// Check reports whether data is exactly one JSON value in which no object
// repeats a member name. The error is encoding/json's own (as
// json.Unmarshal words it) for anything that is not one valid JSON value,
// else a *DuplicateKeyError for the first repeat.
func Check(data []byte) error {
	if clean(data, "") {
		return nil
	}
	return check(data, "")
}

// CheckExcept is Check without looking inside the value of the top-level
// member named skip, which must still be valid JSON. It is for a document
// that carries messages of its own, such as the events of a polled page:
// each goes to a decoder that checks it, so a repeat inside one message is
// that message's rejection, not the whole document's.
func CheckExcept(data []byte, skip string) error {
	if clean(data, skip) {
		return nil
	}
	return check(data, skip)
}

// frame is one open object or array. An object's names live in a slice
// while it is small, where a linear search beats hashing, and in a map
// once it grows, so a hostile object of many members costs linear time.
type frame struct {
	object  bool
	inValue bool   // objects: a name has been read, its value has not
	key     string // objects: the name of the member being read
	index   int    // arrays: the element being read
	names   []string
	set     map[string]struct{}
}

const smallObject = 16

// add records a name and reports whether it is new.
func (f *frame) add(name string) bool {
	if f.set != nil {
		if _, ok := f.set[name]; ok {
			return false
		}
		f.set[name] = struct{}{}
		return true
	}
	for _, n := range f.names {
		if n == name {
			return false
		}
	}
	f.names = append(f.names, name)
	if len(f.names) > smallObject {
		f.set = make(map[string]struct{}, 2*smallObject)
		for _, n := range f.names {
			f.set[n] = struct{}{}
		}
		f.names = nil
	}
	return true
}

// check is the careful pass: it finds the first repeat and its path, and
// words a syntax error as encoding/json does. It reads the document token
// by token with json.Decoder, ten times the cost of json.Valid, so it runs
// only on a document that clean could not pass.
func check(data []byte, skip string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers stay text: Token would otherwise parse each into a float64
	// only for it to be thrown away.
	dec.UseNumber()
	var stack []frame
	for {
		if skip != "" && len(stack) == 1 && stack[0].inValue && stack[0].key == skip {
			// The decoder's scanner reads the skipped value whole,
			// checking its syntax and nothing else.
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return syntaxError(data, err)
			}
			stack[0].inValue = false
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(data, err)
		}
		top := len(stack) - 1
		// In an object, Token yields a name (a string) before each value
		// and checks the colons and commas around it.
		if top >= 0 && stack[top].object && !stack[top].inValue && tok != json.Delim('}') {
			name := tok.(string)
			if !stack[top].add(name) {
				// A document broken further on is reported as broken,
				// whatever it repeats before the break.
				if !json.Valid(data) {
					return syntaxError(data, nil)
				}
				return &DuplicateKeyError{Key: name, Path: path(stack[:top])}
			}
			stack[top].key, stack[top].inValue = name, true
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, frame{object: tok == json.Delim('{')})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
		}
		// A value is complete: a scalar, or the container just closed.
		if len(stack) == 0 {
			if tok, err := dec.Token(); err != io.EOF {
				return syntaxError(data, trailing(tok, err))
			}
			return nil
		}
		if f := &stack[len(stack)-1]; f.object {
			f.inValue = false
		} else {
			f.index++
		}
	}
}

// trailing is the error of whatever follows the one value.
func trailing(tok json.Token, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("invalid %v after top-level value", tok)
}

// path renders the location of the innermost frame's object: the names
// and indexes that lead to it from the root.
func path(stack []frame) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, f := range stack {
		if !f.object {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		} else if isIdent(f.key) {
			b.WriteString("." + f.key)
		} else {
			b.WriteString("[" + strconv.Quote(f.key) + "]")
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z') && !(i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// syntaxError words a failure as json.Unmarshal would, so that every
// decoder reports bad JSON the same way whether or not it was scanned here
// first; the streaming decoder's own words (io.ErrUnexpectedEOF, "after
// object key") differ for the same mistake.
func syntaxError(data []byte, err error) error {
	if uerr := json.Unmarshal(data, new(json.RawMessage)); uerr != nil {
		return uerr
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
