package sync

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// BenchmarkBLFanOut5000 measures a B/L decision over a large shipper's
// B/L: 5,000 containers in the yard under a CUSTOMS hold, linked by a
// manifest; each op is one B/L event (released and held by turns, each
// newer) that every container takes, is decided on, journaled and given
// a command. The baseline in the same run is the same work sent
// container by container: 5,000 container-level events (five messages of
// 1,000, the most one event may name) on 5,000 other containers with no
// B/L, in one commit. txns/op counts the store transactions.
//
//	go test -run XXX -bench BLFanOut5000 -benchtime 10x ./sync/
func BenchmarkBLFanOut5000(b *testing.B) {
	const n = 5000
	e := newTestEngine(b, func(y string) string { return strings.Replace(y, "apply_within: 2s", "apply_within: 1h", 1) })
	dec := func(kind string) adapters.Decoder {
		d, err := adapters.NewDecoder(config.Source{Kind: kind, Format: "json"})
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	customs := &SourceInfo{Name: "customs-mqtt", Kind: config.KindAgency, Agency: "customs", Decoder: dec(config.KindAgency)}
	tos := &SourceInfo{Name: "tos-events", Kind: config.KindTOS, Decoder: dec(config.KindTOS)}
	manifests := &SourceInfo{Name: "manifests", Kind: config.KindManifest, Decoder: dec(config.KindManifest)}
	ids := func(owner string) []string {
		out := make([]string, n)
		for i := range out {
			prefix := fmt.Sprintf("%sU%06d", owner, i)
			out[i] = fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
		}
		return out
	}
	onBL, alone := ids("BLB"), ids("ALN")
	txns := 0
	run := func(msgs ...inbound) {
		bt := &batch{msgs: msgs, touch: map[string]bool{}}
		out, err := e.commit(bt)
		if err != nil {
			b.Fatal(err)
		}
		txns++
		e.finish(bt, out)
		for _, o := range out.outcomes {
			if o.Reject != nil {
				b.Fatalf("rejected: %+v", o.Reject)
			}
		}
	}
	message := func(src *SourceInfo, payload string) inbound {
		in := inbound{src: src, msg: adapters.Message{Payload: []byte(payload)}}
		in.records = decode(src, in.msg)
		return in
	}
	for _, set := range [][]string{onBL, alone} {
		for start := 0; start < n; start += 1000 {
			var msgs []inbound
			for _, id := range set[start : start+1000] {
				msgs = append(msgs, message(tos, `{"id":"N4-`+id+`","container":"`+id+`","event":"arrived","holds":["CUSTOMS"],"at":"2026-11-28T10:00:00Z"}`))
			}
			run(msgs...)
		}
	}
	run(message(manifests, `{"id":"CUSCAR-1","bl":"BIGSHIPPER0001","containers":["`+strings.Join(onBL, `","`)+`"],"at":"2026-11-28T09:00:00Z"}`))

	status := func(i int) string {
		if i%2 == 0 {
			return "released"
		}
		return "held"
	}
	at := func(i int) string { return ledgerT0.Add(time.Duration(i+1) * time.Second).Format(time.RFC3339) }
	blMsgs := make([]inbound, b.N)
	baseMsgs := make([][]inbound, b.N)
	for i := range b.N {
		blMsgs[i] = message(customs, fmt.Sprintf(`{"id":"BL-%d","agency":"customs","status":%q,"bl":"BIGSHIPPER0001","at":%q}`, i, status(i), at(i)))
		for start := 0; start < n; start += 1000 {
			baseMsgs[i] = append(baseMsgs[i], message(customs, fmt.Sprintf(`{"id":"C-%d-%d","agency":"customs","status":%q,"containers":["%s"],"at":%q}`,
				i, start, status(i), strings.Join(alone[start:start+1000], `","`), at(i))))
		}
	}
	txns = 0
	b.ResetTimer()
	var blTime, baseTime time.Duration
	for i := range b.N {
		start := time.Now()
		run(blMsgs[i])
		blTime += time.Since(start)
		start = time.Now()
		run(baseMsgs[i]...)
		baseTime += time.Since(start)
	}
	b.StopTimer()
	var c state.Container
	e.store.View(func(tx *state.Tx) (err error) { c, _, err = tx.Container(onBL[n-1]); return err })
	if want := state.Status(status(b.N - 1)); agencyStatus(&c, "customs") != want {
		b.Fatalf("last container on the B/L is %s, want %s", agencyStatus(&c, "customs"), want)
	}
	b.ReportMetric(float64(blTime.Nanoseconds())/float64(b.N), "bl_ns/op")
	b.ReportMetric(float64(baseTime.Nanoseconds())/float64(b.N), "baseline_ns/op")
	b.ReportMetric(float64(txns)/float64(2*b.N), "txns/op")
	b.ReportMetric(0, "ns/op")
	b.Logf("B/L over %d containers %v/op, %d container-level events %v/op, one transaction each", n,
		blTime/time.Duration(b.N), n, baseTime/time.Duration(b.N))
}
