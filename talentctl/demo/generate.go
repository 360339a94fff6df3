package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"talentreg/talentctl/creditcode"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// seed fixes the data set; the report's date.
const seed = 20240614

// member is an entity under construction with what the generator needs to
// know about it beyond the proto.
type member struct {
	pb *registryv1.Entity
	id string
}

// builder holds the state of one generation.
type builder struct {
	r     *rng
	names map[string]bool
	ids   map[string]bool
	codes map[string]bool
	ents  []*member
}

// Generate builds the Binhai 2024 data set. Every call returns equal data.
func Generate() *Dataset {
	b := &builder{r: &rng{s: seed}, names: map[string]bool{}, ids: map[string]bool{}, codes: map[string]bool{}}
	d := &Dataset{
		Programs: []*registryv1.Program{
			{Name: HaiheTalent, DisplayName: "Haihe Talent", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL},
			{Name: KunpengPlan, DisplayName: "Kunpeng Plan", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_DISTRICT},
		},
	}
	b.universities()
	b.organisations(ResearchInstitutes, registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE, instituteForms, []float64{60, 25, 10, 5})
	b.organisations(Incubators, registryv1.EntityKind_ENTITY_KIND_INCUBATOR, incubatorForms, []float64{80, 15, 0, 5})
	b.enterprises()
	b.platforms()
	for _, m := range b.ents {
		d.Entities = append(d.Entities, m.pb)
	}
	consortia, alliances := b.groups(d)
	inConsortium := b.consortiumMembers(consortia)
	b.allianceMembers(alliances, inConsortium)
	for _, g := range append(consortia, alliances...) {
		d.Memberships = append(d.Memberships, b.roster(g)...)
	}
	d.TalentRecords = b.talentRecords(consortia, inConsortium)
	d.Policies, d.Targets = policies(), targets()
	return d
}

// universities adds the real universities.
func (b *builder) universities() {
	for _, u := range universities {
		m := b.add(u.name, registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, u.region, "12", u.division)
		m.pb.Industries = slices.Clone(u.industries)
	}
}

// organisations adds n research institutes or incubators, named by forms,
// spread over the regions by regionShares (in the order of places).
func (b *builder) organisations(n int, kind registryv1.EntityKind, forms []string, regionShares []float64) {
	prefix := "12" // public institution
	if kind == registryv1.EntityKind_ENTITY_KIND_INCUBATOR {
		prefix = "91"
	}
	weights := industryWeights(true)
	for range n {
		p := places[b.r.weighted(regionShares)]
		ind := industries[b.r.weighted(weights)]
		var at string
		name := b.unique(func() string {
			at = pick(b.r, p.prefixes)
			return fmt.Sprintf(pick(b.r, forms), at, ind.label, pick(b.r, tradeNames))
		})
		m := b.add(name, kind, p.region, prefix, p.division(b.r, at))
		m.pb.Industries = b.industries(ind.id, 2)
	}
}

// enterprises adds the enterprises; LeadingEnterprises of them, chosen at
// random, are leading enterprises named as groups.
func (b *builder) enterprises() {
	leading := make([]bool, Enterprises)
	for i := range LeadingEnterprises {
		leading[i] = true
	}
	shuffle(b.r, leading)
	shares := make([]float64, len(places))
	for i, p := range places {
		shares[i] = p.share
	}
	weights := industryWeights(false)
	for i := range Enterprises {
		p := places[b.r.weighted(shares)]
		ind := industries[b.r.weighted(weights)]
		var at string
		name := b.unique(func() string {
			trade, noun := pick(b.r, tradeNames), pick(b.r, ind.nouns)
			at = pick(b.r, p.prefixes)
			switch {
			case leading[i]:
				return fmt.Sprintf("%s %s %s Group Co., Ltd.", at, trade, noun)
			case b.r.chance(0.15):
				at = p.short
				return fmt.Sprintf("%s %s (%s) Co., Ltd.", trade, noun, at)
			case b.r.chance(0.3) && !strings.HasSuffix(noun, "Technology"):
				return fmt.Sprintf("%s %s %s Technology Co., Ltd.", at, trade, noun)
			default:
				return fmt.Sprintf("%s %s %s Co., Ltd.", at, trade, noun)
			}
		})
		m := b.add(name, registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, p.region, "91", p.division(b.r, at))
		m.pb.LeadingEnterprise = leading[i]
		m.pb.Industries = b.industries(ind.id, 2)
	}
}

