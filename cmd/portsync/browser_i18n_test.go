package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/portsync/portsync/internal/demo"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/httpapi"
)

// TestBrowserDashboardLanguagesAndCharts loads the dashboard of a running
// demo in a browser that prefers Chinese, and checks that it comes in
// Simplified Chinese with no English label left, on the overview and on a
// container page; that the switch turns it to English and the choice
// outlives a reload; and that both charts have points. The container page
// is one with an agency's ledger worth reading: a typed hold and an
// operator's manual override. Screenshots of the pages are left in
// testdata/artifacts.
func TestBrowserDashboardLanguagesAndCharts(t *testing.T) {
	browser := chromiumPath()
	if browser == "" {
		t.Skip("no chromium, chromium-browser or google-chrome on PATH")
	}
	start := time.Now()
	const overrideToken = "browser-override-token"
	tokenFile := filepath.Join(t.TempDir(), "override.token")
	if err := os.WriteFile(tokenFile, []byte(overrideToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rig := startDemoRig(t,
		demoOptions{HTTP: "127.0.0.1:0", StateDir: t.TempDir(), ApplyWithin: 3 * time.Second, RetryAfter: 6 * time.Second,
			OverrideTokenFile: tokenFile},
		demo.Options{Seed: 1, Tick: 100 * time.Millisecond, VesselEvery: 25})

	// Wait through the API until both charts have data (a release the TOS
	// confirmed, a mismatch count) and the page has most of what it can
	// show: open mismatches, alerts of several kinds, dead letters.
	var o httpapi.Overview
	if err := pollUntil(60*time.Second, func() error {
		if err := rig.getJSON("/api/v1/overview", &o); err != nil {
			return err
		}
		kinds := map[string]bool{}
		for _, a := range o.Alerts {
			kinds[a.Kind] = true
		}
		if len(o.Charts.Latency) == 0 || len(o.Charts.Mismatches) == 0 || o.MismatchCount == 0 || len(kinds) < 2 || o.DeadLetterCount == 0 {
			return fmt.Errorf("charts: %d latency and %d mismatch points; %d mismatches, alerts of kinds %v, %d dead letters",
				len(o.Charts.Latency), len(o.Charts.Mismatches), o.MismatchCount, kinds, o.DeadLetterCount)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("charts have data after %v", time.Since(start).Round(time.Millisecond))
	container := ledgerContainer(t, rig, overrideToken)
	bl := blWithManifest(t, rig, container)
	if err := rig.getJSON("/api/v1/overview", &o); err != nil {
		t.Fatal(err)
	}
	// Names from the configuration may stay as they are on the Chinese
	// page; so may codes (hold codes, container and event numbers), which
	// are in capitals.
	allowed := map[string]bool{"portsync": true, o.Terminal: true}
	for _, e := range o.Endpoints {
		allowed[e.Name], allowed[e.Type], allowed[e.Agency] = true, true, true
	}

	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var jsErrors jsErrorLog
	ctx, cancel := browserContext(t, browser, jsErrors.listen)
	defer cancel()
	// The browser asks for Chinese first.
	err := do(ctx, 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ua, err := chromedp.Evaluate[string](`navigator.userAgent`)(ctx, tg)
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, emulation.SetUserAgentOverride,
			emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: "zh-CN,zh;q=0.9,en;q=0.5"})
		return err
	}))
	if err != nil {
		t.Fatalf("asking for Chinese: %v", err)
	}
	base := rig.base() + "/"

	// Chinese, chosen from the browser's languages.
	if err := do(ctx, 30*time.Second, chromedp.Navigate(base)); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
	waitPage(t, ctx, "the Chinese overview with its charts",
		`document.documentElement.lang === "zh-CN" && document.querySelector("#alerts h2")?.textContent === "正在告警"
		 && document.querySelector("#latency-svg circle.point") && document.querySelector("#mismatches-svg .point")`)
	checkNoEnglish(t, ctx, "overview", allowed)
	checkCharts(t, ctx, "Chinese overview")
	screenshot(t, ctx, "dashboard-zh.png")

	// A container page, in Chinese too, with its agencies' ledgers: the
	// typed hold and the override in words of the catalogue.
	if _, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[string](fmt.Sprintf(`location.hash = "#/c/%s"`, container))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the Chinese container page of "+container,
		fmt.Sprintf(`document.querySelector("#container h2")?.textContent.startsWith("集装箱 %s") && %s`, container, ledgerShown))
	checkNoEnglish(t, ctx, "container page", allowed)
	for _, w := range []string{"一般扣留", "生效中", "人工覆盖", "由 Li Wei"} {
		if !pageHas(t, ctx, "#container", w) {
			t.Errorf("the Chinese ledger lacks %q", w)
		}
	}
	screenshot(t, ctx, "dashboard-zh-container.png")

	// The B/L's page in Chinese: its own decisions, its containers a page
	// at a time, and its timeline.
	if _, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[string](fmt.Sprintf(`location.hash = "#/bl/%s"`, bl.id))); err != nil {
		t.Fatal(err)
	}
	openBLPage(t, ctx, bl, "提单")
	checkNoEnglish(t, ctx, "B/L page", allowed)
	for _, w := range []string{"已放行", "扣留", "舱单"} {
		if !pageHas(t, ctx, "#bl, #timeline", w) {
			t.Errorf("the Chinese B/L page lacks %q", w)
		}
	}
	screenshot(t, ctx, "dashboard-zh-bl.png")

	// The switch turns the page to English, and the choice outlives a
	// reload although the browser prefers Chinese.
	if _, err := runFor(ctx, 5*time.Second, chromedp.Evaluate[string](`location.hash = "#/"`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the overview again", `document.querySelector("#latency-svg")`)
	if err := do(ctx, 10*time.Second, chromedp.Click(chromedp.CSS(`#lang button[data-lang="en"]`))); err != nil {
		t.Fatalf("clicking EN: %v", err)
	}
	english := `document.documentElement.lang === "en" && document.querySelector("#alerts h2")?.textContent === "Alerts firing"
		&& document.querySelector("#latency-svg circle.point") && document.querySelector("#mismatches-svg .point")`
	waitPage(t, ctx, "the English overview after the switch", english)
	if err := do(ctx, 30*time.Second, chromedp.Navigate(base)); err != nil {
		t.Fatalf("reloading the dashboard: %v", err)
	}
	waitPage(t, ctx, "the English overview after a reload", english)
	// The checker is not blind: the English page has English words.
	if words := visibleWords(t, ctx); !slices.Contains(words, "mismatches") || !slices.Contains(words, "firing") {
		t.Errorf("the English page's words lack \"mismatches\" and \"firing\": %q", words)
	}
	checkCharts(t, ctx, "English overview")
	screenshot(t, ctx, "dashboard-en.png")

	// The same container page in English.
	if _, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[string](fmt.Sprintf(`location.hash = "#/c/%s"`, container))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the English container page of "+container,
		fmt.Sprintf(`document.querySelector("#container h2")?.textContent.startsWith("Container %s") && %s`, container, ledgerShown))
	for _, w := range []string{"general hold", "open", "manual override", "by Li Wei", "agency time"} {
		if !pageHas(t, ctx, "#container, #timeline", w) {
			t.Errorf("the English ledger lacks %q", w)
		}
	}
	screenshot(t, ctx, "dashboard-en-container.png")

	// Search for the B/L (in lower case, as people type): the B/L's page
	// is offered first, then its containers.
	if _, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`document.getElementById("q").value = %q; document.getElementById("search").requestSubmit()`, strings.ToLower(bl.id)))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the search results offering the B/L "+bl.id,
		fmt.Sprintf(`document.querySelector("#results a")?.getAttribute("href") === "#/bl/%s" && document.querySelectorAll("#results a[href^='#/c/']").length > 0`, bl.id))
	// The demo container's page links the B/L to its page.
	if _, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[string](fmt.Sprintf(`location.hash = "#/c/%s"`, bl.demo))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the container page of "+bl.demo+" with its B/L linked",
		fmt.Sprintf(`document.querySelector("#container a.bl-link[href='#/bl/%s']")`, bl.id))
	if err := do(ctx, 10*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#container a.bl-link[href="#/bl/%s"]`, bl.id)))); err != nil {
		t.Fatalf("clicking the B/L link: %v", err)
	}
	openBLPage(t, ctx, bl, "B/L")
	for _, w := range []string{"released", "manifest", "B/L's own decisions", fmt.Sprintf("%d of %[1]d shown", len(bl.containers))} {
		if !pageHas(t, ctx, "#bl, #bl-containers, #timeline", w) {
			t.Errorf("the English B/L page lacks %q", w)
		}
	}
	screenshot(t, ctx, "dashboard-en-bl.png")

	// ?lang= overrides, and the switch turns it back.
	if err := do(ctx, 30*time.Second, chromedp.Navigate(base+"?lang=zh")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the overview with ?lang=zh", `document.documentElement.lang === "zh-CN" && document.querySelector("#alerts h2")?.textContent === "正在告警"`)
	if err := do(ctx, 10*time.Second, chromedp.Click(chromedp.CSS(`#lang button[data-lang="en"]`))); err != nil {
		t.Fatalf("clicking EN: %v", err)
	}
	waitPage(t, ctx, "the English overview after switching from ?lang=zh", english+` && !location.search.includes("lang=")`)
	if err := do(ctx, 10*time.Second, chromedp.Click(chromedp.CSS(`#lang button[data-lang="zh"]`))); err != nil {
		t.Fatalf("clicking 中文: %v", err)
	}
	waitPage(t, ctx, "the Chinese overview after the switch", `document.documentElement.lang === "zh-CN" && document.querySelector("#alerts h2")?.textContent === "正在告警"`)

	// A full day, which a test cannot wait for: the charts drawn from a
	// made-up day of 22 hours of releases (two without) and 288 counts.
	if _, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[chromedp.Void](`(() => {
		stop();
		const now = Date.now(), hour = 3600e3, slot = 300e3;
		const latency = [], mismatches = [];
		for (let h = 23; h >= 0; h--) {
			if (h === 9 || h === 10) continue;
			const p50 = 0.4 + 0.3 * Math.sin(h / 3) ** 2, p99 = p50 * (3 + 4 * Math.cos(h / 5) ** 2);
			latency.push({hour: new Date(Math.floor(now / hour) * hour - h * hour).toISOString(), p50, p99, n: 40 + h * 7});
		}
		for (let i = 287; i >= 0; i--) {
			const open = Math.max(0, Math.round(6 + 5 * Math.sin(i / 20) + 2 * Math.sin(i / 3)));
			mismatches.push({at: new Date(Math.floor(now / slot) * slot - i * slot).toISOString(), open, peak: open + (i % 7 === 0 ? 4 : 1)});
		}
		document.getElementById("view").innerHTML = chartsHTML({latency, mismatches}, new Date(now).toISOString(), 10);
	})()`)); err != nil {
		t.Fatalf("drawing a made-up day: %v", err)
	}
	checkCharts(t, ctx, "made-up day")
	checkNoEnglish(t, ctx, "charts of a made-up day", allowed)
	screenshot(t, ctx, "dashboard-zh-charts-day.png")

	if errs := jsErrors.list(); len(errs) > 0 {
		t.Errorf("the page reported script errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("language and chart browser test took %v", time.Since(start).Round(time.Millisecond))
}

// ledgerShown holds on a container page that shows the ledger
// ledgerContainer made: the typed hold 7H, a row of an override, and the
// override's diamond on the timeline.
const ledgerShown = `[...document.querySelectorAll("#container table.ledger tr.ledger-entry")].some(r => r.textContent.includes("7H"))
	&& document.querySelector("#container tr.ledger-entry.override") && document.querySelector("#timeline g.mark.override rect.override")`

// ledgerContainer picks a container of the demo that quarantine has
// decided on (the simulation's last word from quarantine on it, so that
// what follows stays) and gives it a ledger worth reading: customs places a
// typed hold, 7H, as an agency does, over MQTT, which no release of the
// simulation lifts; an operator, Li Wei, overrides quarantine's general
// hold (placing it, or removing it if it is open). It waits until the
// container's detail shows both and returns the container.
func ledgerContainer(t *testing.T, rig *demoRig, overrideToken string) string {
	t.Helper()
	container := ""
	if err := pollUntil(30*time.Second, func() error {
		o, err := rig.overview()
		if err != nil {
			return err
		}
		for _, e := range o.Recent {
			if e.Kind == state.JournalAgencyEvent && e.Agency == "quarantine" && e.Result == "applied" && e.Container != "" {
				container = e.Container
				return nil
			}
		}
		return fmt.Errorf("no applied quarantine decision in the recent activity")
	}); err != nil {
		t.Fatal(err)
	}
	hold, err := json.Marshal(map[string]any{"id": "browser-7h-" + container, "agency": "customs", "status": "held", "hold": "7H",
		"containers": []string{container}, "reason": "exam", "at": time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	if tok := rig.watch.Publish(demo.TopicCustoms, 1, false, hold); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing customs' 7H hold: %v", tok.Error())
	}
	var before httpapi.ContainerDetail
	if err := rig.getJSON("/api/v1/containers/"+container, &before); err != nil {
		t.Fatal(err)
	}
	action := string(state.Held)
	if before.AgencyDetail["quarantine"].Holds[""].State == state.HoldOpen {
		action = string(state.HoldRemoved)
	}
	client := &httpapi.Client{Addr: rig.base(), Token: overrideToken, HTTP: rig.http}
	answer, _, err := client.Override(container, httpapi.OverrideRequest{Agency: "quarantine", Action: action, By: "Li Wei", Reason: "inspection report by phone"})
	if err != nil || answer.Result != "applied" {
		t.Fatalf("override of quarantine on %s: %+v, %v", container, answer, err)
	}
	if err := pollUntil(20*time.Second, func() error {
		var d httpapi.ContainerDetail
		if err := rig.getJSON("/api/v1/containers/"+container, &d); err != nil {
			return err
		}
		typed, general := d.AgencyDetail["customs"].Holds["7H"], d.AgencyDetail["quarantine"].Holds[""]
		if typed.State != state.HoldOpen || !strings.HasPrefix(general.Source, "override:") {
			return fmt.Errorf("%s: customs 7H %+v, quarantine's general hold %+v", container, typed, general)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("container %s: customs 7H open, quarantine's general hold %s by override", container, action)
	return container
}

// testBL is the bill of lading blWithManifest made: its number, its
// containers, and one of them that is the demo's own.
type testBL struct {
	id         string
	containers []string
	demo       string
}

// blWithManifest gives the demo a bill of lading worth a page: a manifest
// links it to a few of the demo's containers (not skip) and to more that
// have not arrived, more than one page of the B/L page's; customs releases
// the B/L, and quarantine places a typed hold on it, each a B/L-level
// decision over MQTT as an agency sends it. It waits until the API shows
// them.
func blWithManifest(t *testing.T, rig *demoRig, skip string) testBL {
	t.Helper()
	bl := testBL{id: "MEDUSH123456"}
	o, err := rig.overview()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range o.Recent {
		if e.Container != "" && e.Container != skip && !slices.Contains(bl.containers, e.Container) && len(bl.containers) < 4 {
			bl.containers = append(bl.containers, e.Container)
		}
	}
	if len(bl.containers) == 0 {
		t.Fatal("no container of the demo in the recent activity")
	}
	bl.demo = bl.containers[0]
	for i := 0; len(bl.containers) < 31; i++ {
		prefix := fmt.Sprintf("TSTU%06d", 424200+i)
		bl.containers = append(bl.containers, fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix)))
	}
	now := time.Now().UTC()
	for _, m := range []struct {
		topic string
		body  map[string]any
	}{
		{demo.TopicManifests, map[string]any{"id": "CUSCAR-BROWSER", "bl": bl.id, "containers": bl.containers, "at": now.Add(-2 * time.Minute)}},
		{demo.TopicCustoms, map[string]any{"id": "REL-BL-BROWSER", "agency": "customs", "status": "released", "bl": bl.id, "at": now.Add(-time.Minute)}},
		{demo.TopicQuarantine, map[string]any{"id": "CIQ-BL-BROWSER", "agency": "quarantine", "status": "held", "hold": "FUM", "bl": bl.id, "at": now}},
	} {
		data, err := json.Marshal(m.body)
		if err != nil {
			t.Fatal(err)
		}
		if tok := rig.watch.Publish(m.topic, 1, false, data); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publishing %s: %v", m.body["id"], tok.Error())
		}
	}
	if err := pollUntil(20*time.Second, func() error {
		var d httpapi.BLDetail
		if err := rig.getJSON("/api/v1/bls/"+bl.id, &d); err != nil {
			return err
		}
		if d.Count != len(bl.containers) || d.Agencies["customs"] != state.Released || d.Agencies["quarantine"] != state.Held || len(d.History) < 3 {
			return fmt.Errorf("B/L %s: %d containers, agencies %v, %d timeline entries", bl.id, d.Count, d.Agencies, len(d.History))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return bl
}

// openBLPage waits for the B/L page (its title starting with title),
// which lists a first page of containers and draws the manifest and both
// decisions on the timeline, then asks for more and waits until every
// container is listed.
func openBLPage(t *testing.T, ctx context.Context, bl testBL, title string) {
	t.Helper()
	rows := `document.querySelectorAll("#bl-containers tr.bl-container").length`
	waitPage(t, ctx, title+" page of "+bl.id, fmt.Sprintf(`document.querySelector("#bl h2")?.textContent.startsWith(%q)
		&& %s === 25 && document.querySelector("#bl-more")
		&& document.querySelector("#timeline g.mark.manifest") && document.querySelectorAll("#timeline g.mark.agency_event").length >= 2
		&& document.querySelector("#bl table.ledger")`, title+" "+bl.id, rows))
	if err := do(ctx, 10*time.Second, chromedp.Click(chromedp.CSS(`#bl-more`))); err != nil {
		t.Fatalf("clicking more: %v", err)
	}
	waitPage(t, ctx, "every container of "+bl.id, fmt.Sprintf(`%s === %d && !document.querySelector("#bl-more")
		&& document.querySelector("#bl-containers a[href='#/c/%s']")`, rows, len(bl.containers), bl.demo))
}

// pageHas says whether the text of the page's elements matching selector
// contains s.
func pageHas(t *testing.T, ctx context.Context, selector, s string) bool {
	t.Helper()
	has, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[bool](fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.innerText.includes(%q))`, selector, s)))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return has
}

// waitPage waits, generously, until the page's predicate holds: the page
// polls every two seconds and draws what it gets.
func waitPage(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	if _, err := runFor(ctx, 40*time.Second, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(35*time.Second))); err != nil {
		state, _ := runFor(ctx, 5*time.Second, chromedp.Evaluate[string](`document.documentElement.lang + " " + location.href + "\n" + document.body.innerText.slice(0, 1500)`))
		t.Fatalf("waiting for %s: %v\npage: %s", what, err, state)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := runFor(ctx, 15*time.Second, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	saveArtifact(t, name, shot)
}

// visibleWords returns the words of three letters or more in what the page
// shows: its rendered text, placeholders and labels. Text marked
// translate="no" (what the server passes on as it came: errors, payloads)
// and identifiers (.mono, code) are left out.
func visibleWords(t *testing.T, ctx context.Context) []string {
	t.Helper()
	words, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const skip = '[translate="no"], .mono, code, script, style, template, title';
		const add = s => { for (const w of String(s || "").split(/[^A-Za-z0-9_.:\/-]+/)) if (/[A-Za-z]{3}/.test(w)) out.push(w); };
		const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		for (let n; (n = walk.nextNode());) {
			const el = n.parentElement;
			if (el && !el.closest(skip) && el.getClientRects().length) add(n.textContent);
		}
		for (const el of document.querySelectorAll("[placeholder], [aria-label]")) {
			if (el.closest(skip) || !el.getClientRects().length) continue;
			add(el.getAttribute("placeholder"));
			add(el.getAttribute("aria-label"));
		}
		add(document.title);
		return out;
	})()`))
	if err != nil {
		t.Fatalf("reading the page's words: %v", err)
	}
	for i, w := range words {
		words[i] = strings.Trim(w, ".:/-_")
	}
	return words
}

// code is a hold code, a container or an event number: capitals, digits
// and dashes.
var code = regexp.MustCompile(`^[A-Z0-9]+([-_][A-Z0-9]+)*$`)

func checkNoEnglish(t *testing.T, ctx context.Context, page string, allowed map[string]bool) {
	t.Helper()
	left := map[string]int{}
	for _, w := range visibleWords(t, ctx) {
		if !allowed[w] && !code.MatchString(w) {
			left[w]++
		}
	}
	if len(left) > 0 {
		t.Errorf("English left on the Chinese %s: %v", page, left)
	}
}

// checkCharts checks that both charts are drawn with points: the latency
// chart a p50 and a p99 point per hour, the mismatch chart a bar per slot
// and its line.
func checkCharts(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	type charts struct {
		LatencyData  int    `json:"latencyData"`
		P50          int    `json:"p50"`
		P99          int    `json:"p99"`
		MismatchData int    `json:"mismatchData"`
		Bars         int    `json:"bars"`
		OpenLine     string `json:"openLine"`
		LatencyLabel string `json:"latencyLabel"`
	}
	c, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[charts](`(() => {
		const n = sel => document.querySelectorAll(sel).length;
		const data = id => +((document.getElementById(id) || {dataset: {}}).dataset.points || 0);
		return {
			latencyData: data("latency-svg"), p50: n("#latency-svg circle.point.p50"), p99: n("#latency-svg circle.point.p99"),
			mismatchData: data("mismatches-svg"), bars: n("#mismatches-svg rect.point.peak"),
			openLine: (document.querySelector("#mismatches-svg path.open") || {getAttribute: () => ""}).getAttribute("d"),
			latencyLabel: (document.getElementById("latency-svg") || {getAttribute: () => ""}).getAttribute("aria-label"),
		};
	})()`))
	if err != nil {
		t.Fatalf("%s: reading the charts: %v", page, err)
	}
	if c.LatencyData == 0 || c.P50 != c.LatencyData || c.P99 != c.LatencyData {
		t.Errorf("%s: latency chart: %d hours, %d p50 and %d p99 points; want a p50 and a p99 point per hour, at least one", page, c.LatencyData, c.P50, c.P99)
	}
	if c.MismatchData == 0 || c.Bars != c.MismatchData || !strings.HasPrefix(c.OpenLine, "M") {
		t.Errorf("%s: mismatch chart: %d slots, %d bars, line %q; want a bar per slot, at least one, and a line", page, c.MismatchData, c.Bars, c.OpenLine)
	}
	t.Logf("%s: latency chart %d hours (%q), mismatch chart %d slots", page, c.LatencyData, c.LatencyLabel, c.MismatchData)
}
