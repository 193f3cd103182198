package x12

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portsync/portsync/internal/heapwatch"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// writeSample350 writes n X4 loops of 350 in interchanges of perIC loops
// (transaction sets of at most 9999, the most the 350 allows), each a 1C
// release of its own container with its entry, port, FIRMS code, remark
// and N7, and returns the file's size.
func writeSample350(tb testing.TB, path string, n, perIC int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i, ic := 0, 1; i < n; ic++ {
		fmt.Fprintf(&b, "ISA*00*          *00*          *ZZ*CBPACE         *ZZ*PORTSYNCT1     *261128*1015*U*00401*%09d*0*P*>~\n", ic)
		b.WriteString("GS*SO*CBPACE*PORTSYNCT1*20261128*1015*5001*X*004010~\n")
		txs, end := 0, min(n, i+perIC)
		for i < end {
			txs++
			loops := min(9999, end-i)
			fmt.Fprintf(&b, "ST*350*%04d~\nM10*MSCU*O*PA*9839179*MSC GULSUN*FL245W~\nP4*2704*20261127~\n", txs)
			for k := 0; k < loops; k++ {
				prefix := fmt.Sprintf("MSCU%06d", i%1000000)
				fmt.Fprintf(&b, "X4*MEDUSH%08d*1*01*345%08d*20261128*1015*1C**MSCU****2704*Y258***PT~\nK1*ENTRY 345-%07d RELEASED*GENERAL EXAMINATION; NO HOLD AT RELEASE~\nN7*MSCU*%s%d*********CN~\n",
					i, i, i%10000000, prefix[4:], state.CheckDigit(prefix))
				i++
			}
			fmt.Fprintf(&b, "SE*%d*%04d~\n", 3*loops+4, txs)
			f.WriteString(b.String())
			b.Reset()
		}
		fmt.Fprintf(&b, "GE*%d*5001~\nIEA*1*%09d~\n", txs, ic)
		f.WriteString(b.String())
		b.Reset()
	}
	info, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	return info.Size()
}

// BenchmarkDecode50MB decodes a 50 MB 350 file (287,000 X4 loops) and
// reports the peak heap next to the file size:
//
//   - stream: DecodeStream from the file, each record dropped as emitted:
//     the decoder's own working set, which is one transaction set's
//     segments plus the records of the open interchange (kept until its
//     IEA checks out). With one interchange in the file that is every
//     record; with interchanges of 9999 loops (9999-ic) it is flat.
//   - stream+records: adapters.DecodeMessage from a file Body, the way a
//     file_drop message reaches the engine, which holds every record of a
//     message (one store transaction).
//   - whole: the file read into memory and decoded with Decode, as every
//     message was before issue 11.
func BenchmarkDecode50MB(b *testing.B) {
	dir := b.TempDir()
	one, many := filepath.Join(dir, "one.x12"), filepath.Join(dir, "many.x12")
	sizes := map[string]int64{one: writeSample350(b, one, 287_000, 287_000), many: writeSample350(b, many, 287_000, 9999)}
	d := newDecoder(b, source()).(*decoder)
	for _, tc := range []struct{ name, path, mode string }{
		{"1-ic/stream", one, "stream"},
		{"1-ic/stream+records", one, "records"},
		{"1-ic/whole", one, "whole"},
		{"9999-ic/stream", many, "stream"},
		{"9999-ic/stream+records", many, "records"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var peak uint64
			var n int
			for b.Loop() {
				p := heapwatch.Peak(func() {
					n = 0
					switch tc.mode {
					case "stream":
						f, err := os.Open(tc.path)
						if err != nil {
							b.Fatal(err)
						}
						d.DecodeStream(f, func(r adapters.Record) {
							if r.Err != nil {
								b.Fatal(r.Err)
							}
							n++
						})
						f.Close()
					case "records":
						recs := adapters.DecodeMessage(d, adapters.Message{Body: func() (io.ReadCloser, error) {
							return os.Open(tc.path)
						}})
						n = len(recs)
						runtime.KeepAlive(recs)
					case "whole":
						data, err := os.ReadFile(tc.path)
						if err != nil {
							b.Fatal(err)
						}
						recs := d.Decode(data)
						n = len(recs)
						runtime.KeepAlive(recs)
					}
				})
				peak = max(peak, p)
			}
			if n != 287_000 {
				b.Fatalf("%d records, want 287000", n)
			}
			b.ReportMetric(float64(sizes[tc.path])/1e6, "file-MB")
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
		})
	}
}
