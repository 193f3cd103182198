package state

import (
	"errors"
	"fmt"
)

// letterValues are the ISO 6346 equivalent values of the letters A to Z:
// counting from 10 and skipping 11, 22 and 33, the multiples of the modulus.
var letterValues = [26]int{
	10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24,
	25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38,
}

// ParseContainer normalises s (upper case, spaces and dashes removed) and
// checks it as an ISO 6346 container number: three letters of owner code, a
// category letter U, J or Z, six digits of serial number and the check digit.
// The error is a *Rejection whose reason names the bad part; a wrong check
// digit names the digit that would have been right.
func ParseContainer(s string) (string, error) {
	id, ok := normaliseContainer(s)
	if !ok {
		return "", reject(CodeInvalidField, "container %s: want 11 characters (4 letters, 7 digits) of ASCII, got %d bytes", quoteShort(s), len(s))
	}
	if len(id) != 11 {
		return "", reject(CodeInvalidField, "container %q: want 11 characters (4 letters, 7 digits), got %d", s, len(id))
	}
	for i := 0; i < 4; i++ {
		if id[i] < 'A' || id[i] > 'Z' {
			return "", reject(CodeInvalidField, "container %q: character %d must be a letter, got %q", s, i+1, id[i])
		}
	}
	if c := id[3]; c != 'U' && c != 'J' && c != 'Z' {
		return "", reject(CodeInvalidField, "container %q: category letter must be U, J or Z, got %q", s, c)
	}
	for i := 4; i < 11; i++ {
		if id[i] < '0' || id[i] > '9' {
			return "", reject(CodeInvalidField, "container %q: character %d must be a digit, got %q", s, i+1, id[i])
		}
	}
	want := CheckDigit(id[:10])
	if got := int(id[10] - '0'); got != want {
		return "", reject(CodeBadCheckDigit, "container %q: check digit is %d, the right digit for %s is %d", s, got, id[:10], want)
	}
	return id, nil
}

// CheckDigit computes the ISO 6346 check digit of the first ten characters
// of a container number (owner code, category and serial), which must
// already be upper-case letters and digits.
func CheckDigit(prefix string) int {
	sum, weight := 0, 1
	for i := 0; i < len(prefix) && i < 10; i++ {
		c := prefix[i]
		v := int(c - '0')
		if c >= 'A' && c <= 'Z' {
			v = letterValues[c-'A']
		}
		sum += v * weight
		weight *= 2
	}
	return sum % 11 % 10
}

// normaliseContainer upper-cases s and drops spaces and dashes. It gives
// up (ok false) on anything that cannot be a container number once
// normalised: non-ASCII runes (some upper-case to ASCII letters, which would
// let a lookalike through) or more than 11 characters.
func normaliseContainer(s string) (id string, ok bool) {
	var b [11]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 0x80 || n == len(b):
			return "", false
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		b[n] = c
		n++
	}
	return string(b[:n]), true
}

// quoteShort quotes s, cut to a length fit for a reason.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// Rejection is why an inbound message was refused. Code is a stable word for
// scripts and metrics; Reason is a sentence for people that names the field
// and the value.
type Rejection struct {
	Code   string
	Reason string
}

// Rejection codes, the contract of the dead-letter API.
const (
	CodeMalformed       = "malformed"
	CodeInvalidField    = "invalid_field"
	CodeBadCheckDigit   = "bad_check_digit"
	CodeForbiddenAgency = "forbidden_agency"
	CodeTooLarge        = "too_large"
	// CodeUnstorable: the store refused the record for a reason no retry
	// cures; it is dead-lettered so the records after it can commit.
	CodeUnstorable = "unstorable"
)

func (r *Rejection) Error() string { return r.Code + ": " + r.Reason }

// AsRejection is the rejection err carries, or, for an error that carries
// none (a decoder bug, a failed read), a malformed rejection with err's
// text: every refused input ends with a code and a reason. Nil for nil.
func AsRejection(err error) *Rejection {
	if err == nil {
		return nil
	}
	var rej *Rejection
	if errors.As(err, &rej) {
		return rej
	}
	return &Rejection{Code: CodeMalformed, Reason: err.Error()}
}

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Reject returns a *Rejection with the given code and a formatted reason.
func Reject(code, format string, args ...any) error {
	return reject(code, format, args...)
}
