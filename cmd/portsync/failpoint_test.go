package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/testcfg"
	"github.com/portsync/portsync/state"
)

// The failpoint tests kill the real daemon with SIGKILL at chosen points
// (package internal/failpoint, compiled in with -tags failpoints): inside
// the group commit, between the commit and the acknowledgements, between
// two acknowledgements, after the TOS sink took commands and before the
// file-drop move. After each crash the daemon restarts without the
// failpoint on the same store and MQTT session, and the test checks DESIGN
// section 8: every event applied exactly once, every container in its last
// event's state, every command the TOS saw journaled, pending commands sent
// again with the same id, every dropped file in done/, and the bbolt file
// consistent both right after the crash and after a clean stop.

const (
	fpStream       = 60 // containers that get fpPerContainer events each
	fpPerContainer = 5  // 300 stream events in all
	fpSteady       = 20 // containers that get one release, left pending
	fpFiles        = 12 // files dropped, one agency event each
	fpBurst        = 30
	fpWait         = 30 * time.Second

	// Container indexes (crashContainer) of the steady and file containers,
	// apart from the stream's 0..fpStream-1.
	fpSteadyBase = 4000
	fpFileBase   = 5000

	fpEnv = "PORTSYNC_FAILPOINT"
)

// fpCases are the crash points, with the hit that kills. The counts are
// chosen so that the crash falls while events are flowing, after the
// daemon's session and subscriptions exist.
var fpCases = []struct {
	spec  string
	files bool // drop files (the file-drop move is the crash point)
}{
	{spec: "commit.before@3"},
	{spec: "commit.after@3"},
	{spec: "ack.partial@2"},
	{spec: "dispatch.sent@2"},
	{spec: "filedrop.beforemove@1", files: true},
}

// fpYAML is the crash test's configuration with a file-drop source in
// dropDir in place of the quarantine source.
func fpYAML(stateDir, url, clientID, dropDir string, port int) string {
	d := crashConfigFor(stateDir, url, clientID, port)
	d.Sources = []string{testcfg.CustomsMQTT, testcfg.TOSEvents,
		fmt.Sprintf("{name: customs-drop, type: file_drop, dir: %s, kind: agency, agency: customs, format: json, rescan: 1s}", dropDir)}
	return d.YAML()
}

// TestFailpointCrashes builds the daemon with -tags failpoints once and
// crashes it at each point of fpCases.
func TestFailpointCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon; skipped with -short")
	}
	if !broker.HasMosquitto() {
		t.Skip("needs mosquitto: the daemon's session must outlive its SIGKILL")
	}
	bin := filepath.Join(t.TempDir(), "portsync-fp")
	began := time.Now()
	if out, err := exec.Command("go", "build", "-tags", "failpoints", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags failpoints: %v\n%s", err, out)
	}
	t.Logf("built %s with -tags failpoints in %v", filepath.Base(bin), time.Since(began).Round(time.Millisecond))
	for i, tc := range fpCases {
		name, _, _ := strings.Cut(tc.spec, "@")
		t.Run(name, func(t *testing.T) { fpRun(t, bin, i, tc.spec, tc.files) })
	}
}

// fpCommand is a command the test's TOS received, and whether the daemon
// had been restarted by then.
type fpCommand struct {
	cmd       state.Command
	afterBoot bool
}

// fpCommands records what arrives on the TOS command topic.
type fpCommands struct {
	restarted atomic.Bool
	mu        sync.Mutex
	got       []fpCommand
	bad       []string
}

func (c *fpCommands) onMessage(_ paho.Client, m paho.Message) {
	var cmd state.Command
	err := json.Unmarshal(m.Payload(), &cmd)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || cmd.ID == "" {
		c.bad = append(c.bad, string(m.Payload()))
		return
	}
	c.got = append(c.got, fpCommand{cmd: cmd, afterBoot: c.restarted.Load()})
}

func (c *fpCommands) snapshot() ([]fpCommand, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got), slices.Clone(c.bad)
}

func fpTOSArrival(c int) []byte {
	data, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("TOS-%04d", c), "container": crashContainer(c), "event": "arrived",
		"holds": []string{"CUSTOMS"}, "at": crashBaseAt.Add(-time.Hour).Format(time.RFC3339),
	})
	return data
}

// fpSingleEvent is the one agency event of a steady or file container.
func fpSingleEvent(id string, c int, st state.Status) []byte {
	data, _ := json.Marshal(map[string]any{
		"id": id, "agency": "customs", "status": st, "containers": []string{crashContainer(c)},
		"at": crashBaseAt.Format(time.RFC3339),
	})
	return data
}

