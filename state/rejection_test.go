package state

import (
	"errors"
	"fmt"
	"testing"
)

func TestAsRejection(t *testing.T) {
	rej := &Rejection{Code: CodeBadCheckDigit, Reason: "check digit"}
	if got := AsRejection(fmt.Errorf("wrapped: %w", rej)); got != rej {
		t.Errorf("wrapped rejection: got %+v, want the rejection itself", got)
	}
	got := AsRejection(errors.New("decoder exploded"))
	if got == nil || got.Code != CodeMalformed || got.Reason != "decoder exploded" {
		t.Errorf("plain error: got %+v, want a malformed rejection with its text", got)
	}
	if got := AsRejection(nil); got != nil {
		t.Errorf("nil error: got %+v, want nil", got)
	}
}
