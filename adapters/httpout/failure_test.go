package httpout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestFailureReason(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Err: &net.DNSError{IsTimeout: true}}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("poll: %w", &StatusError{Method: "GET", Status: 503}), "http_status"},
		{fmt.Errorf("poll: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("poll: %w", timeout), "timeout"},
		{errors.New("connection refused"), "error"},
	} {
		if got := FailureReason(c.err); got != c.want {
			t.Errorf("FailureReason(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
