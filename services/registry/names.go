package registry

import (
	"crypto/rand"
	"strings"
	"unicode/utf8"
)

// Collection identifies a kind of resource.
type Collection uint8

// Collections, in the order a snapshot streams them (referenced before
// referencing).
const (
	Programs Collection = iota + 1
	Entities
	Groups
	Memberships
	TalentRecords
	Targets
	Policies
)

// Collections lists every collection in snapshot order. The numbers above
// are stored (change log, request ids) and never change; the order here
// only puts each collection after those it references.
var Collections = []Collection{Programs, Entities, Groups, Memberships, TalentRecords, Policies, Targets}

// NumCollections bounds the Collection numbers: arrays indexed by
// Collection have this length.
const NumCollections = int(Policies) + 1

// String returns the collection's name segment, e.g. "talentRecords".
func (c Collection) String() string {
	switch c {
	case Programs:
		return "programs"
	case Entities:
		return "entities"
	case Groups:
		return "groups"
	case Memberships:
		return "memberships"
	case TalentRecords:
		return "talentRecords"
	case Targets:
		return "targets"
	case Policies:
		return "policies"
	}
	return "unknown"
}

// ValidID reports whether id matches ^[a-z][a-z0-9-]{0,62}$, the form of
// every client-chosen id, industry id and group field.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxID || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a random id valid for any collection: a letter followed by
// 15 letters or digits (about 77 bits of randomness).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (crypto/rand contract)
	b[0] = idAlphabet[int(b[0])%26]
	for i := 1; i < len(b); i++ {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// EntityName returns "entities/{id}".
func EntityName(id string) string { return "entities/" + id }

// GroupName returns "groups/{id}".
func GroupName(id string) string { return "groups/" + id }

// MembershipName returns "groups/{group}/memberships/{entity}".
func MembershipName(groupID, entityID string) string {
	return "groups/" + groupID + "/memberships/" + entityID
}

// TalentRecordName returns "talentRecords/{id}".
func TalentRecordName(id string) string { return "talentRecords/" + id }

// ProgramName returns "programs/{id}".
func ProgramName(id string) string { return "programs/" + id }

// TargetName returns "targets/{id}".
func TargetName(id string) string { return "targets/" + id }

// PolicyName returns "policies/{id}".
func PolicyName(id string) string { return "policies/" + id }

// ParseName splits a one-level resource name "{collection}/{id}" of the
// given collection and returns its id, or an INVALID_ARGUMENT error naming
// field.
func ParseName(field string, c Collection, name string) (string, error) {
	prefix := c.String() + "/"
	id, ok := strings.CutPrefix(name, prefix)
	if !ok || !ValidID(id) {
		return "", InvalidField(field, "must be a resource name of the form %s{id} with id matching ^[a-z][a-z0-9-]{0,62}$, got %q", prefix, clip(name))
	}
	return id, nil
}

// ParseMembershipName splits "groups/{group}/memberships/{entity}".
func ParseMembershipName(field, name string) (groupID, entityID string, err error) {
	rest, ok := strings.CutPrefix(name, "groups/")
	if ok {
		groupID, entityID, ok = strings.Cut(rest, "/memberships/")
	}
	if !ok || !ValidID(groupID) || !ValidID(entityID) {
		return "", "", InvalidField(field, "must be a resource name of the form groups/{group}/memberships/{entity}, got %q", clip(name))
	}
	return groupID, entityID, nil
}

// ParseSubject checks that name is an entity or group name and returns its
// collection and id.
func ParseSubject(field, name string) (Collection, string, error) {
	if strings.HasPrefix(name, "groups/") {
		id, err := ParseName(field, Groups, name)
		return Groups, id, err
	}
	if id, ok := strings.CutPrefix(name, "entities/"); ok && ValidID(id) {
		return Entities, id, nil
	}
	return 0, "", InvalidField(field, "must be entities/{entity} or groups/{group}, got %q", clip(name))
}

// clip shortens user input quoted in error messages.
func clip(s string) string { return Clip(s, 80) }

// Clip shortens s to at most max bytes for an error message, without
// cutting a character in half, marking the cut with "…".
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
