package sync

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// BenchmarkGroupCommit measures the writer alone, without MQTT: groups of
// 1000 customs releases for containers in the yard under a CUSTOMS hold,
// each decoded, applied, decided, journaled and turned into a command in
// one transaction. Beside it, in the same run, raw bbolt: the same number
// of transactions, each putting as many values of the same total size under
// random keys. The ratio says what portsync's bookkeeping costs over the
// bare store.
//
//	go test -run XXX -bench GroupCommit -benchtime 20x ./sync/
func BenchmarkGroupCommit(b *testing.B) {
	const group, containers = 1000, 20000
	e := newTestEngine(b, func(y string) string { return strings.Replace(y, "apply_within: 2s", "apply_within: 1h", 1) })
	agencyDec, _ := adapters.NewDecoder(config.Source{Kind: config.KindAgency, Format: "json"})
	customs := &SourceInfo{Name: "customs-mqtt", Kind: config.KindAgency, Agency: "customs", Decoder: agencyDec}
	arrivals, ids := tosArrivals(b, containers)
	for start := 0; start < containers; start += group {
		commitBatch(b, e, &batch{msgs: arrivals[start : start+group], touch: map[string]bool{}})
	}
	// Decoding happens on the transport's goroutine in the daemon, so the
	// groups are decoded before the clock starts.
	groups := make([][]inbound, b.N)
	size := 0
	for i := range groups {
		for j := range group {
			n := i*group + j
			// A release as customs sends it: with its B/L, declaration and
			// reason, as BenchmarkThroughput's daemon gets it.
			payload := fmt.Sprintf(`{"id":"REL-%d","agency":"customs","status":"released","containers":["%s"],`+
				`"bl":"MEDUSH%06d","declaration":"2201202610%08d","reason":"documents checked, duties paid, no inspection required",`+
				`"at":"2026-11-28T10:%02d:00Z"}`,
				n, ids[n%containers], n%1000000, n, 1+n/containers)
			size += len(payload)
			in := inbound{src: customs, msg: adapters.Message{Payload: []byte(payload)}}
			in.records = decode(customs, in.msg)
			groups[i] = append(groups[i], in)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for _, g := range groups {
		commitBatch(b, e, &batch{msgs: g, touch: map[string]bool{}})
	}
	ours := time.Since(start)
	b.StopTimer()

	raw := rawBoltCommits(b, b.N, group, size/(b.N*group))
	events := float64(b.N * group)
	b.ReportMetric(events/ours.Seconds(), "events/s")
	b.ReportMetric(events/raw.Seconds(), "raw_puts/s")
	b.ReportMetric(raw.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("portsync %.0f events/s in groups of %d, raw bbolt %.0f puts/s of %d bytes in transactions of %d, ratio %.2f",
		events/ours.Seconds(), group, events/raw.Seconds(), size/(b.N*group), group, raw.Seconds()/ours.Seconds())
}

// rawBoltCommits times txs transactions of n puts of size bytes under
// random-looking keys in a fresh bbolt file, opened as the store opens it.
func rawBoltCommits(b *testing.B, txs, n, size int) time.Duration {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := []byte(strings.Repeat("x", size))
	start := time.Now()
	for i := range txs {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := range n {
				k := fmt.Appendf(nil, "%08x", uint32((i*n+j)*2654435761))
				if err := bk.Put(k, value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}