func fpSteadyID(i int) string { return fmt.Sprintf("ST-%04d", i) }
func fpFileID(i int) string   { return fmt.Sprintf("FD-%04d", i) }
func fpFileName(i int) string { return fmt.Sprintf("fp-%03d.json", i) }

// fpFileStatus alternates, so files are released and held.
func fpFileStatus(i int) state.Status { return crashStatus(i, 0) }

// fpExpect is what the journal and the container must show in the end.
type fpExpect struct {
	events []string     // agency event ids, each journaled exactly once
	tos    string       // the TOS arrival id, journaled once ("" for none)
	status state.Status // customs status in the end
}

func fpExpectations(files bool) map[string]fpExpect {
	want := map[string]fpExpect{}
	for c := range fpStream {
		var ids []string
		for k := range fpPerContainer {
			ids = append(ids, crashEventID(c, k))
		}
		want[crashContainer(c)] = fpExpect{events: ids, tos: fmt.Sprintf("TOS-%04d", c), status: crashStatus(c, fpPerContainer-1)}
	}
	for i := range fpSteady {
		c := fpSteadyBase + i
		want[crashContainer(c)] = fpExpect{events: []string{fpSteadyID(i)}, tos: fmt.Sprintf("TOS-%04d", c), status: state.Released}
	}
	if files {
		for i := range fpFiles {
			want[crashContainer(fpFileBase+i)] = fpExpect{events: []string{fpFileID(i)}, status: fpFileStatus(i)}
		}
	}
	return want
}

func fpRun(t *testing.T, bin string, idx int, spec string, files bool) {
	point, _, _ := strings.Cut(spec, "@")
	began := time.Now()
	dir := t.TempDir()

	brokerLog := filepath.Join(dir, "mosquitto.log")
	bdir := filepath.Join(dir, "broker")
	stateDir := filepath.Join(dir, "state")
	dropDir := filepath.Join(dir, "drop")
	for _, d := range []string{bdir, stateDir, dropDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(brokerLog)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	b, err := broker.StartMosquitto(bdir, logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })

	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := newCrashRig(t, bin, dir, fpYAML(stateDir, b.URL(), fmt.Sprintf("portsync-fp-%d-%d", os.Getpid(), idx), dropDir, port), port, brokerLog)

	// The test's TOS: it only listens; it never confirms, so commands stay
	// pending and are sent again after the restart.
	cmds := &fpCommands{}
	fpSubscribe(t, b.URL(), cmds)
	pub := crashPublisher(t, b.URL())

	// The first run, armed. The environment is read when the process
	// starts, so it is cleared again at once.
	t.Setenv(fpEnv, spec)
	r.start()
	t.Setenv(fpEnv, "")
	fpWaitReadyArmed(t, r, spec)

	if files {
		for i := range fpFiles {
			fpDropFile(t, dropDir, fpFileName(i), fpSingleEvent(fpFileID(i), fpFileBase+i, fpFileStatus(i)))
		}
	}
	var published atomic.Int64
	pubErr := make(chan error, 1)
	go func() { pubErr <- fpPublish(pub, &published) }()

	// The daemon must die by the failpoint, by SIGKILL.
	select {
	case <-r.daemon.done:
	case <-time.After(fpWait):
		t.Fatalf("failpoint %s did not fire within %v (%d messages accepted by the broker)", spec, fpWait, published.Load())
	}
	died := time.Since(began)
	if err := r.daemon.err; !fpKilledBySIGKILL(err) {
		t.Fatalf("first run ended with %v, want signal: killed", err)
	}
	logText, _ := os.ReadFile(r.logPath)
	if !strings.Contains(string(logText), "failpoint "+point+": hit ") {
		t.Fatalf("first run was killed (%v) but its log does not say failpoint %s fired", r.daemon.err, point)
	}
	t.Logf("failpoint %s fired: %v, %v in, after the broker accepted %d messages", spec, r.daemon.err, died.Round(time.Millisecond), published.Load())
	// The store as the crash left it is consistent, before anything opens
	// it for writing.
	dbPath := filepath.Join(stateDir, state.FileName)
	fpCheckStore(t, dbPath, "after the crash")
	if files {
		t.Logf("after the crash: %d files still in the drop directory, %d in done/", len(fpListFiles(t, dropDir)), len(fpListFiles(t, filepath.Join(dropDir, "done"))))
	}

	// The second run: same config, store and client id; no failpoint.
	cmds.restarted.Store(true)
	r.start()
	r.waitReady()
	t.Logf("restarted and ready (%v in)", time.Since(began).Round(time.Millisecond))
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}

	want := fpExpectations(files)
	deadline := time.Now().Add(fpWait)
	fpWaitStatuses(t, r, want, deadline)
	t.Logf("every container shows its last event's status (%v in)", time.Since(began).Round(time.Millisecond))
	histories := fpWaitJournal(t, r, want, deadline)
	if files {
		fpWaitFilesDone(t, dropDir, deadline)
	}
	fpCheckCommands(t, r, cmds, histories, point == "dispatch.sent", deadline)

	var dl struct {
		Deadletters []json.RawMessage `json:"deadletters"`
	}
	if code := r.getJSON("/api/v1/deadletters", &dl); code != http.StatusOK {
		t.Errorf("GET deadletters: HTTP %d", code)
	} else if len(dl.Deadletters) > 0 {
		t.Errorf("%d dead letters, want none: %s", len(dl.Deadletters), dl.Deadletters[0])
	}
	t.Logf("second run's events: %s", fpEventStats(r))
	r.stopGracefully()
	fpCheckStore(t, dbPath, "after a clean stop")
	t.Logf("%s: done in %v", spec, time.Since(began).Round(time.Millisecond))
}