// platforms flags the future-industry development platforms: universities
// and institutes working in a future industry, and some leading
// enterprises that do too.
func (b *builder) platforms() {
	var academic, leading []*member
	for _, m := range b.ents {
		if !slices.ContainsFunc(m.pb.Industries, isFutureIndustry) {
			continue
		}
		switch {
		case m.pb.Kind == registryv1.EntityKind_ENTITY_KIND_UNIVERSITY || m.pb.Kind == registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE:
			academic = append(academic, m)
		case m.pb.LeadingEnterprise:
			leading = append(leading, m)
		}
	}
	shuffle(b.r, academic)
	shuffle(b.r, leading)
	for _, m := range take(academic, nonEnterprisePlatforms) {
		m.pb.FutureIndustryPlatform = true
	}
	for _, m := range take(leading, leadingPlatforms) {
		m.pb.FutureIndustryPlatform = true
	}
}

// group is a group under construction with its members in joining order.
type group struct {
	pb      *registryv1.Group
	id      string
	field   string
	members []*member
	joined  map[*member]bool
}

// groups makes the consortia and alliances and adds them to d.
func (b *builder) groups(d *Dataset) (consortia, alliances []*group) {
	labels := map[string]string{}
	for _, ind := range industries {
		labels[ind.id] = ind.label
	}
	labels["high-end-equipment"] = "High-End Equipment Manufacturing"
	for _, f := range consortiumFields {
		consortia = append(consortia, &group{id: "consortium-" + f, field: f, joined: map[*member]bool{}, pb: &registryv1.Group{
			Name:        "groups/consortium-" + f,
			DisplayName: "Binhai " + labels[f] + " Industry-Education Integration Consortium",
			Kind:        registryv1.GroupKind_GROUP_KIND_CONSORTIUM,
			Field:       f,
		}})
	}
	for _, f := range allianceFields {
		alliances = append(alliances, &group{id: "alliance-" + f, field: f, joined: map[*member]bool{}, pb: &registryv1.Group{
			Name:        "groups/alliance-" + f,
			DisplayName: "Binhai " + labels[f] + " Industry Talent Alliance",
			Kind:        registryv1.GroupKind_GROUP_KIND_ALLIANCE,
			Field:       f,
		}})
	}
	for _, g := range append(consortia, alliances...) {
		d.Groups = append(d.Groups, g.pb)
	}
	return consortia, alliances
}

// consortiumMembers fills the consortia with exactly ConsortiumMembers
// distinct entities: every university, 70 institutes and incubators and
// enterprises working in a consortium field. It returns the members.
func (b *builder) consortiumMembers(consortia []*group) []*member {
	var unis, others, firms []*member
	for _, m := range b.ents {
		switch m.pb.Kind {
		case registryv1.EntityKind_ENTITY_KIND_UNIVERSITY:
			unis = append(unis, m)
		case registryv1.EntityKind_ENTITY_KIND_ENTERPRISE:
			if slices.ContainsFunc(m.pb.Industries, isConsortiumField) {
				firms = append(firms, m)
			}
		default:
			others = append(others, m)
		}
	}
	shuffle(b.r, others)
	shuffle(b.r, firms)
	const othersIn = 70
	in := append(append(slices.Clone(unis), take(others, othersIn)...), take(firms, ConsortiumMembers-len(unis)-othersIn)...)
	// in starts with the universities: they sit in the most consortia.
	for _, n := range []int{len(in), consortiumSecond, consortiumThird} {
		for _, m := range in[:n] {
			b.join(m, consortia)
		}
	}
	return in
}

// allianceMembers fills the alliances with exactly AllianceMembers distinct
// entities, SharedMembers of them also consortium members.
func (b *builder) allianceMembers(alliances []*group, inConsortium []*member) {
	isIn := map[*member]bool{}
	for _, m := range inConsortium {
		isIn[m] = true
	}
	// Every university of the consortia, then other consortium members.
	shared := slices.Clone(inConsortium[:Universities])
	rest := slices.Clone(inConsortium[Universities:])
	shuffle(b.r, rest)
	shared = append(shared, take(rest, SharedMembers-Universities)...)
	var outside []*member
	for _, m := range b.ents {
		if !isIn[m] {
			outside = append(outside, m)
		}
	}
	shuffle(b.r, outside)
	in := append(shared, take(outside, AllianceMembers-SharedMembers)...)
	// Universities and flagged organisations first: they join the most.
	slices.SortStableFunc(in, func(x, y *member) int { return prominence(y) - prominence(x) })
	for _, n := range []int{len(in), allianceSecond, allianceThird, allianceFourth} {
		for _, m := range in[:n] {
			b.join(m, alliances)
		}
	}
}

// prominence ranks how likely an entity is to sit in many groups.
func prominence(m *member) int {
	switch {
	case m.pb.Kind == registryv1.EntityKind_ENTITY_KIND_UNIVERSITY:
		return 2
	case m.pb.LeadingEnterprise || m.pb.FutureIndustryPlatform:
		return 1
	}
	return 0
}

