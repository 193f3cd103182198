package x12

import (
	"time"
	// The X417 time codes name IANA zones; embedding the database keeps
	// them working on hosts without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/portsync/portsync/state"
)

// info is the table's word for a code that is recognised but neither
// releases, holds, removes a hold nor revokes: CBP's advisories. A
// disposition with it gives no event.
const info state.Status = "info"

// disposition is one entry of a disposition-code table: what the code
// means for the terminal (a status of DESIGN 3.1, or info), the hold type
// it places or removes, and its name in CBP's list, shortened.
type disposition struct {
	status state.Status
	hold   string
	name   string
}

// The default disposition-code table follows CBP's list of disposition
// codes: CBP and Trade Automated Interface Requirements (CATAIR),
// "Appendix N - Disposition Codes" (September 2020), its predecessor
// CAMIR Appendix D (ACE M1, February 2015), and the X407 element of CBP's
// 350 implementation guides (350 Ocean 004010 and 006050, Pub # 0875-0419),
// which carry these codes ("Code advising the carrier or port authority
// about postings to a bill of lading", data element 35).
//
// CBP keeps a release and holds separately: 1B and 1C say "do not RELEASE
// the cargo until all HOLDS have been removed", and each removal code
// (1I, 1F, ...) "returns [the bill] to previous status" for its own hold
// only. So each hold that CBP lifts with a code of its own is a typed hold
// (DESIGN 1): the placing code is the hold type, and the removal code
// removes that type (1I removes 1H). Holds with no removal code of their
// own (1A, 1T, A3) are the agency's general hold, which a newer release
// lifts: 1A (entered, intensive examination required) is followed by 1B
// (released, intensive examination completed).
var defaultCodes = map[string]disposition{
	// Releases: CBP authorises the cargo to leave the terminal (once no
	// hold remains).
	"1B": {state.Released, "", "released: intensive examination completed"},
	"1C": {state.Released, "", "entered and released: general examination"},
	"1J": {state.Released, "", "in-bond movement authorized"},
	"1W": {state.Released, "", "within-port transfer (PTT) authorized"},
	"4C": {state.Released, "", "override: earlier 1A changed to 1C, released"},

	// Revocations: an earlier release is taken back.
	"4A": {state.Revoked, "", "override: earlier release withdrawn (1C or 1B overridden, released quantity subtracted)"},
	"4E": {state.Revoked, "", "entry cancelled"},
	"83": {state.Revoked, "", "PTT cancelled: the within-port transfer (1W) is withdrawn"},

	// General holds: no removal code of their own; a newer release lifts
	// them.
	"1A": {state.Held, "", "entered: intensive examination required"},
	"1T": {state.Held, "", "seized"},
	"A3": {state.Held, "", "FDA prior notice missing: movement denied"},

	// Typed holds and their removals, in pairs.
	"1H": {state.Held, "1H", "customs hold placed at port of discharge"},
	"1I": {state.HoldRemoved, "1H", "customs hold removed at port of discharge"},
	"1G": {state.Held, "1G", "customs hold placed at port of in-bond destination"},
	"1F": {state.HoldRemoved, "1G", "customs hold removed at port of in-bond destination"},
	"2H": {state.Held, "2H", "USDA hold placed at port of discharge"},
	"2I": {state.HoldRemoved, "2H", "USDA hold removed at port of discharge"},
	"2G": {state.Held, "2G", "USDA hold placed at port of in-bond destination"},
	"2F": {state.HoldRemoved, "2G", "USDA hold removed at port of in-bond destination"},
	"3H": {state.Held, "3H", "other government agency hold placed at port of discharge"},
	"3I": {state.HoldRemoved, "3H", "other government agency hold removed at port of discharge"},
	"3G": {state.Held, "3G", "other government agency hold placed at port of in-bond destination"},
	"3F": {state.HoldRemoved, "3G", "other government agency hold removed at port of in-bond destination"},
	"2O": {state.Held, "2O", "ISF hold: no ISF on file"},
	"4O": {state.HoldRemoved, "2O", "ISF hold removed (2O)"},
	"2P": {state.Held, "2P", "ISF hold: ISF compliance"},
	"4P": {state.HoldRemoved, "2P", "ISF hold removed (2P)"},
	"2Q": {state.Held, "2Q", "do not load: no ISF"},
	"4Q": {state.HoldRemoved, "2Q", "do not load removed (2Q)"},
	"2R": {state.Held, "2R", "do not load: ISF compliance"},
	"4R": {state.HoldRemoved, "2R", "do not load removed (2R)"},
	"5H": {state.Held, "5H", "entry processing hold"},
	"5I": {state.HoldRemoved, "5H", "entry processing hold removed"},
	"6H": {state.Held, "6H", "do not load"},
	"6I": {state.HoldRemoved, "6H", "do not load condition released"},
	"7H": {state.Held, "7H", "NII (non-intrusive inspection) exam ordered"},
	"7I": {state.HoldRemoved, "7H", "NII exam completed"},
	"71": {state.Held, "71", "USDA intensive hold placed at port of discharge"},
	"74": {state.HoldRemoved, "71", "USDA intensive hold removed at port of discharge"},
	"72": {state.Held, "72", "USDA inspection/document review hold placed at port of discharge"},
	"75": {state.HoldRemoved, "72", "USDA inspection/document review hold removed at port of discharge"},
	"73": {state.Held, "73", "USDA fumigation hold placed at port of discharge"},
	"76": {state.HoldRemoved, "73", "USDA fumigation hold removed at port of discharge"},
	"77": {state.Held, "77", "USDA intensive hold placed at port of in-bond destination"},
	"80": {state.HoldRemoved, "77", "USDA intensive hold removed at port of in-bond destination"},
	"78": {state.Held, "78", "USDA inspection/document review hold placed at port of in-bond destination"},
	"81": {state.HoldRemoved, "78", "USDA inspection/document review hold removed at port of in-bond destination"},
	"79": {state.Held, "79", "USDA fumigation hold placed at port of in-bond destination"},
	"82": {state.HoldRemoved, "79", "USDA fumigation hold removed at port of in-bond destination"},
	"97": {state.Held, "97", "conveyance hold"},
	"98": {state.HoldRemoved, "97", "conveyance hold released"},
	"F0": {state.Held, "F0", "PGA enforcement: denied entry hold"},
	"F2": {state.HoldRemoved, "F0", "PGA enforcement: denied entry hold removed"},
	"F1": {state.Held, "F1", "PGA enforcement: denied entry hold at in-bond destination"},
	"F3": {state.HoldRemoved, "F1", "PGA enforcement: denied entry hold at in-bond destination removed"},
	"F4": {state.Held, "F4", "PGA enforcement: seal check hold"},
	"F6": {state.HoldRemoved, "F4", "PGA enforcement: seal check hold removed"},
	"F5": {state.Held, "F5", "PGA enforcement: seal check hold at in-bond destination"},
	"F7": {state.HoldRemoved, "F5", "PGA enforcement: seal check hold at in-bond destination removed"},

	// Advisories: CBP's list describes them as advisories, with "ENT/REL
	// quantities unaffected", and none places or removes a hold. They are
	// recognised and give no event (see the package documentation).
	"01": {info, "", "port of discharge changed"},
	"02": {info, "", "entry advisory"},
	"03": {info, "", "port of entry change"},
	"04": {info, "", "add second notify party"},
	"11": {info, "", "arrival of in-bond: complete movement"},
	"12": {info, "", "arrival of in-bond: bill of lading"},
	"13": {info, "", "arrival of in-bond: container"},
	"17": {info, "", "overdue vessel arrival"},
	"18": {info, "", "master in-bond advisory: not a release"},
	"19": {info, "", "actual conveyance arrival"},
	"1K": {info, "", "bill of lading late in 5 days"},
	"1L": {info, "", "bill of lading late"},
	"1M": {info, "", "bill of lading message transmission"},
	"1Q": {info, "", "lay order extended"},
	"1R": {info, "", "pending eligible for general order"},
	"1V": {info, "", "lay order extension rejected"},
	"1Y": {info, "", "MVOC - NVOC bill of lading match"},
	"3W": {info, "", "request for in-bond diversion granted"},
	"3Z": {info, "", "security filing (ISF) on file"},
	"55": {info, "", "carrier bill add"},
	"57": {info, "", "change arrival of in-bond: complete movement"},
	"58": {info, "", "change arrival of in-bond: bill of lading"},
	"59": {info, "", "change arrival of in-bond: container"},
	"85": {info, "", "arrive in-bond at intermediate port"},
	"86": {info, "", "arrive bill of lading at intermediate port"},
	"87": {info, "", "arrive container at intermediate port"},
	"88": {info, "", "depart in-bond from intermediate port"},
	"89": {info, "", "depart bill of lading from intermediate port"},
	"90": {info, "", "depart container from intermediate port"},
	"91": {info, "", "transfer of liability for in-bond"},
	"92": {info, "", "transfer of liability for bill of lading"},
	"93": {info, "", "transfer of liability for container"},
	"94": {info, "", "broker download"},
	"96": {info, "", "manifest consist"},
	"A1": {info, "", "FDA prior notice advisory"},
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