// fpSubscribe subscribes the test's TOS to the command topic.
func fpSubscribe(t *testing.T, url string, cmds *fpCommands) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("fp-tos-%d", os.Getpid())).
		SetCleanSession(true).SetAutoReconnect(true)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("TOS connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe("tos/commands", 1, cmds.onMessage); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("TOS subscribe: %v", tok.Error())
	}
}

// fpWaitReadyArmed waits for the armed daemon to be ready; dying first
// means the failpoint's count is too low to fall among the events.
func fpWaitReadyArmed(t *testing.T, r *crashRig, spec string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-r.daemon.done:
			t.Fatalf("the daemon died (%v) before it was ready: %s fires during start-up; choose a later hit", r.daemon.err, spec)
		default:
		}
		if r.getJSON("/readyz", nil) == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("armed daemon not ready within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fpPublish sends the steady containers' arrivals and releases, the
// stream's arrivals and the stream (event k of every container, then event
// k+1), in bursts, each burst accepted by the broker before the next.
func fpPublish(pub paho.Client, published *atomic.Int64) error {
	type msg struct {
		topic   string
		payload []byte
	}
	var all []msg
	// First each steady container's arrival and release, so that the
	// first group commits already write commands to the outbox.
	for i := range fpSteady {
		all = append(all, msg{"tos/events", fpTOSArrival(fpSteadyBase + i)})
		all = append(all, msg{crashTopic, fpSingleEvent(fpSteadyID(i), fpSteadyBase+i, state.Released)})
	}
	for c := range fpStream {
		all = append(all, msg{"tos/events", fpTOSArrival(c)})
	}
	for k := range fpPerContainer {
		for c := range fpStream {
			all = append(all, msg{crashTopic, crashEvent(c, k)})
		}
	}
	for chunk := range slices.Chunk(all, fpBurst) {
		toks := make([]paho.Token, 0, len(chunk))
		for _, m := range chunk {
			toks = append(toks, pub.Publish(m.topic, 1, false, m.payload))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				return fmt.Errorf("publish (after %d accepted): %v", published.Load(), tok.Error())
			}
		}
		published.Add(int64(len(chunk)))
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// fpDropFile writes a file as NAME.part and renames it, as the README asks.
func fpDropFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	part := filepath.Join(dir, name+".part")
	if err := os.WriteFile(part, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(part, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// fpListFiles lists the regular files in dir (none if it does not exist).
func fpListFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names
}

func fpKilledBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL && err.Error() == "signal: killed"
}

// fpCheckStore runs bbolt's consistency check on the store file.
func fpCheckStore(t *testing.T, path, when string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("store %s: open: %v", when, err)
	}
	defer db.Close()
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("store %s: %v", when, err)
	}
	if len(problems) > 0 {
		t.Errorf("store %s: bbolt check found %d problems: %s", when, len(problems), strings.Join(problems[:min(len(problems), 10)], "; "))
		return
	}
	t.Logf("store %s: bbolt check clean", when)
}