// join adds m to one group it is not yet in: the first whose field is one
// of m's industries (in m's order), else a random one.
func (b *builder) join(m *member, groups []*group) {
	var free []*group
	for _, g := range groups {
		if !g.joined[m] {
			free = append(free, g)
		}
	}
	if len(free) == 0 {
		panic(fmt.Sprintf("demo: %s is already in every group", m.id))
	}
	g := pick(b.r, free)
	for _, ind := range m.pb.Industries {
		if i := slices.IndexFunc(free, func(g *group) bool { return g.field == ind }); i >= 0 {
			g = free[i]
			break
		}
	}
	g.members = append(g.members, m)
	g.joined[m] = true
}

// roster returns g's memberships ordered by entity id. The lead is the
// first university (consortia) or leading enterprise (alliances) to join,
// else the first member.
func (b *builder) roster(g *group) []*registryv1.Membership {
	lead := g.members[0]
	for _, m := range g.members {
		if m.pb.Kind == registryv1.EntityKind_ENTITY_KIND_UNIVERSITY && g.pb.Kind == registryv1.GroupKind_GROUP_KIND_CONSORTIUM ||
			m.pb.LeadingEnterprise && g.pb.Kind == registryv1.GroupKind_GROUP_KIND_ALLIANCE {
			lead = m
			break
		}
	}
	founded := time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)
	span := int(time.Date(2024, 5, 31, 0, 0, 0, 0, time.UTC).Sub(founded).Hours() / 24)
	out := make([]*registryv1.Membership, 0, len(g.members))
	for _, m := range g.members {
		role := registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER
		joined := founded.AddDate(0, 0, b.r.intn(span))
		if m == lead {
			role, joined = registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD, founded
		}
		out = append(out, &registryv1.Membership{
			Name:     g.pb.Name + "/memberships/" + m.id,
			Entity:   m.pb.Name,
			Role:     role,
			JoinTime: timestamppb.New(joined),
		})
	}
	slices.SortFunc(out, func(x, y *registryv1.Membership) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// talentRecords makes the GATHERED, ASSESSED and CULTIVATED records.
func (b *builder) talentRecords(consortia []*group, inConsortium []*member) []*registryv1.TalentRecord {
	var out []*registryv1.TalentRecord
	seq := map[string]int{}
	add := func(prefix string, category registryv1.TalentCategory, subject string, count int64, program, period string) {
		seq[prefix]++
		out = append(out, &registryv1.TalentRecord{
			Name:     fmt.Sprintf("talentRecords/%s-%05d", prefix, seq[prefix]),
			Subject:  subject,
			Category: category,
			Count:    count,
			Program:  program,
			Period:   period,
		})
	}
	month := func() string { return fmt.Sprintf("2024-%02d", 1+b.r.intn(5)) }

	// GATHERED: entities in Binhai and Tianjin first, larger organisations
	// gathering more; 400 report under both programmes.
	gatherers := slices.Clone(b.ents)
	shuffle(b.r, gatherers)
	slices.SortStableFunc(gatherers, func(x, y *member) int { return local(y) - local(x) })
	gatherers = gatherers[:GatheringEntities]
	type rec struct {
		m       *member
		program string
	}
	var recs []rec
	for i, m := range gatherers {
		var program string
		switch x := b.r.float(); {
		case x < 0.4:
			program = HaiheTalent
		case x < 0.8:
			program = KunpengPlan
		}
		recs = append(recs, rec{m, program})
		if i < GatheredRecords-GatheringEntities {
			second := KunpengPlan
			if program == KunpengPlan {
				second = HaiheTalent
			}
			recs = append(recs, rec{m, second})
		}
	}
	weights := make([]float64, len(recs))
	for i, r := range recs {
		weights[i] = size(r.m) * (0.3 + 3*b.r.float()*b.r.float())
	}
	for i, c := range split(TalentsGathered, weights) {
		add("gathered", registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, recs[i].m.pb.Name, c, recs[i].program, month())
	}

	// ASSESSED: AssessingEntities distinct entities, a second period for
	// some, and two alliances assessing on their own account.
	assessors := slices.Clone(b.ents)
	shuffle(b.r, assessors)
	assessors = assessors[:AssessingEntities]
	subjects := append(slices.Clone(assessors), assessors[:assessedSecond]...)
	weights = make([]float64, len(subjects))
	for i, m := range subjects {
		weights[i] = size(m) * (0.3 + 2*b.r.float())
	}
	groupTotal := int64(0)
	for _, g := range groupAssessed {
		groupTotal += g.count
	}
	for i, c := range split(TalentsAssessed-groupTotal, weights) {
		program := ""
		if b.r.chance(0.3) {
			program = HaiheTalent
		}
		add("assessed", registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, subjects[i].pb.Name, c, program, month())
	}
	for _, g := range groupAssessed {
		add("assessed", registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, "groups/alliance-"+g.field, g.count, "", "2024")
	}

	// CULTIVATED: each consortium, then members, universities first.
	for i, c := range split(groupCultivated, []float64{5, 4, 3, 3}) {
		add("cultivated", registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED, consortia[i].pb.Name, c, KunpengPlan, "2024")
	}
	cultivators := slices.Clone(inConsortium[Universities:])
	shuffle(b.r, cultivators)
	cultivators = append(slices.Clone(inConsortium[:Universities]), cultivators[:cultivatingMembers-Universities]...)
	weights = make([]float64, len(cultivators))
	for i, m := range cultivators {
		weights[i] = size(m) * (0.5 + b.r.float())
	}
	for i, c := range split(TalentsCultivated-groupCultivated, weights) {
		program := ""
		if b.r.chance(0.5) {
			program = KunpengPlan
		}
		add("cultivated", registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED, cultivators[i].pb.Name, c, program, month())
	}
	return out
}

// local ranks Binhai and the rest of Tianjin before Beijing and Hebei.
func local(m *member) int {
	if m.pb.Region == "Binhai" || m.pb.Region == "Tianjin" {
		return 1
	}
	return 0
}

// size weighs an entity's share of talents by what it is.
func size(m *member) float64 {
	switch {
	case m.pb.Kind == registryv1.EntityKind_ENTITY_KIND_UNIVERSITY:
		return 8
	case m.pb.LeadingEnterprise:
		return 10
	case m.pb.Kind == registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE:
		return 3
	}
	return 1
}

// add creates an entity with a fresh id and credit code.
func (b *builder) add(name string, kind registryv1.EntityKind, region, codePrefix, division string) *member {
	id := b.slug(name)
	m := &member{id: id, pb: &registryv1.Entity{
		Name:        "entities/" + id,
		DisplayName: name,
		Kind:        kind,
		CreditCode:  b.creditCode(codePrefix, division),
		Region:      region,
	}}
	b.ents = append(b.ents, m)
	return m
}

// industries returns primary followed by up to n further distinct
// industries.
func (b *builder) industries(primary string, n int) []string {
	out := []string{primary}
	for range b.r.intn(n + 1) {
		if id := pick(b.r, industries).id; !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// unique calls name until it returns an unused display name.
func (b *builder) unique(name func() string) string {
	for range 1000 {
		if n := name(); !b.names[n] {
			b.names[n] = true
			return n
		}
	}
	panic("demo: vocabulary too small for unique names")
}

// slug derives an unused entity id from a display name:
// "Tianjin Binhai Haixin Aerospace Composites Co., Ltd." →
// "tianjin-binhai-haixin-aerospace-composites".
func (b *builder) slug(name string) string {
	name = strings.TrimSuffix(name, " Co., Ltd.")
	var sb strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			sb.WriteRune(c)
			dash = false
		default:
			dash = true
		}
	}
	s := sb.String()
	for len(s) > 60 {
		s = s[:strings.LastIndexByte(s, '-')]
	}
	id := s
	for i := 2; b.ids[id]; i++ {
		id = fmt.Sprintf("%s-%d", s, i)
	}
	b.ids[id] = true
	return id
}

// creditCode returns an unused unified social credit code.
func (b *builder) creditCode(prefix, division string) string {
	for {
		code, err := creditcode.Make(prefix, division, fmt.Sprintf("%08d", b.r.intn(100_000_000)))
		if err != nil {
			panic(err)
		}
		if !b.codes[code] {
			b.codes[code] = true
			return code
		}
	}
}

// industryWeights returns the weight of each industry as a primary
// industry; for institutes and incubators (flat) future industries count
// double and the rest alike.
func industryWeights(flat bool) []float64 {
	w := make([]float64, len(industries))
	for i, ind := range industries {
		switch {
		case !flat:
			w[i] = ind.weight
		case isFutureIndustry(ind.id):
			w[i] = 2
		default:
			w[i] = 1
		}
	}
	return w
}

func isFutureIndustry(id string) bool  { return slices.Contains(FutureIndustries, id) }
func isConsortiumField(id string) bool { return slices.Contains(consortiumFields, id) }

// take returns the first n elements of s, panicking when s is shorter: the
// data set's figures depend on every selection being full.
func take[T any](s []T, n int) []T {
	if len(s) < n {
		panic(fmt.Sprintf("demo: need %d candidates, have %d", n, len(s)))
	}
	return s[:n]
}
