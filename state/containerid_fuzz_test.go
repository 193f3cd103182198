package state_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

// fuzzRefNormalise is the normalisation ParseContainer documents: upper case,
// spaces and dashes removed, over the whole input.
func fuzzRefNormalise(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s))
}

func FuzzParseContainer(f *testing.F) {
	for _, s := range []string{
		"MSCU1234566", "TGHU1234567", "CSQU3054383", "AAAJ0000015", "ZZZZ9999996",
		"MSCU0000060", // sum mod 11 is 10: check digit 0
		"mscu1234566", "MSCU 123456 6", "MSCU-123456-6", " -mScU 1234-566- ",
		"MSCU1234567", // wrong check digit
		"MSCU0000061", // wrong, the right digit is 0
		"MSCX1234566", "M5CU1234566", "MSCU12345O6", "MSCU123456X",
		"MSCU123456", "MSCU12345660", "", " ", "-----------", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"MSCÜ1234566", "MSC\u00a01234566", "ＭＳＣＵ１２３４５６６", "MSCU1234566\n", "\xff\xfe",
		strings.Repeat("A", 65), strings.Repeat("-", 70) + "MSCU1234566",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := state.ParseContainer(s)
		ref := fuzzRefNormalise(s)
		if err != nil {
			rej, ok := err.(*state.Rejection)
			if !ok || rej == nil {
				t.Fatalf("ParseContainer(%q): error %T %v is not a *state.Rejection", s, err, err)
			}
			if rej.Code != state.CodeInvalidField && rej.Code != state.CodeBadCheckDigit {
				t.Fatalf("ParseContainer(%q): code %q", s, rej.Code)
			}
			if strings.TrimSpace(rej.Reason) == "" {
				t.Fatalf("ParseContainer(%q): empty reason", s)
			}
			if id != "" {
				t.Fatalf("ParseContainer(%q) = %q with error %v", s, id, err)
			}
			if rej.Code == state.CodeBadCheckDigit {
				// The number is well formed but for its last digit, and the
				// reason names the right one.
				if len(ref) != 11 {
					t.Fatalf("ParseContainer(%q): %s for %q of %d bytes", s, rej.Code, ref, len(ref))
				}
				want := strconv.Itoa(state.CheckDigit(ref[:10]))
				if int(ref[10]-'0') == state.CheckDigit(ref[:10]) {
					t.Fatalf("ParseContainer(%q): %s but %q has the right digit", s, rej.Code, ref)
				}
				if !strings.Contains(rej.Reason, ref[:10]) || !strings.Contains(rej.Reason, "is "+want) {
					t.Fatalf("ParseContainer(%q): reason %q does not name the right digit %s", s, rej.Reason, want)
				}
			}
			return
		}
		if len(id) != 11 {
			t.Fatalf("ParseContainer(%q) = %q, %d bytes", s, id, len(id))
		}
		for i := 0; i < 11; i++ {
			c := id[i]
			switch {
			case i < 4 && (c < 'A' || c > 'Z'):
				t.Fatalf("ParseContainer(%q) = %q: byte %d %q is not a letter", s, id, i, c)
			case i == 3 && c != 'U' && c != 'J' && c != 'Z':
				t.Fatalf("ParseContainer(%q) = %q: category %q", s, id, c)
			case i >= 4 && (c < '0' || c > '9'):
				t.Fatalf("ParseContainer(%q) = %q: byte %d %q is not a digit", s, id, i, c)
			}
		}
		if got, want := int(id[10]-'0'), state.CheckDigit(id[:10]); got != want {
			t.Fatalf("ParseContainer(%q) = %q: check digit %d, want %d", s, id, got, want)
		}
		again, err := state.ParseContainer(id)
		if err != nil || again != id {
			t.Fatalf("ParseContainer(%q) = %q, %v; want %q unchanged (idempotent)", id, again, err, id)
		}
		// The whole input is the number, not just its start.
		if id != ref {
			t.Fatalf("ParseContainer(%q) = %q, but the input normalises to %q", s, id, ref)
		}
	})
}

// TestParseContainerLongInput: the rejection of an input too long to be a
// container number must look at the whole input, say how long it is, and
// quote a bounded part of it.
func TestParseContainerLongInput(t *testing.T) {
	for _, tt := range []struct {
		name, s string
	}{
		{"trailing garbage after 64 bytes of padding", "MSCU1234566" + strings.Repeat(" ", 60) + "X"},
		{"trailing digits after dashes", "MSCU1234566" + strings.Repeat("-", 53) + "1234"},
		{"number glued to padding", "MSCU1234566" + strings.Repeat(" ", 53) + "TGHU1234567"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := state.ParseContainer(tt.s)
			if err == nil {
				t.Fatalf("ParseContainer(%q) = %q, want a rejection: the input normalises to %q", tt.s, id, fuzzRefNormalise(tt.s))
			}
		})
	}
	t.Run("reason states the real length", func(t *testing.T) {
		s := strings.Repeat("A", 100)
		_, err := state.ParseContainer(s)
		if err == nil {
			t.Fatal("accepted")
		}
		if r := err.(*state.Rejection).Reason; !strings.Contains(r, "got 100") {
			t.Errorf("reason %q: want it to say the input has 100 characters", r)
		}
	})
	t.Run("reason is bounded", func(t *testing.T) {
		s := strings.Repeat("MSCU1234566", 100_000) // 1.1 MB, as a payload may carry
		_, err := state.ParseContainer(s)
		if err == nil {
			t.Fatal("accepted")
		}
		if r := err.(*state.Rejection).Reason; len(r) > 1024 {
			t.Errorf("reason is %d bytes long, want it to quote a bounded part of the input", len(r))
		}
	})
}

// TestParseContainerNonASCII: ISO 6346 numbers are ASCII; a letter that only
// upper-cases to an ASCII one (dotless i, long s) is not that letter.
func TestParseContainerNonASCII(t *testing.T) {
	for _, tt := range []struct{ in, ascii string }{
		{"M\u017fCU1234566", "MSCU1234566"}, // LATIN SMALL LETTER LONG S upper-cases to S
		{"\u0131SCU1234561", "ISCU1234561"}, // LATIN SMALL LETTER DOTLESS I upper-cases to I
		{"MSCU123456\uff16", "MSCU1234566"}, // FULLWIDTH DIGIT SIX
	} {
		// The ASCII spelling is valid, so only the lookalike can be at fault.
		if _, err := state.ParseContainer(tt.ascii); err != nil {
			t.Fatalf("ParseContainer(%q): %v", tt.ascii, err)
		}
		if id, err := state.ParseContainer(tt.in); err == nil {
			t.Errorf("ParseContainer(%q) = %q, want a rejection of the non-ASCII character", tt.in, id)
		}
	}
}
