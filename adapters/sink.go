package adapters

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portsync/portsync/state"
)

// ErrRejected is wrapped by the error of a command the TOS rejected (an
// HTTP TOS's 409 or 422): the TOS answered and refused the command itself,
// so sending it again unchanged will not help.
var ErrRejected = errors.New("rejected by the TOS")

// SendError is the error of a Sink.Send that did not get every command of
// a batch accepted, for sinks that can tell what became of each: which were
// sent, which the TOS rejected (errors wrapping ErrRejected) and which were
// not delivered and may be sent again.
type SendError struct {
	outcomes map[string]error // command id -> nil (sent) or why not
	rejected []error
	failed   []error // in the order of the batch
}

// NewSendError makes the error of a batch from each command's outcome
// (errs[i] for cmds[i]); nil when every command was sent.
func NewSendError(cmds []state.Command, errs []error) *SendError {
	se := &SendError{outcomes: make(map[string]error, len(cmds))}
	for i, c := range cmds {
		err := errs[i]
		se.outcomes[c.ID] = err
		switch {
		case err == nil:
		case errors.Is(err, ErrRejected):
			se.rejected = append(se.rejected, err)
		default:
			se.failed = append(se.failed, err)
		}
	}
	if len(se.rejected) == 0 && len(se.failed) == 0 {
		return nil
	}
	return se
}

func (e *SendError) Error() string {
	total := len(e.outcomes)
	var parts []string
	if n := len(e.rejected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d commands rejected by the TOS; first: %v", n, total, e.rejected[0]))
	}
	if n := len(e.failed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d commands not delivered; first: %v", n, total, e.failed[0]))
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the rejections and the delivery failures, so that
// errors.Is finds ErrRejected, context.DeadlineExceeded and the like.
func (e *SendError) Unwrap() []error {
	return append(append([]error{}, e.rejected...), e.failed...)
}

// Outcome says what became of one command of the batch: nil if it was
// sent, an error wrapping ErrRejected if the TOS rejected it, else why it
// was not delivered.
func (e *SendError) Outcome(id string) error {
	err, ok := e.outcomes[id]
	if !ok {
		return fmt.Errorf("command %s was not in the batch", id)
	}
	return err
}

// FirstFailure is the first delivery failure of the batch, nil if none.
func (e *SendError) FirstFailure() error {
	if len(e.failed) == 0 {
		return nil
	}
	return e.failed[0]
}

// OnlyRejected reports whether err says that the TOS answered every
// command of the batch and rejected some: the endpoint works, so a circuit
// breaker should count the call as a success.
func OnlyRejected(err error) bool {
	var se *SendError
	return errors.As(err, &se) && len(se.failed) == 0 && len(se.rejected) > 0
}
