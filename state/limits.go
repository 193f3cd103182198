package state

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what an inbound event may carry. Every decoder enforces them
// with its own wording, and the engine checks every record against them
// again before it touches the store, so a decoder that misses one cannot
// hand the writer a record that can never commit (bbolt refuses keys over
// 32 KiB; encoding/json refuses zone offsets of 24 hours and more).
const (
	// MaxIDLen is the longest event id, in bytes.
	MaxIDLen = 256
	// MaxRefLen is the longest B/L or declaration number, in bytes. UN/EDIFACT
	// gives references an..35 (RFF C506/1154); the margin is for senders
	// that prefix a scheme.
	MaxRefLen = 70
	// MaxReasonLen is the most bytes of an event's free text (reason) that
	// are kept; the rest is cut and marked, never rejected.
	MaxReasonLen = 1024
	// MaxHoldLen is the longest TOS hold code, in bytes.
	MaxHoldLen = 64
	// MaxEventContainers is the most containers one agency event may name
	// (DESIGN 3.1: 1 to 1000).
	MaxEventContainers = 1000
	// MaxHolds is the most hold codes one TOS event may report.
	MaxHolds = 100
	// maxOffset is the largest zone offset RFC 3339 can carry (±23:59).
	maxOffset = 24*time.Hour - time.Minute
)

// CheckOffset rejects a time whose zone offset is outside ±23:59 or whose
// year has no four-digit RFC 3339 form: such a time parses in Go but can
// never be written to the store.
func CheckOffset(field string, t time.Time) error {
	_, off := t.Zone()
	if d := time.Duration(off) * time.Second; d > maxOffset || d < -maxOffset {
		return Reject(CodeInvalidField, "field %q: zone offset %s is outside -23:59..+23:59", field, t.Format("-07:00"))
	}
	// Both in its own zone and in UTC: the store may write either.
	for _, y := range []int{t.Year(), t.UTC().Year()} {
		if y < 1970 || y > 9999 {
			return Reject(CodeInvalidField, "field %q: year %d is outside 1970..9999", field, y)
		}
	}
	return nil
}

// CheckClock rejects a sender's time that lies further ahead of now than
// skew, or before notBefore (the retention horizon: an older event could
// not be deduplicated and would be pruned at once). A zero notBefore
// checks only the future.
func CheckClock(field string, t, now time.Time, skew time.Duration, notBefore time.Time) error {
	if err := CheckOffset(field, t); err != nil {
		return err
	}
	if t.After(now.Add(skew)) {
		return Reject(CodeInvalidField, "field %q: %s is %s ahead of this daemon's clock (%s), more than max_clock_skew %s",
			field, t.Format(time.RFC3339), t.Sub(now).Round(time.Second), now.UTC().Format(time.RFC3339), skew)
	}
	if !notBefore.IsZero() && t.Before(notBefore) {
		return Reject(CodeInvalidField, "field %q: %s is before the retention horizon %s",
			field, t.Format(time.RFC3339), notBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// CheckRef rejects a reference (B/L, declaration) longer than MaxRefLen.
func CheckRef(field, v string) error {
	if len(v) > MaxRefLen {
		return Reject(CodeInvalidField, "field %q: %s is %d bytes, longer than %d", field, quoteShort(v), len(v), MaxRefLen)
	}
	return nil
}

// CutText bounds free text to max bytes, cut on a character boundary and
// marked so a reader knows it is not the whole text.
func CutText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], func(r rune) bool { return r == ' ' }) +
		fmt.Sprintf(" …[cut: %d of %d bytes kept]", cut, len(s))
}
