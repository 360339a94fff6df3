// Package largest builds resources as large as the registry's validation
// accepts — every string at its longest, in 4-byte characters where text
// is free, every list full — for tests that prove the largest valid
// changes commit on every engine.
package largest

import (
	"fmt"
	"strings"
	"time"

	"talentreg/services/registry"
)

// wide is a 4-byte UTF-8 character that validation accepts in text.
const wide = "😀"

// id returns a valid id of registry.MaxID bytes, distinct for each tag
// and n.
func id(tag string, n int) string {
	s := fmt.Sprintf("%s-%d-", tag, n)
	return s + strings.Repeat("x", registry.MaxID-len(s))
}

// Industries returns registry.MaxIndustries industry ids of the longest
// length, variant v distinct from every other variant.
func Industries(v int) []string {
	out := make([]string, registry.MaxIndustries)
	for i := range out {
		out[i] = id(fmt.Sprintf("i%d", v), i)
	}
	return out
}

// Entity returns entity n of set tag at its largest: the longest id, name
// and region, a credit code, both flags, the most industries (variant v),
// an ended lifecycle. Entities of one tag have distinct ids and credit
// codes (n below 1e6).
func Entity(tag string, n, v int) *registry.Entity {
	code := creditCode(tag, n)
	return &registry.Entity{
		ID: id(tag, n), DisplayName: strings.Repeat(wide, registry.MaxDisplayName), Kind: registry.EntityKindResearchInstitute,
		CreditCode: code, Region: strings.Repeat(wide, registry.MaxRegion), Industries: Industries(v),
		LeadingEnterprise: true, FutureIndustryPlatform: true,
		Lifecycle: registry.Lifecycle{Status: registry.LifecycleWithdrawn, EndTime: time.Date(2199, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
}

// creditCode returns a valid credit code, distinct for each n of a tag.
func creditCode(tag string, n int) string {
	h := 0
	for _, c := range tag {
		h = (h*31 + int(c)) % 1000
	}
	first17 := fmt.Sprintf("91120116%03d%06d", h, n)
	return first17 + string(registry.CreditCodeCheckChar(first17))
}

// Entities returns n entities of set tag at their largest (Entity).
func Entities(tag string, n int) []*registry.Entity {
	es := make([]*registry.Entity, n)
	for i := range es {
		es[i] = Entity(tag, i, 0)
	}
	return es
}

// Programs returns registry.MaxPrograms programmes of set tag.
func Programs(tag string) []*registry.Program {
	ps := make([]*registry.Program, registry.MaxPrograms)
	for i := range ps {
		ps[i] = &registry.Program{ID: id(tag, i), DisplayName: strings.Repeat(wide, registry.MaxDisplayName), Level: registry.ProgramLevelMunicipal}
	}
	return ps
}

// Policy returns policy n of set tag at its largest, in every programme
// of programs.
func Policy(tag string, n int, programs []*registry.Program) *registry.Policy {
	p := &registry.Policy{
		ID: id(tag, n), Title: strings.Repeat(wide, registry.MaxDisplayName), Issuer: strings.Repeat(wide, registry.MaxDisplayName),
		Level: registry.PolicyLevelMunicipal, IssueTime: time.Date(2199, 12, 31, 23, 59, 59, 999999999, time.UTC), Pilot: true,
		Industries: Industries(0),
	}
	for _, pr := range programs {
		p.Programs = append(p.Programs, pr.Name())
	}
	return p
}
