package state_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

func TestParseContainer(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string // normalised id when valid
		wantCode string // rejection code when invalid
		// wantReason are substrings the rejection's reason must contain.
		wantReason []string
		// rightDigit, when not -1, is the check digit the reason must name
		// as the correct one.
		rightDigit int
	}{
		{name: "valid MSCU1234566", in: "MSCU1234566", want: "MSCU1234566", rightDigit: -1},
		{name: "valid CSQU3054383", in: "CSQU3054383", want: "CSQU3054383", rightDigit: -1},
		{name: "valid TGHU1234567", in: "TGHU1234567", want: "TGHU1234567", rightDigit: -1},
		{name: "valid BIC example BICU1234565", in: "BICU1234565", want: "BICU1234565", rightDigit: -1},
		{name: "valid category J", in: "ABCJ0000004", want: "ABCJ0000004", rightDigit: -1},
		{name: "valid category Z", in: "ABCZ0000005", want: "ABCZ0000005", rightDigit: -1},
		{name: "valid sum mod 11 is 10 gives check digit 0", in: "MSCU0000060", want: "MSCU0000060", rightDigit: -1},

		{name: "normalise lower case", in: "mscu1234566", want: "MSCU1234566", rightDigit: -1},
		{name: "normalise mixed case", in: "CsQu3054383", want: "CSQU3054383", rightDigit: -1},
		{name: "normalise spaces", in: "MSCU 123456 6", want: "MSCU1234566", rightDigit: -1},
		{name: "normalise leading and trailing spaces", in: "  TGHU1234567  ", want: "TGHU1234567", rightDigit: -1},
		{name: "normalise dashes", in: "MSCU-123456-6", want: "MSCU1234566", rightDigit: -1},
		{name: "normalise many separators (long only before normalising)", in: strings.Repeat("-", 60) + "MSCU1234566" + strings.Repeat(" ", 10), want: "MSCU1234566", rightDigit: -1},
		{name: "normalise lower case, spaces and dashes together", in: "cs qu-305438 - 3", want: "CSQU3054383", rightDigit: -1},

		{name: "empty", in: "", wantCode: state.CodeInvalidField, wantReason: []string{"11"}, rightDigit: -1},
		{name: "too short", in: "MSCU123456", wantCode: state.CodeInvalidField, wantReason: []string{"11", "10"}, rightDigit: -1},
		{name: "too long", in: "MSCU12345666", wantCode: state.CodeInvalidField, wantReason: []string{"11", "12"}, rightDigit: -1},
		{name: "only separators", in: " - - ", wantCode: state.CodeInvalidField, rightDigit: -1},
		{name: "too long only after 64 bytes of padding", in: "MSCU1234566" + strings.Repeat(" ", 60) + "7", wantCode: state.CodeInvalidField, wantReason: []string{"11"}, rightDigit: -1},
		{name: "very long input", in: strings.Repeat("MSCU1234566", 20), wantCode: state.CodeInvalidField, rightDigit: -1},

		{name: "bad category letter A", in: "MSCA1234566", wantCode: state.CodeInvalidField, wantReason: []string{"category"}, rightDigit: -1},
		{name: "bad category letter X", in: "MSCX1234566", wantCode: state.CodeInvalidField, wantReason: []string{"category"}, rightDigit: -1},
		{name: "digit in owner code", in: "M5CU1234566", wantCode: state.CodeInvalidField, rightDigit: -1},
		{name: "digit as category", in: "MSC01234566", wantCode: state.CodeInvalidField, rightDigit: -1},
		{name: "letter in serial", in: "MSCU12A4566", wantCode: state.CodeInvalidField, wantReason: []string{"digit"}, rightDigit: -1},
		{name: "letter in first serial position", in: "MSCUO234566", wantCode: state.CodeInvalidField, rightDigit: -1},
		{name: "letter as check digit", in: "MSCU123456X", wantCode: state.CodeInvalidField, rightDigit: -1},
		{name: "non-ASCII character", in: "MSCÜ1234566", wantCode: state.CodeInvalidField, rightDigit: -1},

		{name: "wrong check digit MSCU1234567 names 6", in: "MSCU1234567", wantCode: state.CodeBadCheckDigit, rightDigit: 6},
		{name: "wrong check digit CSQU3054380 names 3", in: "CSQU3054380", wantCode: state.CodeBadCheckDigit, rightDigit: 3},
		{name: "wrong check digit TGHU1234560 names 7", in: "TGHU1234560", wantCode: state.CodeBadCheckDigit, rightDigit: 7},
		{name: "wrong check digit after normalising names 6", in: "mscu-123456 9", wantCode: state.CodeBadCheckDigit, rightDigit: 6},
		{name: "wrong check digit where sum mod 11 is 10 names 0", in: "MSCU0000061", wantCode: state.CodeBadCheckDigit, rightDigit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParseContainer(tt.in)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("ParseContainer(%q) error = %v, want %q", tt.in, err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("ParseContainer(%q) = %q, want %q", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseContainer(%q) = %q, want a rejection with code %q", tt.in, got, tt.wantCode)
			}
			if got != "" {
				t.Errorf("ParseContainer(%q) returned id %q along with error", tt.in, got)
			}
			var rej *state.Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("ParseContainer(%q) error %T %v, want *state.Rejection", tt.in, err, err)
			}
			if rej.Code != tt.wantCode {
				t.Errorf("ParseContainer(%q) code = %q, want %q (reason %q)", tt.in, rej.Code, tt.wantCode, rej.Reason)
			}
			if rej.Reason == "" {
				t.Errorf("ParseContainer(%q) rejection has no reason", tt.in)
			}
			if !strings.Contains(err.Error(), rej.Code) {
				t.Errorf("Error() = %q does not contain the code %q", err.Error(), rej.Code)
			}
			for _, s := range tt.wantReason {
				if !strings.Contains(rej.Reason, s) {
					t.Errorf("ParseContainer(%q) reason %q does not mention %q", tt.in, rej.Reason, s)
				}
			}
			if tt.rightDigit >= 0 {
				// The reason must name the right digit after the words
				// "right" or "correct", as a digit of its own.
				re := regexp.MustCompile(`(?i)(right|correct).*\b` + string(rune('0'+tt.rightDigit)) + `\b`)
				if !re.MatchString(rej.Reason) {
					t.Errorf("ParseContainer(%q) reason %q does not name %d as the right check digit", tt.in, rej.Reason, tt.rightDigit)
				}
			}
		})
	}
}

