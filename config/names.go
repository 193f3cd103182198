package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// namePattern is what a channel's or the TOS sink's name may hold: it is
// a metric label, a breaker name and a key of the store's delivery
// records.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// derivedName names a channel without name: by its type and target, never
// by its position, so that adding, removing or reordering channels renames
// none of the others: a channel's name keys which alerts it has had, and a
// new name would get every firing alert again. The target is broker and
// topic, the URL's host and a hash of its path (a Slack or Teams webhook's
// path is its secret; the query, which may hold a token such as
// DingTalk's, is left out), or the SMTP server and the first recipient.
// The keys are read as the file holds them, before the type's adapter
// decodes them.
func (s Sink) derivedName() string {
	topic, rawURL, smtp := s.Keys.Scalar("topic"), s.Keys.Scalar("url"), s.Keys.Scalar("smtp")
	var target []string
	switch {
	case s.Broker != "" || topic != "":
		target = []string{s.Broker, topic}
	case rawURL != "":
		u, err := url.Parse(rawURL)
		switch {
		case err != nil || u.Host == "":
			target = []string{shortHash(rawURL)}
		case u.EscapedPath() == "" || u.EscapedPath() == "/":
			target = []string{u.Host}
		default:
			target = []string{u.Host, shortHash(u.EscapedPath())}
		}
	case smtp != "":
		target = []string{smtp}
		if to := s.Keys.First("to"); to != "" {
			if a, err := mail.ParseAddress(to); err == nil {
				to = a.Address
			}
			target = append(target, to)
		}
	}
	parts := []string{labelSafe(s.Type)}
	for _, t := range target {
		parts = append(parts, labelSafe(t))
	}
	return strings.Join(parts, "-")
}

// labelSafe replaces each character outside namePattern's by '_'.
func labelSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// names checks the names of the TOS sink and the channels: well-formed,
// and unique among the channels. Two channels whose derived names collide
// need a name: of their own; a silent suffix would depend on their order.
func (v *validator) names() {
	const wellFormed = "want [A-Za-z0-9_.-]+: it names metric series and circuit breakers"
	if _, explicit := v.c.lines["tos.sink.name"]; explicit && !namePattern.MatchString(v.c.TOS.Sink.Name) {
		v.fail("tos.sink.name", "%q: %s", v.c.TOS.Sink.Name, wellFormed)
	}
	seen := map[string]int{}
	for i, ch := range v.c.Alerts.Channels {
		if ch.Type == "" {
			continue // reported as required
		}
		key := fmt.Sprintf("alerts.channels[%d]", i)
		_, explicit := v.c.lines[key+".name"]
		j, dup := seen[ch.Name]
		switch {
		case explicit && !namePattern.MatchString(ch.Name):
			v.fail(key+".name", "%q: %s", ch.Name, wellFormed)
		case explicit && dup:
			v.fail(key+".name", "%q is alerts.channels[%d]'s name already; channel names must be unique", ch.Name, j)
		case dup:
			v.fail(key, "its name from type and target, %q, is alerts.channels[%d]'s too: give one of them a name: of its own", ch.Name, j)
		default:
			seen[ch.Name] = i
		}
	}
}