// fpWaitStatuses polls until every container shows its expected customs
// status.
func fpWaitStatuses(t *testing.T, r *crashRig, want map[string]fpExpect, deadline time.Time) {
	t.Helper()
	pending := map[string]bool{}
	for id := range want {
		pending[id] = true
	}
	last := map[string]string{}
	for {
		select {
		case <-r.daemon.done:
			t.Fatalf("daemon exited while applying events: %v", r.daemon.err)
		default:
		}
		for id := range pending {
			var v struct {
				Agencies map[string]state.Status `json:"agencies"`
			}
			code := r.getJSON("/api/v1/containers/"+id, &v)
			last[id] = fmt.Sprintf("HTTP %d customs=%s", code, v.Agencies["customs"])
			if code == http.StatusOK && v.Agencies["customs"] == want[id].status {
				delete(pending, id)
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var some []string
			for _, id := range slices.Sorted(maps.Keys(pending)) {
				if len(some) < 10 {
					some = append(some, fmt.Sprintf("%s (want %s, got %s)", id, want[id].status, last[id]))
				}
			}
			t.Fatalf("%d containers do not show their last event's status, e.g. %s", len(pending), strings.Join(some, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fpHistory is a container's journal.
func fpHistory(t *testing.T, r *crashRig, container string) []state.JournalEntry {
	t.Helper()
	var body struct {
		History []state.JournalEntry `json:"history"`
	}
	if code := r.getJSON("/api/v1/containers/"+container+"/history", &body); code != http.StatusOK {
		t.Fatalf("GET history of %s: HTTP %d", container, code)
	}
	return body.History
}

// fpWaitJournal checks that every agency event and TOS arrival is in its
// container's journal exactly once, polling while some are missing, and
// returns the journals.
func fpWaitJournal(t *testing.T, r *crashRig, want map[string]fpExpect, deadline time.Time) map[string][]state.JournalEntry {
	t.Helper()
	for {
		histories := map[string][]state.JournalEntry{}
		var missing, dups int
		var report []string
		note := func(s string) {
			if len(report) < 20 {
				report = append(report, s)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(want)) {
			w := want[id]
			h := fpHistory(t, r, id)
			histories[id] = h
			agency, tos := map[string]int{}, map[string]int{}
			for _, e := range h {
				switch e.Kind {
				case state.JournalAgencyEvent:
					agency[e.EventID]++
				case state.JournalTOSEvent:
					tos[e.EventID]++
				}
			}
			expect := func(counts map[string]int, ev string) {
				switch n := counts[ev]; {
				case n == 0:
					missing++
					note(ev + " missing")
				case n > 1:
					dups++
					note(fmt.Sprintf("%s journaled %d times", ev, n))
				}
				delete(counts, ev)
			}
			for _, ev := range w.events {
				expect(agency, ev)
			}
			if w.tos != "" {
				expect(tos, w.tos)
			}
			for ev, n := range agency {
				dups++
				note(fmt.Sprintf("%s: unexpected agency event %s (%d times)", id, ev, n))
			}
			for ev, n := range tos {
				dups++
				note(fmt.Sprintf("%s: unexpected TOS event %s (%d times)", id, ev, n))
			}
		}
		if missing == 0 && dups == 0 {
			t.Logf("every event journaled exactly once, in %d containers", len(want))
			return histories
		}
		if dups > 0 || time.Now().After(deadline) {
			t.Fatalf("%d events missing from the journal, %d journaled more than once or unexpected: %s", missing, dups, strings.Join(report, "; "))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// fpWaitFilesDone waits until every dropped file is in done/, once, and
// nothing is left in the directory or in rejected/.
func fpWaitFilesDone(t *testing.T, dir string, deadline time.Time) {
	t.Helper()
	var want []string
	for i := range fpFiles {
		want = append(want, fpFileName(i))
	}
	for {
		left := fpListFiles(t, dir)
		done := fpListFiles(t, filepath.Join(dir, "done"))
		rejected := fpListFiles(t, filepath.Join(dir, "rejected"))
		slices.Sort(done)
		if len(left) == 0 && len(rejected) == 0 && slices.Equal(done, want) {
			t.Logf("all %d files in done/, each once", len(want))
			return
		}
		if len(rejected) > 0 || len(done) > len(want) || time.Now().After(deadline) {
			t.Fatalf("files: left in the directory %v, in done/ %v (want %v), in rejected/ %v", left, done, want, rejected)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fpCheckCommands checks the commands the TOS received against the
// journals and the outbox: an id always names the same command; one
// container, hold and cause never get two ids; every command sent is
// journaled once as issued; every command still pending was sent, and
// one sent before the crash is sent again, with its id, after the restart.
func fpCheckCommands(t *testing.T, r *crashRig, cmds *fpCommands, histories map[string][]state.JournalEntry, needResend bool, deadline time.Time) {
	t.Helper()
	// What is pending in the end, by container.
	pending := map[string]state.PendingCommand{} // id -> command
	for container := range histories {
		var v struct {
			Pending []state.PendingCommand `json:"pending_commands"`
		}
		if code := r.getJSON("/api/v1/containers/"+container, &v); code != http.StatusOK {
			t.Fatalf("GET container %s: HTTP %d", container, code)
		}
		for _, p := range v.Pending {
			pending[p.ID] = p
		}
	}
	// Every pending command issued before the crash and seen by the TOS
	// then must be seen again after the restart; give the restart's
	// re-send a moment.
	var got []fpCommand
	var bad []string
	var resent, notResent, unsent []string
	for {
		got, bad = cmds.snapshot()
		before, after := map[string]bool{}, map[string]bool{}
		for _, g := range got {
			if g.afterBoot {
				after[g.cmd.ID] = true
			} else {
				before[g.cmd.ID] = true
			}
		}
		resent, notResent, unsent = nil, nil, nil
		for id := range pending {
			switch {
			case before[id] && after[id]:
				resent = append(resent, id)
			case before[id]:
				notResent = append(notResent, id)
			case !after[id]:
				unsent = append(unsent, id)
			}
		}
		if len(notResent)+len(unsent) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(bad) > 0 {
		t.Errorf("%d undecodable messages on the command topic, e.g. %s", len(bad), bad[0])
	}
	if len(notResent) > 0 {
		t.Errorf("%d pending commands sent before the crash were not sent again after the restart, e.g. %s", len(notResent), notResent[0])
	}
	if len(unsent) > 0 {
		t.Errorf("%d pending commands were never sent, e.g. %s", len(unsent), unsent[0])
	}
	if needResend && len(resent) == 0 {
		t.Errorf("no pending command was sent both before the crash and after the restart (%d commands received, %d pending)", len(got), len(pending))
	}

	byID := map[string]state.Command{}
	byCause := map[[3]string]string{} // container, hold, cause -> id
	sends := map[string]int{}
	for _, g := range got {
		c := g.cmd
		sends[c.ID]++
		if prev, ok := byID[c.ID]; ok {
			if prev.Container != c.Container || prev.Hold != c.Hold || prev.Cause != c.Cause || prev.Action != c.Action {
				t.Errorf("command id %s names two commands: %s %s %s cause %s, and %s %s %s cause %s",
					c.ID, prev.Container, prev.Action, prev.Hold, prev.Cause, c.Container, c.Action, c.Hold, c.Cause)
			}
			continue
		}
		byID[c.ID] = c
		key := [3]string{c.Container, c.Hold, c.Cause}
		if other, ok := byCause[key]; ok {
			t.Errorf("%s, hold %s, cause %s: two command ids, %s and %s", c.Container, c.Hold, c.Cause, other, c.ID)
		}
		byCause[key] = c.ID
	}
	// Every command the TOS saw is in the store's journal, issued once,
	// as what was sent: nothing left the process before it was durable.
	for id, c := range byID {
		h, ok := histories[c.Container]
		if !ok {
			t.Errorf("command %s for unknown container %s", id, c.Container)
			continue
		}
		n := 0
		for _, e := range h {
			if e.Kind == state.JournalCommand && e.Command == id {
				n++
				if e.EventID != c.Cause || e.Hold != c.Hold || e.Action != c.Action {
					t.Errorf("command %s: sent as %s %s cause %s, journaled as %s %s cause %s", id, c.Action, c.Hold, c.Cause, e.Action, e.Hold, e.EventID)
				}
			}
		}
		if n != 1 {
			t.Errorf("command %s (%s, cause %s) was sent but is journaled as issued %d times", id, c.Container, c.Cause, n)
		}
	}
	repeated := 0
	for _, n := range sends {
		if n > 1 {
			repeated++
		}
	}
	t.Logf("commands: %d receipts of %d ids (%d ids received more than once); %d pending in the end, %d of them sent before the crash and again after the restart",
		len(got), len(byID), repeated, len(pending), len(resent))
}

// fpEventStats summarises portsync_events_total of the running process by
// source and result: duplicates show that redelivered messages and files
// were recognised.
func fpEventStats(r *crashRig) string {
	resp, err := r.http.Get(r.base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var parts []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "portsync_events_total{") {
			continue
		}
		label := func(name string) string {
			_, rest, _ := strings.Cut(line, name+`="`)
			v, _, _ := strings.Cut(rest, `"`)
			return v
		}
		fields := strings.Fields(line)
		parts = append(parts, label("source")+"/"+label("result")+"="+fields[len(fields)-1])
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
