package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	_ "github.com/portsync/portsync/adapters/filedrop"
	_ "github.com/portsync/portsync/adapters/httppush"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// ackWatcher is a client with a persistent session subscribed to an ack
// topic at QoS 1: answers published while it is away (a broker restart)
// wait for it.
type ackWatcher struct {
	mu   stdsync.Mutex
	got  []state.AckBody
	byID map[string][]string // id -> results, in arrival order
}

func watchAcks(t *testing.T, h *harness, topic string) *ackWatcher {
	t.Helper()
	w := &ackWatcher{byID: map[string][]string{}}
	handler := func(_ paho.Client, m paho.Message) {
		var b state.AckBody
		if err := json.Unmarshal(m.Payload(), &b); err != nil {
			t.Errorf("bad acknowledgement %s: %v", m.Payload(), err)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, b)
		w.byID[b.ID] = append(w.byID[b.ID], b.Result)
		w.mu.Unlock()
	}
	opts := paho.NewClientOptions().AddBroker(h.broker.URL()).SetClientID(fmt.Sprintf("ack-watcher-%d", clientSeq)).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(true).SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe(topic, 1, handler).Wait() })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("ack watcher connect: %v", tok.Error())
	}
	h.eventually("ack watcher connected", c.IsConnectionOpen)
	t.Cleanup(func() { c.Disconnect(100) })
	return w
}

func (w *ackWatcher) results(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.byID[id]...)
}

func (w *ackWatcher) body(id string) (state.AckBody, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.got {
		if b.ID == id {
			return b, true
		}
	}
	return state.AckBody{}, false
}

// withAckTopic gives the customs MQTT source an ack_topic.
func withAckTopic(y string) string {
	return strings.Replace(y, "topic: customs/releases,", "topic: customs/releases, ack_topic: customs/acks,", 1)
}

