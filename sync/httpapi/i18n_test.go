package httpapi

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/filedrop"
	"github.com/portsync/portsync/adapters/httppoll"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// catalogue reads the dashboard's message catalogue, MESSAGES in
// web/i18n.js, which is kept plain JSON for this.
func catalogue(t *testing.T) map[string]map[string]string {
	t.Helper()
	src, err := web.ReadFile("web/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nconst MESSAGES = (\{.*?\n\});\n`).FindSubmatch(src)
	if m == nil {
		t.Fatal("web/i18n.js has no `const MESSAGES = {...};` block ending in a line `};`")
	}
	var cat map[string]map[string]string
	if err := json.Unmarshal(m[1], &cat); err != nil {
		t.Fatalf("MESSAGES in web/i18n.js is not plain JSON: %v", err)
	}
	if len(cat) != 2 || cat["en"] == nil || cat["zh"] == nil {
		t.Fatalf("MESSAGES has languages %v; want en and zh", slices.Sorted(maps.Keys(cat)))
	}
	return cat
}

var placeholder = regexp.MustCompile(`\{\w+\}`)

// TestI18nCatalogue: every message is in both languages, with the same
// placeholders, and the Chinese ones have no English left in them.
func TestI18nCatalogue(t *testing.T) {
	cat := catalogue(t)
	en, zh := cat["en"], cat["zh"]
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%q is in en but not in zh", k)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%q is in zh but not in en", k)
		}
	}
	// Besides placeholders and <code>, a Chinese message may name portsync
	// and its API, and keep the percentiles' names.
	code := regexp.MustCompile(`<code>.*?</code>`)
	word := regexp.MustCompile(`[A-Za-z]{3,}`)
	allowed := map[string]bool{"portsync": true, "API": true}
	for k, e := range en {
		z, ok := zh[k]
		if !ok {
			continue
		}
		if strings.TrimSpace(e) == "" || strings.TrimSpace(z) == "" {
			t.Errorf("%q is empty: en %q, zh %q", k, e, z)
		}
		pe, pz := placeholder.FindAllString(e, -1), placeholder.FindAllString(z, -1)
		slices.Sort(pe)
		slices.Sort(pz)
		if !slices.Equal(slices.Compact(pe), slices.Compact(pz)) {
			t.Errorf("%q: en has placeholders %v, zh %v", k, pe, pz)
		}
		for _, w := range word.FindAllString(code.ReplaceAllString(placeholder.ReplaceAllString(z, ""), ""), -1) {
			if !allowed[w] {
				t.Errorf("%q: zh %q has the English word %q", k, z, w)
			}
		}
	}
}

// TestI18nKeysUsed: every message the page's code asks for by name is in
// the catalogue, and so is every word the API can send that the page
// translates (statuses, kinds, codes).
func TestI18nKeysUsed(t *testing.T) {
	en := catalogue(t)["en"]
	need := map[string]string{} // key: where it is used
	uses := regexp.MustCompile(`\bt[hm]?\("([\w.-]+)"|data-i18n(?:-[\w-]+)?="([\w.-]+)"`)
	for _, file := range []string{"web/app.js", "web/charts.js", "web/index.html", "web/i18n.js"} {
		src, err := web.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range uses.FindAllStringSubmatch(string(src), -1) {
			if key := m[1] + m[2]; !strings.HasSuffix(key, ".") { // t("act." + kind): the words below
				need[key] = file
			}
		}
		if file == "web/app.js" {
			// The timeline's lanes are worded as lane.NAME.
			for _, m := range regexp.MustCompile(`\{name: "(\w+)", kinds`).FindAllStringSubmatch(string(src), -1) {
				need["lane."+m[1]] = file + " LANES"
			}
		}
	}
	if len(need) < 50 {
		t.Fatalf("found only %d message keys used; is the pattern out of date?", len(need))
	}
	words := map[string][]string{
		"status":      {string(state.Unknown), string(state.Held), string(state.Released), string(state.HoldRemoved), string(state.Revoked)},
		"presence":    {string(state.Expected), string(state.InYard), string(state.Departed)},
		"tos":         {state.TOSArrived, state.TOSHolds, state.TOSDeparted},
		"action":      {state.AddHold, state.ReleaseHold},
		"result":      {sync.ResultApplied, sync.ResultDuplicate, sync.ResultStale, sync.ResultRejected},
		"severity":    {"warning", "critical"},
		"role":        {"source", "sink", "channel", "broker"},
		"breaker":     {"closed", "half-open", "open"},
		"source_kind": {config.KindAgency, config.KindTOS, config.KindManifest},
		"ledger":      {state.ReleaseGranted, state.ReleaseRevoked, state.HoldOpen, state.HoldLifted},
		"journal": {state.JournalAgencyEvent, state.JournalTOSEvent, state.JournalCommand, state.JournalCommandSent,
			state.JournalConfirmed, state.JournalSuperseded, state.JournalRejected, state.JournalAlertFiring, state.JournalAlertResolve,
			state.JournalManifest},
		"code": {state.CodeMalformed, state.CodeInvalidField, state.CodeBadCheckDigit, state.CodeForbiddenAgency, state.CodeTooLarge,
			state.CodeUnstorable, adapters.CodeBadSignature, httppoll.CodeCursorLoop, filedrop.CodeUnreadableFile},
	}
	kinds := []string{state.KindStaleHold, state.KindMissingHold, state.KindUnauthorizedDeparture, state.KindSinkDown,
		state.KindInvalidInput, state.KindCommandRejected, state.KindSessionLost, state.KindSourceDown, state.KindSourceSilent,
		state.KindManualOverride}
	words["kind"], words["alert"] = kinds, kinds
	words["act"] = words["journal"] // describe() words each journal kind
	for group, ws := range words {
		for _, w := range ws {
			need[group+"."+w] = "the API's " + group
		}
	}
	for _, k := range slices.Sorted(maps.Keys(need)) {
		if _, ok := en[k]; !ok {
			t.Errorf("%q (%s) is not in the catalogue", k, need[k])
		}
	}
}
