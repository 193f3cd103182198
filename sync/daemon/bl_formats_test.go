package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

// cuscarManifest is a D.96B CUSCAR that reports testBL with containers in
// its equipment group (SG5 EQD+CN), placed by the goods item of the
// consignment (SG7 CNI, SG8 RFF+BM, SG14 GID/SGP).
func cuscarManifest(containers ...string) string {
	segs := []string{"UNH+CAR1+CUSCAR:D:96B:UN", "BGM+85+MAN-0001+9", "DTM+137:202611280500:203"}
	for _, c := range containers {
		segs = append(segs, "EQD+CN+"+c)
	}
	segs = append(segs, "CNI+1+"+testBL, "RFF+BM:"+testBL, "GID+1+10:CT")
	for _, c := range containers {
		segs = append(segs, "SGP+"+c)
	}
	segs = append(segs, fmt.Sprintf("UNT+%d+CAR1", len(segs)+1))
	return "UNA:+.? '\nUNB+UNOA:2+MSCUCARGO+PORTSYNC+261128:0515+9001'\n" + strings.Join(segs, "'\n") + "'\nUNZ+1+9001'\n"
}

// x350BL is a CBP 350 whose X4 names testBL (X401) and no container: CBP
// decides per bill.
func x350BL(ctl int, code, date, hhmm string) string {
	segs := []string{
		"ST*350*0001",
		"M10*MSCU*O*PA*9839179*MSC GULSUN*FL245W",
		"P4*2704*20261127",
		fmt.Sprintf("X4*%s*2***%s*%s*%s**MSCU", testBL, date, hhmm, code),
	}
	segs = append(segs, fmt.Sprintf("SE*%d*0001", len(segs)+1))
	return fmt.Sprintf("ISA*00*          *00*          *ZZ*CBPACE         *ZZ*PORTSYNCT1     *261128*1200*U*00401*%09d*0*P*>~", ctl) +
		fmt.Sprintf("GS*SO*CBPACE*PORTSYNCT1*20261128*1200*%d*X*004010~", ctl) +
		strings.Join(segs, "~") + "~" +
		fmt.Sprintf("GE*1*%d~IEA*1*%09d~", ctl, ctl)
}

// A CUSCAR dropped in a file_drop manifest source links the B/L's
// containers; an X12 350 1C on the B/L, with no container, releases them
// all, and the one in the yard gets its TOS command.
func TestBLCUSCARManifestThenX350Release(t *testing.T) {
	manifests, customs := t.TempDir(), t.TempDir()
	src := fmt.Sprintf("  - {name: cuscar-drop, type: file_drop, dir: %s, kind: manifest, format: edifact, time_zone: UTC, rescan: 1s}\n", manifests)
	h := newHarness(t, func(y string) string {
		return strings.Replace(withFormatDrop(customs, "x12_350")(y), "sources:\n", "sources:\n"+src, 1)
	})
	h.tos("T1", c1, state.TOSArrived, "2026-11-28T06:00:00Z", "CUSTOMS")
	dropWrite(t, filepath.Join(manifests, "cuscar.edi"), cuscarManifest(c1, c2))
	h.eventually("CUSCAR links the B/L", func() bool {
		var b blAnswer
		h.get("/api/v1/bls/"+testBL, &b)
		return len(b.Containers) == 2
	})
	waitStatus(h, c1, "customs", state.Unknown)

	dropWrite(t, filepath.Join(customs, "1c.x12"), x350BL(1, "1C", "20261128", "0915"))
	waitStatus(h, c1, "customs", state.Released)
	waitStatus(h, c2, "customs", state.Released)
	if cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS"); cmd.Cause != "CBPACE:000000001:1:0001:1" {
		t.Fatalf("command %+v, want the 350's X4 as its cause", cmd)
	}
	for _, name := range []string{filepath.Join(manifests, "done", "cuscar.edi"), filepath.Join(customs, "done", "1c.x12")} {
		h.eventually(name+" filed as done", func() bool { return dropExists(name) })
	}
}
