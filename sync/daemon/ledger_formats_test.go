package daemon

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/portsync/portsync/adapters/edifact"
	_ "github.com/portsync/portsync/adapters/x12"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// x350 is a CBP 350 interchange with one disposition (X4) for one
// container, in the shape CBP's ocean implementation guide gives: the code
// in X407, the date and time in X405/X406, the container in N7.
func x350(ctl int, code, date, hhmm, container string) string {
	segs := []string{
		"ST*350*0001",
		"M10*MSCU*O*PA*9839179*MSC GULSUN*FL245W",
		"P4*2704*20261127",
		fmt.Sprintf("X4*MEDUSH110001*2***%s*%s*%s**MSCU", date, hhmm, code),
		fmt.Sprintf("N7*%s*%s*********CN", container[:4], container[4:]),
	}
	segs = append(segs, fmt.Sprintf("SE*%d*0001", len(segs)+1))
	return fmt.Sprintf("ISA*00*          *00*          *ZZ*CBPACE         *ZZ*PORTSYNCT1     *261128*1200*U*00401*%09d*0*P*>~", ctl) +
		fmt.Sprintf("GS*SO*CBPACE*PORTSYNCT1*20261128*1200*%d*X*004010~", ctl) +
		strings.Join(segs, "~") + "~" +
		fmt.Sprintf("GE*1*%d~IEA*1*%09d~", ctl, ctl)
}

// withFormatDrop adds a file_drop customs source of the given format over
// dir, and maps CBP's 7H exam hold to a TOS code of its own.
func withFormatDrop(dir, format string) func(string) string {
	src := fmt.Sprintf("  - {name: customs-edi, type: file_drop, dir: %s, kind: agency, agency: customs, format: %s, time_zone: UTC, rescan: 1s}\n", dir, format)
	return func(y string) string {
		y = strings.Replace(y, "sources:\n", "sources:\n"+src, 1)
		return strings.Replace(y, "customs:    {tos_hold: CUSTOMS}", "customs:    {tos_hold: CUSTOMS, hold_codes: {7H: CBP_EXAM}}", 1)
	}
}

func waitCleared(h *harness, container string, want bool) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%s cleared %v", container, want), func() bool {
		var v sync.View
		return h.get("/api/v1/containers/"+container, &v) == http.StatusOK && v.Cleared == want
	})
}

// CBP: after a 1C release "do not RELEASE the cargo until all HOLDS have
// been removed". 1H at 07:00 then 1C at 09:15 with no 1I must leave the
// container held; the 1I releases it; a 7H wants its own TOS code.
func TestX12HoldReleaseAndRemovalOverFileDrop(t *testing.T) {
	drop := t.TempDir()
	h := newHarness(t, withFormatDrop(drop, "x12_350"))
	h.tos("T1", c1, state.TOSArrived, "2026-11-28T06:00:00Z", "CUSTOMS")
	h.agency("CIQ-1", "quarantine", state.Released, "2026-11-28T06:30:00Z", c1)

	dropWrite(t, filepath.Join(drop, "1.x12"), x350(1, "1H", "20261128", "0700", c1))
	waitStatus(h, c1, "customs", state.Held)
	dropWrite(t, filepath.Join(drop, "2.x12"), x350(2, "1C", "20261128", "0915", c1))
	h.eventually("1C journaled", func() bool {
		for _, e := range dropJournal(h, c1) {
			if e.Kind == state.JournalAgencyEvent && e.Status == string(state.Released) {
				return true
			}
		}
		return false
	})
	waitStatus(h, c1, "customs", state.Held)
	waitCleared(h, c1, false)

	dropWrite(t, filepath.Join(drop, "3.x12"), x350(3, "1I", "20261128", "1000", c1))
	waitStatus(h, c1, "customs", state.Released)
	waitCleared(h, c1, true)
	h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")

	// A 7H exam hold wants CBP_EXAM alone: the release stands.
	dropWrite(t, filepath.Join(drop, "4.x12"), x350(4, "7H", "20261128", "1100", c1))
	h.waitCommand(c1, state.AddHold, "CBP_EXAM")
	waitStatus(h, c1, "customs", state.Held)
	dropWrite(t, filepath.Join(drop, "5.x12"), x350(5, "7I", "20261128", "1200", c1))
	waitStatus(h, c1, "customs", state.Released)

	// 4A withdraws the release: the general hold comes back.
	dropWrite(t, filepath.Join(drop, "6.x12"), x350(6, "4A", "20261128", "1300", c1))
	waitStatus(h, c1, "customs", state.Held)
	for _, name := range []string{"1.x12", "2.x12", "3.x12", "4.x12", "5.x12", "6.x12"} {
		h.eventually(name+" filed as done", func() bool { return dropExists(filepath.Join(drop, "done", name)) })
	}
}

// EDIFACT: code 4 of a national list (GIS+4:120:ZZZ) is not UN 7365's
// "goods released"; on a source with the default table it must not free
// the container but be dead-lettered.
func TestEDIFACTNationalCodeIsNotARelease(t *testing.T) {
	drop := t.TempDir()
	h := newHarness(t, withFormatDrop(drop, "edifact"))
	h.tos("T1", c1, state.TOSArrived, "2026-11-28T06:00:00Z", "CUSTOMS")
	msg := "UNA:+.? '" +
		"UNB+UNOC:3+CNCUSTOMS+PORTSYNCT1+261128:0915+42'" +
		"UNH+1+CUSRES:D:96B:UN'" +
		"BGM+962+REL-42+9'" +
		"DTM+137:202611280915:203'" +
		"GIS+4:120:ZZZ:N'" +
		"EQD+CN+" + c1 + "'" +
		"UNT+6+1'" +
		"UNZ+1+42'"
	dropWrite(t, filepath.Join(drop, "national.edi"), msg)
	d := waitDeadLetter(h, "", "", "120")
	if d.Source != "customs-edi" {
		t.Errorf("dead letter from %s, want customs-edi: %+v", d.Source, d)
	}
	var v sync.View
	h.get("/api/v1/containers/"+c1, &v)
	if v.Agencies["customs"] == state.Released {
		t.Fatalf("a national list's code 4 released %s", c1)
	}
}