func TestCheckDigit(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		want   int
	}{
		{name: "MSCU123456", prefix: "MSCU123456", want: 6},
		{name: "CSQU305438", prefix: "CSQU305438", want: 3},
		{name: "TGHU123456", prefix: "TGHU123456", want: 7},
		{name: "BIC example BICU123456", prefix: "BICU123456", want: 5},
		{name: "all A zero serial", prefix: "AAAU000000", want: 7},
		{name: "ABCU000000", prefix: "ABCU000000", want: 1},
		{name: "Z letters and nines", prefix: "ZZZU999999", want: 2},
		{name: "sum mod 11 is 10 maps to 0 (MSCU000006)", prefix: "MSCU000006", want: 0},
		{name: "sum mod 11 is 10 maps to 0 (CSQU000007)", prefix: "CSQU000007", want: 0},
		{name: "only first ten characters count", prefix: "MSCU1234566", want: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := state.CheckDigit(tt.prefix); got != tt.want {
				t.Errorf("CheckDigit(%q) = %d, want %d", tt.prefix, got, tt.want)
			}
		})
	}
}

// Every valid number the check digit produces must parse, and every other
// final digit must be rejected as a bad check digit naming the right one.
func TestParseContainerEveryCheckDigit(t *testing.T) {
	for _, prefix := range []string{"MSCU123456", "CSQU305438", "TGHU123456", "MSCU000006"} {
		right := state.CheckDigit(prefix)
		for d := 0; d <= 9; d++ {
			in := prefix + string(rune('0'+d))
			_, err := state.ParseContainer(in)
			if d == right {
				if err != nil {
					t.Errorf("ParseContainer(%q) = %v, want valid", in, err)
				}
				continue
			}
			var rej *state.Rejection
			if !errors.As(err, &rej) || rej.Code != state.CodeBadCheckDigit {
				t.Errorf("ParseContainer(%q) = %v, want %s", in, err, state.CodeBadCheckDigit)
			}
		}
	}
}
