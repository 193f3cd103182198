package x12

import (
	"time"
	// The X417 time codes name IANA zones; embedding the database keeps
	// them working on hosts without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/portsync/portsync/state"
)

// disposition is one entry of the default disposition-code table: what the
// code means for the terminal and its name in CBP's list (CATAIR Appendix N,
// "Disposition Codes"), shortened.
type disposition struct {
	status state.Status
	name   string
}

// defaultCodes is the default disposition-code table (X407 -> released or
// held), as the package documentation lists it. A source's status_codes
// override it code by code.
var defaultCodes = map[string]disposition{
	// Releases: CBP authorises the cargo to leave the terminal.
	"1B": {state.Released, "released: intensive examination completed"},
	"1C": {state.Released, "entered and released: general examination"},
	"1J": {state.Released, "in-bond movement authorized"},
	"1W": {state.Released, "within-port transfer (PTT) authorized"},
	"4C": {state.Released, "override: earlier 1A changed to 1C, released"},

	// Holds, and withdrawals of an earlier release.
	"1A": {state.Held, "entered: intensive examination required"},
	"1G": {state.Held, "customs hold placed at port of in-bond destination"},
	"1H": {state.Held, "customs hold placed at port of discharge"},
	"1T": {state.Held, "seized"},
	"2G": {state.Held, "USDA hold placed at port of in-bond destination"},
	"2H": {state.Held, "USDA hold placed at port of discharge"},
	"2O": {state.Held, "ISF hold: no ISF on file"},
	"2P": {state.Held, "ISF hold: ISF compliance"},
	"2Q": {state.Held, "do not load: no ISF"},
	"2R": {state.Held, "do not load: ISF compliance"},
	"3G": {state.Held, "other government agency hold placed at port of in-bond destination"},
	"3H": {state.Held, "other government agency hold placed at port of discharge"},
	"4A": {state.Held, "override: earlier release withdrawn"},
	"4E": {state.Held, "entry cancelled"},
	"5H": {state.Held, "entry processing hold"},
	"6H": {state.Held, "do not load"},
	"7H": {state.Held, "NII (non-intrusive inspection) exam ordered"},
	"71": {state.Held, "USDA intensive hold placed at port of discharge"},
	"72": {state.Held, "USDA inspection/document review hold placed at port of discharge"},
	"73": {state.Held, "USDA fumigation hold placed at port of discharge"},
	"77": {state.Held, "USDA intensive hold placed at port of in-bond destination"},
	"78": {state.Held, "USDA inspection/document review hold placed at port of in-bond destination"},
	"79": {state.Held, "USDA fumigation hold placed at port of in-bond destination"},
	"97": {state.Held, "conveyance hold"},
	"A3": {state.Held, "FDA prior notice missing: movement denied"},
	"F0": {state.Held, "PGA enforcement: denied entry hold"},
	"F1": {state.Held, "PGA enforcement: denied entry hold at in-bond destination"},
	"F4": {state.Held, "PGA enforcement: seal check hold"},
	"F5": {state.Held, "PGA enforcement: seal check hold at in-bond destination"},
}

// removalCodes lift one hold. They are deliberately not in the default
// table (see the package documentation); their names make the dead letter
// say why.
var removalCodes = map[string]string{
	"1F": "customs hold removed at port of in-bond destination",
	"1I": "customs hold removed at port of discharge",
	"2F": "USDA hold removed at port of in-bond destination",
	"2I": "USDA hold removed at port of discharge",
	"3F": "other government agency hold removed at port of in-bond destination",
	"3I": "other government agency hold removed at port of discharge",
	"4O": "ISF hold removed",
	"4P": "ISF compliance hold removed",
	"4Q": "do not load removed (no ISF)",
	"4R": "do not load removed (ISF compliance)",
	"5I": "entry processing hold removed",
	"6I": "do not load condition released",
	"7I": "NII exam completed",
	"74": "USDA intensive hold removed at port of discharge",
	"75": "USDA inspection/document review hold removed at port of discharge",
	"76": "USDA fumigation hold removed at port of discharge",
	"80": "USDA intensive hold removed at port of in-bond destination",
	"81": "USDA inspection/document review hold removed at port of in-bond destination",
	"82": "USDA fumigation hold removed at port of in-bond destination",
	"98": "conveyance hold released",
	"F2": "PGA denied entry hold removed",
	"F3": "PGA denied entry hold removed at in-bond destination",
	"F6": "PGA seal check hold removed",
	"F7": "PGA seal check hold removed at in-bond destination",
}

// timeCodes are the X12 time codes (data element 623) X417 may carry, and
// the zone each names. "LT" (local time), like an absent X417, means the
// source's configured zone.
var timeCodes = map[string]*time.Location{
	"UT": time.UTC,
	"GM": time.UTC,
	"ET": mustZone("America/New_York"),
	"ES": time.FixedZone("EST", -5*3600),
	"ED": time.FixedZone("EDT", -4*3600),
	"CT": mustZone("America/Chicago"),
	"CS": time.FixedZone("CST", -6*3600),
	"CD": time.FixedZone("CDT", -5*3600),
	"MT": mustZone("America/Denver"),
	"MS": time.FixedZone("MST", -7*3600),
	"MD": time.FixedZone("MDT", -6*3600),
	"PT": mustZone("America/Los_Angeles"),
	"PS": time.FixedZone("PST", -8*3600),
	"PD": time.FixedZone("PDT", -7*3600),
	"AT": mustZone("America/Anchorage"),
	"AS": time.FixedZone("AKST", -9*3600),
	"AD": time.FixedZone("AKDT", -8*3600),
	"HT": mustZone("Pacific/Honolulu"),
	"HS": time.FixedZone("HST", -10*3600),
	"HD": time.FixedZone("HDT", -9*3600),
	"TT": mustZone("America/Puerto_Rico"),
	"TS": time.FixedZone("AST", -4*3600),
	"TD": time.FixedZone("ADT", -3*3600),
	"NT": mustZone("America/St_Johns"),
	"NS": time.FixedZone("NST", -(3*3600 + 1800)),
	"ND": time.FixedZone("NDT", -(2*3600 + 1800)),
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("x12: time zone " + name + ": " + err.Error())
	}
	return loc
}
