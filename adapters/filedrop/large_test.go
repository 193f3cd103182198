package filedrop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/x12" // format x12_350
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// write350 writes an X12 350 interchange with n X4 loops (9999 to a
// transaction set, the most the 350 allows), each a 1C release of its own
// container with a remark, as CBP's 350 Ocean guide lays them out.
func write350(t testing.TB, path string, n int) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	b.WriteString("ISA*00*          *00*          *ZZ*CBPACE         *ZZ*PORTSYNCT1     *261128*1015*U*00401*000005301*0*P*>~\n")
	b.WriteString("GS*SO*CBPACE*PORTSYNCT1*20261128*1015*5301*X*004010~\n")
	txs := 0
	for i := 0; i < n; {
		txs++
		loops := min(9999, n-i)
		fmt.Fprintf(&b, "ST*350*%04d~\nM10*MSCU*O*PA*9839179*MSC GULSUN*FL245W~\nP4*2704*20261127~\n", txs)
		for k := 0; k < loops; k++ {
			prefix := fmt.Sprintf("MSCU%06d", i)
			fmt.Fprintf(&b, "X4*MEDUSH%08d*1*01*345%08d*20261128*1015*1C**MSCU****2704*Y258***PT~\nK1*ENTRY 345-%07d RELEASED*GENERAL EXAMINATION; NO HOLD AT RELEASE~\nN7*MSCU*%s%d*********CN~\n",
				i, i, i, prefix[4:], state.CheckDigit(prefix))
			i++
		}
		fmt.Fprintf(&b, "SE*%d*%04d~\n", 3*loops+4, txs)
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}
	fmt.Fprintf(&b, "GE*%d*5301~\nIEA*1*000005301~\n", txs)
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// TestLargeX12FileIsApplied: a valid 5.3 MB 350 with 30,500 X4 loops is
// decoded whole, not dead-lettered as too_large (issue 11).
func TestLargeX12FileIsApplied(t *testing.T) {
	dir := t.TempDir()
	cfg := cfgFor(dir)
	cfg.Format = "x12_350"
	dec, err := adapters.NewDecoder(cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	fe := &fakeEngine{decoder: dec}
	size := write350(t, filepath.Join(dir, ".big.x12"), 30500)
	if size < 5_000_000 || size > 6_000_000 {
		t.Fatalf("sample is %d bytes, want about 5.3 MB", size)
	}
	start(t, cfg, fe)
	if err := os.Rename(filepath.Join(dir, ".big.x12"), filepath.Join(dir, "big.x12")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "done/big.x12", func() bool { return exists(filepath.Join(dir, DoneDir, "big.x12")) })
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if len(fe.msgs) != 1 || fe.msgs[0].TooLarge || fe.msgs[0].Reject != nil {
		t.Fatalf("messages %d, too large %v, reject %v", len(fe.msgs), len(fe.msgs) > 0 && fe.msgs[0].TooLarge, fe.msgs[0].Reject)
	}
	if n := len(fe.msgs[0].Payload); n > adapters.MaxKept {
		t.Errorf("payload of %d bytes kept, want at most %d", n, adapters.MaxKept)
	}
	recs := fe.records[0]
	if len(recs) != 30500 {
		t.Fatalf("%d records, want 30500", len(recs))
	}
	for i, r := range recs {
		if r.Err != nil || r.Agency == nil || r.Agency.Status != state.Released {
			t.Fatalf("record %d: %+v %v", i, r.Agency, r.Err)
		}
	}
}

// TestMaxBytes: a file over max_bytes is not read: it is dead-lettered as
// too_large naming the limit, with its head as the payload.
func TestMaxBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := cfgFor(dir)
	cfg.MaxBytes = 1000
	fe := &fakeEngine{}
	start(t, cfg, fe)
	write(t, filepath.Join(dir, "big.json"), strings.Repeat("x", 1001))
	write(t, filepath.Join(dir, "ok.json"), strings.Repeat("y", 1000))
	eventually(t, "rejected/big.json", func() bool { return exists(filepath.Join(dir, RejectedDir, "big.json")) })
	eventually(t, "done/ok.json", func() bool { return exists(filepath.Join(dir, DoneDir, "ok.json")) })
	reason, _ := os.ReadFile(filepath.Join(dir, RejectedDir, "big.json"+ReasonSuffix))
	if !strings.Contains(string(reason), "too_large") || !strings.Contains(string(reason), "1001 bytes, larger than this source's max_bytes 1000") {
		t.Errorf("reason %q", reason)
	}
	if errs := Check(config.Source{}, &Config{Dir: dir, MaxBytes: MaxMaxBytes + 1}); len(errs) != 1 || errs[0].Key != "max_bytes" {
		t.Errorf("check of max_bytes over 1 GiB: %v", errs)
	}
}
