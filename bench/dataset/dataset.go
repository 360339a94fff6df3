// Package dataset generates the benchmark's records deterministically, so
// that every process of a run (the floors, etcd, talentreg) holds the same
// Entity bytes under the same keys without exchanging them.
package dataset

import (
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Regions are the regions entities are spread over, in rotation.
var Regions = []string{"Binhai", "Tianjin", "Beijing", "Hebei"}

// Industries are the industry ids entities are tagged with.
var Industries = []string{
	"biomanufacturing", "cell-gene-therapy", "brain-science-intelligent-medicine",
	"information-innovation", "deep-sea", "aerospace", "advanced-energy",
	"new-materials", "biomedicine", "financial-leasing", "high-end-equipment",
	"digital-economy",
}

var kinds = []registryv1.EntityKind{
	registryv1.EntityKind_ENTITY_KIND_ENTERPRISE,
	registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
	registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE,
	registryv1.EntityKind_ENTITY_KIND_INCUBATOR,
	registryv1.EntityKind_ENTITY_KIND_OTHER,
}

// Filters are AIP-160 filters for the ListEntities case. With the rotation
// of kinds (5) and regions (4) the first matches one entity in 20 and the
// second about one in four.
var Filters = []string{
	`kind = ENTITY_KIND_UNIVERSITY AND region = "Beijing"`,
	`industries:"aerospace"`,
}

// epoch is the fixed create time of generated entities.
var epoch = time.Date(2024, 6, 14, 9, 30, 0, 123456789, time.UTC)

// EntityID returns the id of entity i, e.g. "e-0000042".
func EntityID(i int) string { return fmt.Sprintf("e-%07d", i) }

// EntityName returns the resource name of entity i, `entities/{id}`.
func EntityName(i int) string { return "entities/" + EntityID(i) }

// GroupID returns the id of group g, e.g. "g-0042".
func GroupID(g int) string { return fmt.Sprintf("g-%04d", g) }

// NewEntity returns entity i as a client sends it on create: no name, no
// output-only fields. Every field is a function of i, and its credit code is
// valid and distinct for every i below 10^8.
func NewEntity(i int) *registryv1.Entity {
	ind := make([]string, 0, 3)
	for _, k := range []int{i, i/7 + 3, i/11 + 7} {
		if s := Industries[k%len(Industries)]; !slicesContains(ind, s) {
			ind = append(ind, s)
		}
	}
	return &registryv1.Entity{
		DisplayName: fmt.Sprintf("Tianjin Binhai New Area %s Technology Innovation and Industrialisation Research Institute Holding Co., Ltd. No. %07d",
			titles[i%len(titles)], i),
		Kind:                   kinds[i%len(kinds)],
		CreditCode:             CreditCode(i),
		Region:                 Regions[(i/5)%len(Regions)],
		Industries:             ind,
		LeadingEnterprise:      i%50 == 0,
		FutureIndustryPlatform: i%70 == 0,
	}
}

var titles = []string{"Aerospace", "New Materials", "Biomedicine", "Deep Sea", "Digital Economy", "Advanced Energy"}

// Entity returns entity i as a server stores and returns it: NewEntity(i)
// with its name, create and update times and etag. Its wire size is about
// 300 bytes.
func Entity(i int) *registryv1.Entity {
	e := NewEntity(i)
	e.Name = EntityName(i)
	t := timestamppb.New(epoch.Add(time.Duration(i) * time.Millisecond))
	e.CreateTime = t
	e.UpdateTime = t
	e.Etag = fmt.Sprintf("W/\"%016x%016x\"", uint64(i)*0x9e3779b97f4a7c15, uint64(i)^0xdeadbeefcafef00d)
	return e
}

// EntityBytes returns the wire form of Entity(i).
func EntityBytes(i int) []byte {
	b, err := proto.Marshal(Entity(i))
	if err != nil {
		panic(err) // a generated message with valid fields always marshals
	}
	return b
}

// Group returns group g: a consortium for g below 4, else an alliance.
func Group(g int) *registryv1.Group {
	kind := registryv1.GroupKind_GROUP_KIND_ALLIANCE
	if g < 4 {
		kind = registryv1.GroupKind_GROUP_KIND_CONSORTIUM
	}
	return &registryv1.Group{
		Name:        "groups/" + GroupID(g),
		DisplayName: fmt.Sprintf("Binhai %s talent group %d", Industries[g%len(Industries)], g),
		Kind:        kind,
		Field:       Industries[g%len(Industries)],
	}
}

// MembershipGroups returns the k distinct groups, out of groups, that entity i
// belongs to (k ≤ groups).
func MembershipGroups(i, k, groups int) []int {
	out := make([]int, 0, k)
	g := (i * 7919) % groups
	step := 1 + i%13
	for len(out) < k {
		for contains(out, g) {
			g = (g + 1) % groups
		}
		out = append(out, g)
		g = (g + step) % groups
	}
	return out
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Membership returns the membership of entity i in group g.
func Membership(i, g int) *registryv1.Membership {
	role := registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER
	if i%100 == 0 {
		role = registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD
	}
	return &registryv1.Membership{
		Name:   "groups/" + GroupID(g) + "/memberships/" + EntityID(i),
		Entity: EntityName(i),
		Role:   role,
	}
}

// creditAlphabet is the character set of GB 32100-2015 credit codes.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// CreditCode returns a valid unified social credit code (GB 32100-2015) for
// i: registration authority 9 (industry and commerce), type 1 (enterprise),
// division 120116 (Binhai), an organisation code built from i with its GB
// 11714 check character, and the final check character. Distinct i below
// 10^8 give distinct codes.
func CreditCode(i int) string {
	body := fmt.Sprintf("%08d", i%100000000)
	orgWeights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k := range 8 {
		sum += int(body[k]-'0') * orgWeights[k]
	}
	var orgCheck string
	switch c := 11 - sum%11; c {
	case 10:
		orgCheck = "X"
	case 11:
		orgCheck = "0"
	default:
		orgCheck = strconv.Itoa(c)
	}
	code := "91120116" + body + orgCheck
	sum = 0
	for k := range 17 {
		sum += indexOf(code[k]) * creditWeights[k]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return code + string(creditAlphabet[c])
}

// ValidCreditCode reports whether s is an 18-character credit code with a
// correct final check character.
func ValidCreditCode(s string) bool {
	if len(s) != 18 {
		return false
	}
	sum := 0
	for k := range 17 {
		v := indexOf(s[k])
		if v < 0 {
			return false
		}
		sum += v * creditWeights[k]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return s[17] == creditAlphabet[c]
}

func indexOf(b byte) int {
	for k := range len(creditAlphabet) {
		if creditAlphabet[k] == b {
			return k
		}
	}
	return -1
}
