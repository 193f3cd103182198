package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/portsync/portsync/internal/demo"
	"github.com/portsync/portsync/state"
)

// The browser test loads the dashboard of a running demo in headless
// Chromium, follows an open mismatch to its container page and checks that
// the timeline shows the release and the command. Screenshots of both
// pages are left in testdata/artifacts.

const artifactsDir = "testdata/artifacts"

// chromiumPath finds a Chromium or Chrome binary, or "".
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func TestDashboardInBrowser(t *testing.T) {
	browser := chromiumPath()
	if browser == "" {
		t.Skip("no chromium, chromium-browser or google-chrome on PATH")
	}
	start := time.Now()
	// A missed command leaves its mismatch open for retry_after (6s) and
	// past the SLA (3s): long enough to find on the page, which polls every
	// two seconds.
	rig := startDemoRig(t,
		demoOptions{HTTP: "127.0.0.1:0", StateDir: t.TempDir(), ApplyWithin: 3 * time.Second, RetryAfter: 6 * time.Second},
		demo.Options{Seed: 1, Tick: 100 * time.Millisecond, VesselEvery: 25})

	// Wait through the API for a stale hold that has lasted a while: a
	// command the TOS missed, not one it is about to apply.
	if err := pollUntil(30*time.Second, func() error {
		var ms struct{ Mismatches []state.Mismatch }
		if err := rig.getJSON("/api/v1/mismatches", &ms); err != nil {
			return err
		}
		if slices.ContainsFunc(ms.Mismatches, func(m state.Mismatch) bool {
			return m.Kind == "stale_hold" && time.Since(m.Since) > time.Second
		}) {
			return nil
		}
		return fmt.Errorf("no stale_hold open for more than a second among %d mismatches", len(ms.Mismatches))
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a stale_hold is open after %v", time.Since(start).Round(time.Millisecond))

	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var jsErrors jsErrorLog
	ctx, cancel := browserContext(t, browser, jsErrors.listen)
	defer cancel()

	base := rig.base() + "/"
	row := chromedp.CSS(`#mismatches tr.mismatch.stale_hold a`)
	var container, hash string
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			t.Fatalf("could not open a stale_hold mismatch's container page in %d attempts", attempt-1)
		}
		var err error
		if err = do(ctx, 20*time.Second, chromedp.Navigate(base), chromedp.WaitVisible(row)); err == nil {
			container, err = runFor(ctx, 5*time.Second, chromedp.Text(row))
		}
		if err != nil {
			t.Fatalf("overview: no stale_hold mismatch row: %v", err)
		}
		if attempt == 1 {
			if shot, err := runFor(ctx, 10*time.Second, chromedp.FullScreenshot(100)); err != nil {
				t.Errorf("screenshot: %v", err)
			} else {
				saveArtifact(t, "dashboard-overview.png", shot)
			}
		}
		// The row may vanish between finding it and clicking it if its
		// mismatch resolves: then the next one is tried.
		if err = do(ctx, 10*time.Second, chromedp.Click(row), chromedp.WaitVisible(chromedp.CSS(`#timeline svg`))); err == nil {
			hash, err = runFor(ctx, 5*time.Second, chromedp.Evaluate[string](`location.hash`))
		}
		if err == nil && strings.HasPrefix(hash, "#/c/") {
			break
		}
		t.Logf("attempt %d: clicking %s: hash %q, %v", attempt, container, hash, err)
	}
	t.Logf("opened %s (%s) after %v", container, hash, time.Since(start).Round(time.Millisecond))
	if want := "#/c/" + container; hash != want {
		// The click may have landed on the next row after a re-render;
		// what matters is the page it opened.
		t.Logf("clicked %s but opened %s", container, hash)
		container = strings.TrimPrefix(hash, "#/c/")
	}

	type containerPage struct {
		Title    string   `json:"title"`
		Agency   []string `json:"agency"`
		Commands []string `json:"commands"`
		Journal  string   `json:"journal"`
	}
	// The page re-renders every two seconds; one evaluation reads one
	// rendering.
	page, err := runFor(ctx, 10*time.Second, chromedp.Evaluate[containerPage](`(() => {
		const texts = sel => [...document.querySelectorAll(sel)].map(e => e.textContent.trim());
		return {
			title: (document.querySelector("#container h2") || {}).textContent || "",
			agency: texts("#timeline g.mark.agency_event"),
			commands: texts("#timeline g.mark.command"),
			journal: (document.querySelector("#journal") || {}).textContent || "",
		};
	})()`))
	if err != nil {
		t.Fatalf("reading the container page: %v", err)
	}
	if !strings.Contains(page.Title, container) {
		t.Errorf("container page title %q does not name %s", page.Title, container)
	}
	if !slices.ContainsFunc(page.Agency, func(s string) bool { return strings.Contains(s, "released") }) {
		t.Errorf("timeline has no agency release mark; agency marks: %q", page.Agency)
	}
	if len(page.Commands) == 0 {
		t.Error("timeline has no command mark")
	}
	if !strings.Contains(page.Journal, "release_hold") {
		t.Errorf("journal does not mention release_hold: %.500q", page.Journal)
	}
	t.Logf("timeline of %s: agency %q, commands %q", container, page.Agency, page.Commands)

	shot, err := runFor(ctx, 10*time.Second, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "dashboard-container.png", shot)
	if errs := jsErrors.list(); len(errs) > 0 {
		t.Errorf("the page reported script errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// browserContext starts a headless Chromium with a fresh profile.
// listen gets the page's events.
func browserContext(t *testing.T, path string, listen func(ev any)) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("lang", "en-US"), // the page's language follows the browser's
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(listen))
	// Start the browser now, without a time limit on this first run (it
	// would stop the browser), so that a browser that cannot start fails
	// here; the allocator's context bounds it.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx, func() { cancelCtx(); cancelAlloc() }
}

// do runs actions in the browser with a time limit.
func do(ctx context.Context, within time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// runFor runs an action that has a value with a time limit.
func runFor[T any](ctx context.Context, within time.Duration, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return chromedp.Run(ctx, a)
}

func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	path := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Errorf("saving %s: %v", path, err)
		return
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)
}

// jsErrorLog collects the page's uncaught exceptions and console errors.
type jsErrorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *jsErrorLog) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		msg = "console.error: " + strings.Join(args, " ")
	default:
		return
	}
	l.mu.Lock()
	l.errs = append(l.errs, msg)
	l.mu.Unlock()
}

func (l *jsErrorLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}