// TestAckPerMessageThroughBrokerRestart (issue 12): a source with
// ack_topic answers every message after its commit, applied, duplicate,
// stale or rejected with code and reason; through a broker stopped in
// the middle of a stream and started again, and through a daemon
// restart, every message gets its answer. Delivery is at least once: an
// answer the broker took just before it stopped, without portsync
// hearing its PUBACK, comes again, the same.
func TestAckPerMessageThroughBrokerRestart(t *testing.T) {
	h := newHarness(t, withAckTopic)
	brSkipUnlessMosquitto(t, h)
	w := watchAcks(t, h, "customs/acks")

	h.agency("ACK-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.agency("ACK-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.agency("ACK-0", "customs", state.Held, "2026-11-28T09:00:00+08:00", c1)
	h.agency("ACK-2", "customs", state.Released, "2026-11-28T10:00:00+08:00", "MSCU1234567")
	h.publish("customs/releases", `{"id": "ACK-3", "agency": "customs", "status": `)
	brWaitFor(t, brokerRestartTimeout, "five answers", func() bool {
		return len(w.results("ACK-1")) >= 2 && len(w.results("ACK-0")) >= 1 && len(w.results("ACK-2")) >= 1 && len(w.results("")) >= 1
	})
	if got := w.results("ACK-1"); got[0] != sync.ResultApplied || got[1] != sync.ResultDuplicate {
		t.Errorf("ACK-1 answers %v, want applied then duplicate", got)
	}
	if got := w.results("ACK-0"); got[0] != sync.ResultStale {
		t.Errorf("ACK-0 answers %v, want stale", got)
	}
	if b, _ := w.body("ACK-2"); b.Result != sync.ResultRejected || b.Code != state.CodeBadCheckDigit || !strings.Contains(b.Reason, "MSCU1234567") || b.Source != "customs-mqtt" || b.At.IsZero() {
		t.Errorf("ACK-2 answer %+v, want rejected, bad_check_digit, naming the container", b)
	}
	if b, _ := w.body(""); b.Result != sync.ResultRejected || b.Code != state.CodeMalformed {
		t.Errorf("the malformed message's answer %+v, want rejected, malformed", b)
	}

	// A stream, and the broker stops in the middle of it: the answers
	// not yet published wait in the store, the messages not yet taken
	// wait in the broker's session, and those whose PUBACK the broker
	// did not get come again.
	const n = 200
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("S-%03d", i)
		h.agency(ids[i], "customs", state.Released, "2026-11-28T11:00:00+08:00", c2)
	}
	if err := h.broker.Stop(); err != nil {
		t.Fatal(err)
	}
	pending := h.daemon.engine().PendingAcks()
	time.Sleep(500 * time.Millisecond) // the daemon notices the broker is gone
	if err := h.broker.Start(); err != nil {
		t.Fatal(err)
	}
	brWaitFor(t, brokerRestartTimeout, "an answer to every message of the stream", func() bool {
		for _, id := range ids {
			if len(w.results(id)) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("%d answers waited in the store when the broker stopped", pending)
	for i, id := range ids {
		want := sync.ResultApplied
		if i > 0 {
			want = sync.ResultStale // the same decision at the same time as S-000
		}
		// The first answer is the message's; a later one is the same
		// answer published again, or the answer to the message delivered
		// again by the broker, which had not had portsync's PUBACK for it:
		// duplicate.
		got := w.results(id)
		for i, r := range got {
			if r != want && (i == 0 || r != sync.ResultDuplicate) {
				t.Errorf("%s answered %v, want %s (then only %s or duplicate)", id, got, want, want)
				break
			}
		}
	}

	// A daemon restart: the messages sent meanwhile are answered once it
	// is back.
	h.stop()
	h.agency("R-1", "customs", state.Held, "2026-11-28T12:00:00+08:00", c3)
	h.agency("R-2", "customs", state.Released, "2026-11-28T12:30:00+08:00", c3)
	h.start()
	brWaitFor(t, brokerRestartTimeout, "answers after the daemon restart", func() bool {
		return len(w.results("R-1")) > 0 && len(w.results("R-2")) > 0
	})
	if r1, r2 := w.results("R-1"), w.results("R-2"); r1[0] != sync.ResultApplied || r2[0] != sync.ResultApplied {
		t.Errorf("after the restart: R-1 %v, R-2 %v, want applied", r1, r2)
	}
	brWaitFor(t, brokerRestartTimeout, "the acknowledgement outbox emptied", func() bool { return h.daemon.engine().PendingAcks() == 0 })
}

// TestAckHTTPPushAnswerBody: an http_push answer carries the same
// acknowledgement, besides its results and, for a rejection, error.
func TestAckHTTPPushAnswerBody(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "gateway.token")
	os.WriteFile(token, []byte("gw-secret\n"), 0o600)
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "  - {name: tos-events,",
			"  - {name: customs-push, type: http_push, kind: agency, agency: customs, token_file: "+token+"}\n  - {name: tos-events,", 1)
	})
	post := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", h.base()+"/api/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer gw-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post(`{"id": "P-1", "agency": "customs", "status": "released", "containers": ["` + c1 + `"], "at": "2026-11-28T10:15:00+08:00"}`)
	if code != http.StatusAccepted || out["id"] != "P-1" || out["source"] != "customs-push" || out["result"] != "applied" || out["at"] == nil || out["results"] == nil {
		t.Fatalf("202 answer: HTTP %d %v", code, out)
	}
	code, out = post(`{"id": "P-2", "agency": "customs", "status": "released", "containers": ["MSCU1234567"], "at": "2026-11-28T10:15:00+08:00"}`)
	if code != http.StatusUnprocessableEntity || out["id"] != "P-2" || out["result"] != "rejected" || out["code"] != state.CodeBadCheckDigit ||
		out["reason"] == nil || out["reason"] != out["error"] {
		t.Fatalf("422 answer: HTTP %d %v", code, out)
	}
}

// TestAckFileDrop: a file_drop source with ack_dir answers each file with
// NAME.ack.json once it is committed.
func TestAckFileDrop(t *testing.T) {
	spool, acks := t.TempDir(), filepath.Join(t.TempDir(), "acks")
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "  - {name: tos-events,",
			"  - {name: customs-drop, type: file_drop, dir: "+spool+", ack_dir: "+acks+", rescan: 100ms, kind: agency, agency: customs}\n  - {name: tos-events,", 1)
	})
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(spool, name+".part"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(spool, name+".part"), filepath.Join(spool, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("rel-1.json", `{"id": "F-1", "agency": "customs", "status": "released", "containers": ["`+c1+`"], "at": "2026-11-28T10:15:00+08:00"}`)
	write("bad.json", `{"id": "F-2", "agency": "customs", "status": "released", "containers": ["MSCU1234567"], "at": "2026-11-28T10:15:00+08:00"}`)
	read := func(name string) (state.AckBody, bool) {
		data, err := os.ReadFile(filepath.Join(acks, name+".ack.json"))
		var b state.AckBody
		return b, err == nil && json.Unmarshal(data, &b) == nil
	}
	h.eventually("both answer files", func() bool {
		_, ok1 := read("rel-1.json")
		_, ok2 := read("bad.json")
		return ok1 && ok2
	})
	if b, _ := read("rel-1.json"); b.ID != "F-1" || b.Result != sync.ResultApplied || b.Source != "customs-drop" {
		t.Errorf("rel-1.json answer %+v", b)
	}
	if b, _ := read("bad.json"); b.ID != "F-2" || b.Result != sync.ResultRejected || b.Code != state.CodeBadCheckDigit {
		t.Errorf("bad.json answer %+v", b)
	}
}
